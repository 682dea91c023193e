"""Which precision a run trains in: fp32, bf16 or fp16, by device and family."""

from __future__ import annotations

from typing import TYPE_CHECKING

from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from toolkit.models import Family


def resolve_precision(requested: str, family: Family) -> str:
    """Pick fp32/bf16/fp16 for this device and family; refuse combinations known to break."""
    import torch

    cuda = torch.cuda.is_available()
    if requested == "fp16" and not cuda:
        raise ToolkitError("train.precision: fp16 needs a CUDA GPU; use bf16 or fp32 on CPU")
    if requested == "fp16" and family.fp16_overflows:
        raise ToolkitError(
            "train.precision: T5 overflows to NaN in fp16 (a known transformers issue); "
            "use bf16 or fp32"
        )
    if requested != "auto":
        return requested
    if cuda:
        if torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp32" if family.fp16_overflows else "fp16"
    # On CPU, bf16 only pays off with AMX tiles; without them oneDNN's bf16 matmuls are slower
    # than fp32 (measured on this project's AVX-512 machines), so auto stays on fp32 there.
    return "bf16" if cpu_has_fast_bf16() else "fp32"


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def cpu_has_fast_bf16() -> bool:
    import torch

    probe = getattr(torch.cpu, "_is_amx_tile_supported", None)
    return bool(probe and probe())
