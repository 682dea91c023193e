"""An ONNX export run through onnxruntime behind the interface of the PyTorch model it came from.

`load_onnx_model(folder)` gives an nn.Module whose forward takes the same batch of tensors and
returns the same transformers ModelOutput class and fields, with `.config` and `.device`; so the
tasks' predict code (toolkit/inference.py, qa_spans.py) runs on it unchanged. Imported only when
an ONNX model is exported or loaded, never by `toolkit --help`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    import onnxruntime
    from transformers import PretrainedConfig
    from transformers.utils import ModelOutput

MODEL_FILE = "model.onnx"
OUTPUT_CLASS = "toolkit.output_class"  # ONNX metadata key: the ModelOutput class to return
DEVICES = ("cpu", "cuda")
# Inputs the graph may take that a batch may leave out (a tokenizer without segment ids).
DEFAULTS = {"token_type_ids": torch.zeros_like, "attention_mask": torch.ones_like}


class OnnxModel(torch.nn.Module):
    """An onnxruntime session in the shape of a transformers model (inference only)."""

    def __init__(
        self, session: onnxruntime.InferenceSession, config: PretrainedConfig,
        output_class: type[ModelOutput],
    ) -> None:  # fmt: skip
        super().__init__()
        self.session, self.config, self.output_class = session, config, output_class
        self.input_names = [node.name for node in session.get_inputs()]
        self.output_names = [node.name for node in session.get_outputs()]
        # No weights live in torch: an empty tensor says where inputs go and outputs come back
        # (`next(model.parameters()).device`, as the predict code asks a PyTorch model).
        self.anchor = torch.nn.Parameter(torch.empty(0), requires_grad=False)

    @property
    def device(self) -> torch.device:
        return self.anchor.device

    def forward(self, **batch: torch.Tensor) -> ModelOutput:
        """The graph's outputs on `batch`; keys the graph does not take (labels) are ignored."""
        if "input_ids" not in batch:
            raise ToolkitError("the ONNX model needs input_ids")
        ids = batch["input_ids"]
        feeds = {}
        for name in self.input_names:
            value = batch.get(name)
            if value is None:
                value = DEFAULTS[name](ids) if name in DEFAULTS else None
            if value is None:
                raise ToolkitError(f"the ONNX model needs {name} in its input batch")
            feeds[name] = value.detach().to("cpu", torch.int64).numpy()
        outputs = self.session.run(self.output_names, feeds)
        values = {name: torch.from_numpy(array) for name, array in zip(self.output_names, outputs)}
        return self.output_class(**{k: v.to(self.device) for k, v in values.items()})


def load_onnx_model(folder: Path, device: str = "cpu") -> OnnxModel:
    """The export folder's model.onnx as an OnnxModel on `device` (cpu, or cuda where
    onnxruntime has its CUDA provider), with the folder's config.json as `.config`."""
    from transformers import AutoConfig

    folder = Path(folder)
    if not (folder / MODEL_FILE).is_file():
        raise ToolkitError(f"{folder}: no {MODEL_FILE}; export the run with --format onnx")
    try:
        config = AutoConfig.from_pretrained(str(folder))
    except (OSError, ValueError) as exc:
        raise ToolkitError(f"{folder}/config.json: unreadable ({exc}); export again") from None
    session = open_session(folder / MODEL_FILE, device)
    return OnnxModel(session, config, output_class(session, folder))


def open_session(model_file: Path, device: str) -> onnxruntime.InferenceSession:
    """An InferenceSession using as many threads as torch does (OMP_NUM_THREADS), so the two
    engines compare like for like and a shared machine is not flooded."""
    import onnxruntime

    if device not in DEVICES:
        raise ToolkitError(f"--device: {device!r} is not one of {', '.join(DEVICES)}")
    providers = ["CPUExecutionProvider"]
    if device == "cuda":
        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            raise ToolkitError(
                "--device cuda: this onnxruntime has no CUDA provider (pip install "
                "onnxruntime-gpu); use --device cpu"
            )
        providers.insert(0, "CUDAExecutionProvider")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: not its notes on unused initializers
    try:
        return onnxruntime.InferenceSession(str(model_file), options, providers=providers)
    except Exception as exc:  # onnxruntime's own exception types (InvalidGraph, Fail, ...)
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        raise ToolkitError(f"{model_file}: onnxruntime cannot load it ({first})") from None


def output_class(session: onnxruntime.InferenceSession, folder: Path) -> type[ModelOutput]:
    """The ModelOutput class the export recorded; only transformers' own classes are taken."""
    name = session.get_modelmeta().custom_metadata_map.get(OUTPUT_CLASS, "")
    module, _, qualname = name.rpartition(".")
    if not module.startswith("transformers."):
        raise ToolkitError(f"{folder}/{MODEL_FILE}: not a toolkit export (no {OUTPUT_CLASS})")
    try:
        return getattr(importlib.import_module(module), qualname)
    except (ImportError, AttributeError):
        raise ToolkitError(
            f"{folder}/{MODEL_FILE}: transformers has no {name}; export the run again"
        ) from None
