"""`toolkit augment`: read a table, augment one text column, write originals plus variants.

Every output row keeps the input row's other columns (labels included) and gains `orig_id` (the
input row index) and `method` (`original` for kept originals). Variants identical to their
original, or to an earlier variant of the same row, are dropped and counted.
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from toolkit.augment import check_method, get_method
from toolkit.data import load_table, require_columns
from toolkit.errors import ToolkitError

WRITERS = (".csv", ".jsonl", ".json", ".parquet")


@dataclass
class Summary:
    """What an augmentation run did."""

    rows_in: int
    rows_out: int = 0
    attempted: int = 0
    accepted: int = 0
    edit_total: float = 0.0
    seconds: float = 0.0
    dropped: Counter = field(default_factory=Counter)

    def lines(self) -> list[str]:
        rate = self.accepted / self.attempted if self.attempted else 0.0
        edit = self.edit_total / self.accepted if self.accepted else 0.0
        dropped = ", ".join(f"{k}: {v}" for k, v in self.dropped.items()) or "none"
        speed = self.attempted / self.seconds if self.seconds else float("inf")
        return [
            f"rows in: {self.rows_in}  rows out: {self.rows_out}",
            f"accepted: {self.accepted}/{self.attempted} variants ({rate:.1%})",
            f"mean edit rate: {edit:.3f} of words changed",
            f"dropped: {dropped}",
            f"speed: {speed:,.0f} sentences/s",
        ]


def check_paths(source: Path, out: Path) -> None:
    if out.suffix.lower() not in WRITERS:
        raise ToolkitError(f"--out: {out} must end in one of {', '.join(WRITERS)}")
    if out.resolve() == source.resolve():
        raise ToolkitError(f"--out: {out} is the input file; give another path")


def read_texts(source: Path, column: str):
    """The table and its text column, with empty or non-text rows named."""
    table = load_table(str(source), "input")
    if hasattr(table, "keys"):  # a saved DatasetDict: augment its train split
        if "train" not in table:
            raise ToolkitError(f"input: {source} has no 'train' split (it has {', '.join(table)})")
        table = table["train"]
    require_columns(table, [column], f"input {source}")
    texts = table[column]
    for row, text in enumerate(texts):
        if text is None or (isinstance(text, str) and not text.strip()):
            raise ToolkitError(f"input {source}: row {row} has an empty {column!r}")
        if not isinstance(text, str):
            raise ToolkitError(
                f"input {source}: row {row} has a non-text {column!r} ({type(text).__name__} "
                f"{text!r:.40})"
            )
    return table, texts


def augment_file(
    source: Path, out: Path, method: str, column: str, n: int, seed: int, p: float, originals: bool
) -> Summary:
    """Augment `column` of `source` with a method and write `out` atomically."""
    check_method(method)
    check_paths(source, out)
    table, texts = read_texts(source, column)
    augmenter = get_method(method, p)  # ToolkitError when WordNet is missing
    start = time.perf_counter()
    variants = augmenter.augment(texts, n, random.Random(seed))
    summary = Summary(rows_in=len(texts), seconds=time.perf_counter() - start)
    rows = table.to_pandas()
    index, names, new_texts = collect(texts, variants, originals, method, summary)
    frame = rows.iloc[index].reset_index(drop=True)
    frame[column] = new_texts
    frame["orig_id"], frame["method"] = index, names
    summary.rows_out = len(frame)
    write_atomically(frame, out)
    return summary


def collect(texts, variants, originals, method, summary):
    """Row indices, method names and texts of the output, counting what is dropped and why."""
    index, names, out = [], [], []
    for row, (text, found) in enumerate(zip(texts, variants)):
        if originals:
            index.append(row), names.append("original"), out.append(text)
        seen = {text}
        for variant in found:
            summary.attempted += 1
            if variant.text in seen:
                why = "same as original" if variant.text == text else "duplicate variant"
                summary.dropped[why] += 1
                continue
            seen.add(variant.text)
            summary.accepted += 1
            summary.edit_total += variant.edit_rate
            index.append(row), names.append(method), out.append(variant.text)
    return index, names, out


def write_atomically(frame, out: Path) -> None:
    """Write next to the target, then rename: no partial output file ever exists."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        suffix = out.suffix.lower()
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        elif suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=suffix == ".jsonl", force_ascii=False)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def augment_train(table, column: str, steps, seed: int):
    """The train split plus each recipe step's variants of `column` (originals kept once).

    Returns the new table and the run's Summary; held-out splits are never passed here.
    """
    texts = table[column]
    summary = Summary(rows_in=len(texts))
    index, out = [], []
    start = time.perf_counter()
    for number, step in enumerate(steps):
        variants = get_method(step.method, step.p).augment(
            texts, step.n, random.Random(seed + number)
        )
        rows, _, new_texts = collect(texts, variants, number == 0, step.method, summary)
        index += rows
        out += new_texts
    summary.seconds = time.perf_counter() - start
    augmented = table.select(index).remove_columns([column]).add_column(column, out)
    summary.rows_out = len(augmented)
    return augmented, summary
