"""Texts longer than max_length, for classification (`task.long_text`): keep the start
(`truncate`), the start and the end (`head_tail`), or read all of it in strided windows whose
logits are pooled per document (`windows`).

Every mode tokenizes the whole text once, without truncation, and cuts token positions out of
the result, so lengths are counted for free and each family keeps its own special tokens: the
special-tokens mask tells the leading ones ([CLS]) from the trailing ones ([SEP], T5's </s>).
(transformers 5's fast tokenizers have no `build_inputs_with_special_tokens`/`prepare_for_model`
to rebuild them with.) `truncate` is then exactly the tokenizer's own truncation, and `windows`
its `return_overflowing_tokens=True, stride=...` windows (tests/test_long_text.py checks both).

Under `windows` a tokenized row is a document: each per-token column holds a list of windows.
The collator turns such a row into one row per window; `predict` pools the window logits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from toolkit.errors import ToolkitError
from toolkit.inference import predict_logits
from toolkit.recipe.section import Section
from toolkit.tasks.base import LongTexts

if TYPE_CHECKING:
    import torch
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

    from toolkit.tasks.base import Batch

TOKENS = "text_tokens"  # column: the whole text's length in tokens, special tokens included
PER_TOKEN = ("input_ids", "attention_mask", "token_type_ids")
Window = list[range]  # token positions of the full encoding that make up one model input


class LongTextSettings(Section):
    """What to do with a text longer than max_length (`long_text: windows` is short for
    `long_text: {mode: windows}`)."""

    mode: Literal["truncate", "head_tail", "windows"] = Field(
        "truncate",
        description="truncate: keep the first max_length tokens; head_tail: the first and the "
        "last ones; windows: strided windows over the whole text, logits pooled per document.",
    )
    head: float = Field(
        0.25,
        gt=0,
        le=1,
        description="head_tail: share of the token budget kept from the start (the rest from "
        "the end; Sun et al. 2019 found 128 + 382 of 510 best).",
    )
    stride: int | None = Field(
        None, ge=0, description="windows: tokens shared by consecutive windows (default: half "
        "of max_length, so every token has a window where it sits away from the edges).",
    )  # fmt: skip
    pool: Literal["mean", "max"] = Field(
        "mean", description="windows: how a document's window logits become one row."
    )
    train_windows: Literal["all", "first"] = Field(
        "all",
        description="windows: train on every window of a document (each with its label) or on "
        "its first window only (windows are pooled at evaluation either way).",
    )

    @model_validator(mode="before")
    @classmethod
    def _mode_alone(cls, value: object) -> object:
        return {"mode": value} if isinstance(value, str) else value


def encode(
    texts: list[str], tokenizer: PreTrainedTokenizerBase, max_length: int, how: LongTextSettings
) -> Batch:
    """Token ids of each text as `how` says, with TOKENS; under `windows` a row of windows."""
    full = tokenizer(texts, return_special_tokens_mask=True)  # no truncation: see the docstring
    keys = [key for key in PER_TOKEN if key in full]
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    out: Batch = {key: [] for key in [*keys, TOKENS]}
    for row, mask in enumerate(full["special_tokens_mask"]):
        leading = next((i for i, special in enumerate(mask) if not special), len(mask))
        prefix = min(leading, specials)
        windows = windows_of(len(mask), prefix, specials - prefix, max_length, how)
        for key in keys:
            values = full[key][row]
            cut = [[v for r in window for v in values[r.start : r.stop]] for window in windows]
            out[key].append(cut if how.mode == "windows" else cut[0])
        out[TOKENS].append(len(mask))
    return out


def windows_of(
    length: int, prefix: int, suffix: int, max_length: int, how: LongTextSettings
) -> list[Window]:
    """The model inputs of one encoding of `length` tokens (`prefix` + `suffix` special)."""
    if length <= max_length:
        return [[range(length)]]
    lead, trail = range(prefix), range(length - suffix, length)
    budget, content = max_length - prefix - suffix, length - prefix - suffix
    if how.mode != "windows":
        head = budget if how.mode == "truncate" else max(1, round(budget * how.head))
        end = length - suffix
        return [[lead, range(prefix, prefix + head), range(end - (budget - head), end), trail]]
    stride = max_length // 2 if how.stride is None else how.stride
    if stride >= budget:
        raise ToolkitError(
            f"task.long_text.stride: {stride} leaves no new tokens per window (max_length "
            f"{max_length} less {prefix + suffix} special tokens: use a stride below {budget})"
        )
    windows, start = [], 0
    while True:  # as the tokenizer's overflowing windows: `stride` tokens shared by neighbours
        stop = min(start + budget, content)
        windows.append([lead, range(prefix + start, prefix + stop), trail])
        if stop == content:
            return windows
        start += budget - stride


def size(ids: list) -> int:
    """Tokens of a row: of its windows together, for a row of windows."""
    return sum(len(w) for w in ids) if ids and isinstance(ids[0], list) else len(ids)


def windows_per_row(table: Dataset) -> list[int]:
    return [len(ids) if ids and isinstance(ids[0], list) else 1 for ids in table["input_ids"]]


def count(table: Dataset, max_length: int, mode: str) -> LongTexts:
    """How many rows of a tokenized split were longer than max_length (from TOKENS)."""
    lengths = np.asarray(table[TOKENS] if TOKENS in table.column_names else [], dtype=np.int64)
    windows = sum(windows_per_row(table)) if mode == "windows" else 0
    return LongTexts(len(table), int((lengths > max_length).sum()), max_length, mode, windows)


def training_rows(table: Dataset, first_only: bool) -> Dataset:
    """Rows of windows as training reads them: one row per window, each with its document's
    label (`first_only`: the first window of each document alone)."""

    def explode(batch: Batch) -> Batch:
        out: Batch = {key: [] for key in batch}
        for row, windows in enumerate(batch["input_ids"]):
            for w in range(1 if first_only else len(windows)):
                for key, values in batch.items():
                    out[key].append([values[row][w]] if key in PER_TOKEN else values[row])
        out["length"] = [len(ids[0]) for ids in out["input_ids"]]
        return out

    return table.map(explode, batched=True, desc="one row per window")


def training_view(
    tokenized: dict[str, Dataset], how: LongTextSettings
) -> tuple[dict[str, Dataset], list[int]]:
    """The splits of rows of windows as the Trainer reads them, one window a row (its eval loop
    keeps as many outputs as the dataset has rows), and the windows of each validation document
    (for pooling in `compute_metrics`). The held-out scoring keeps the rows of windows."""
    view = dict(tokenized)
    if "train" in view:
        view["train"] = training_rows(view["train"], how.train_windows == "first")
    if "validation" not in view:
        return view, []
    view["validation"] = training_rows(view["validation"], first_only=False)
    return view, windows_per_row(tokenized["validation"])


def pool(logits: np.ndarray, counts: Sequence[int], how: str) -> np.ndarray:
    """One row per document from its windows' rows (consecutive, `counts[i]` of document i)."""
    starts = np.cumsum([0, *counts[:-1]])
    reduce = np.maximum if how == "max" else np.add
    pooled = reduce.reduceat(np.asarray(logits), starts, axis=0)
    return pooled / np.asarray(counts)[:, None] if how == "mean" else pooled


def first_of_each(values: np.ndarray, counts: Sequence[int]) -> np.ndarray:
    return np.asarray(values)[np.cumsum([0, *counts[:-1]])]


def predict_documents(
    model: torch.nn.Module, tokenized: Dataset, collator: Any, batch_size: int, precision: str,
    how: str,
) -> np.ndarray:  # fmt: skip
    """Pooled logits of every document of a tokenized split of rows of windows."""
    from datasets import Dataset

    counts = windows_per_row(tokenized)
    keys = [key for key in PER_TOKEN if key in tokenized.column_names]
    flat = Dataset.from_dict({key: [w for doc in tokenized[key] for w in doc] for key in keys})
    return pool(predict_logits(model, flat, collator, batch_size, precision), counts, how)


class WindowCollator:
    """Pads a batch of rows; a row of windows becomes one row per window, each with the row's
    label. Columns the model does not read (TOKENS, length) are dropped."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        from transformers import DataCollatorWithPadding

        self.tokenizer = tokenizer  # predict_logits reads the model's input names from it
        self.pad = DataCollatorWithPadding(tokenizer)

    def __call__(self, features: list[dict]) -> dict:
        rows = []
        for feature in features:
            tokens = {key: feature[key] for key in PER_TOKEN if key in feature}
            label = {"labels": feature["labels"]} if "labels" in feature else {}
            ids = tokens["input_ids"]
            if ids and isinstance(ids[0], list):
                rows += [{k: v[w] for k, v in tokens.items()} | label for w in range(len(ids))]
            else:
                rows.append(tokens | label)
        return self.pad(rows)
