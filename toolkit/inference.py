"""Batched, length-sorted forward passes for held-out scoring (no Trainer, no labels needed)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
    from datasets import Dataset


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16/fp16 autocast on `device` for those precisions; a no-op for fp32."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()


def predict_logits(
    model: torch.nn.Module, tokenized: Dataset, collator: Callable[[list[dict]], dict],
    batch_size: int, precision: str,
) -> np.ndarray:  # fmt: skip
    """Logits for every row, in the dataset's order.

    Rows are sorted by length before batching, so each batch pads to nearly its own length;
    that is most of the speed-up over `Trainer.predict` on short, varied texts.
    """
    import torch

    model.eval()
    device = next(model.parameters()).device
    lengths = [len(ids) for ids in tokenized["input_ids"]]
    order = np.argsort(lengths, kind="stable")[::-1]  # longest first: fail fast on memory
    inputs = set(getattr(collator.tokenizer, "model_input_names", ())) or {
        "input_ids",
        "attention_mask",
    }
    features = tokenized.select_columns([c for c in tokenized.column_names if c in inputs])
    outputs: list[np.ndarray] = [None] * len(order)  # type: ignore[list-item]
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size].tolist()
            batch = collator([features[i] for i in rows])
            batch = {key: value.to(device) for key, value in batch.items()}
            with autocast(device, precision):
                logits = model(**batch).logits
            for row, values in zip(rows, logits.float().cpu().numpy()):
                outputs[row] = values
    return np.stack(outputs)
