"""The augmentation pipeline behind `toolkit augment` and a recipe's `augment` section.

Per step: the task view says which text of a row may change (toolkit/augment/views.py), the
method makes `n` variants of it, and a variant is dropped, and counted, when it equals its
original or an earlier variant, loses a QA answer, nearly duplicates a held-out text, or has its
label flipped by a filter model. Each step's result is cached on disk (toolkit/augment/cache.py).
Every output row carries `orig_id` (its input row) and `method` (`original` for the originals).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from toolkit.augment import cache, get_method
from toolkit.augment.near_duplicates import HeldOutIndex
from toolkit.augment.views import View
from toolkit.data import where_row
from toolkit.errors import ToolkitError


@dataclass
class StepReport:
    """What one step did."""

    method: str
    attempted: int = 0
    accepted: int = 0
    edit_total: float = 0.0
    seconds: float = 0.0
    dropped: dict = field(default_factory=Counter)
    cached: bool = False

    def line(self) -> str:
        rate = self.accepted / self.attempted if self.attempted else 0.0
        edit = self.edit_total / self.accepted if self.accepted else 0.0
        dropped = ", ".join(f"{k} {v}" for k, v in self.dropped.items() if v) or "none"
        speed = (
            f"cache hit ({self.seconds:.2f} s)"
            if self.cached
            else f"{self.attempted / max(self.seconds, 1e-9):,.0f} variants/s"
        )
        return (
            f"{self.method}: accepted {self.accepted:,}/{self.attempted:,} ({rate:.1%}), mean "
            f"edit rate {edit:.3f}; dropped: {dropped}; {speed}"
        )


@dataclass
class Summary:
    """What an augmentation run did: rows in/out and one report per step."""

    rows_in: int
    rows_out: int = 0
    steps: list[StepReport] = field(default_factory=list)

    def lines(self) -> list[str]:
        return [f"rows in: {self.rows_in:,}  rows out: {self.rows_out:,}"] + [
            s.line() for s in self.steps
        ]


def check_rows(rows: list[dict], view: View, steps: list, where: str) -> None:
    """Every editable text is a non-empty string; filter models only where labels exist."""
    slots = {slot for step in steps for slot in view.slots(step)}
    for slot in slots:
        for number, row in enumerate(rows):
            text = slot.get(row)
            if text is None or (isinstance(text, str) and not text.strip()):
                raise ToolkitError(f"{where_row(where, number)}: empty {slot.label!r}")
            if not isinstance(text, str):
                kind = type(text).__name__
                raise ToolkitError(
                    f"{where_row(where, number)}: non-text {slot.label!r} ({kind} {text!r:.40})"
                )
    if any(step.filter_model for step in steps):
        if view.label_column is None:
            raise ToolkitError("augment: filter_model needs a classification task (labelled rows)")
        if rows and view.label_column not in rows[0]:
            raise ToolkitError(f"{where}: no label column {view.label_column!r} for filter_model")


def augment_rows(
    rows: list[dict],
    view: View,
    steps: list,
    seed: int,
    held_out: list[str] | None = None,
    originals: bool = True,
    use_cache: bool = True,
) -> tuple[list[dict], Summary]:
    """The rows (originals first, if kept) plus every step's accepted variants."""
    summary = Summary(rows_in=len(rows))
    out = [{**row, "orig_id": i, "method": "original"} for i, row in enumerate(rows)]
    out = out if originals else []
    seen = {(i, texts_of(row, view.inputs + view.targets)) for i, row in enumerate(rows)}
    held_out = held_out or []
    data = cache.data_digest(rows, held_out, view) if use_cache else None  # once, not per step
    for number, step in enumerate(steps):
        made, report = run_step(rows, view, step, seed + number, held_out, data)
        for item in made:  # a later step may repeat an earlier step's variant
            mark = (item["orig_id"], texts_of(item["row"], view.inputs + view.targets))
            if mark in seen:
                report.accepted -= 1
                report.edit_total -= item["edit"]
                report.dropped["duplicate variant"] = report.dropped.get("duplicate variant", 0) + 1
                continue
            seen.add(mark)
            out.append({**item["row"], "orig_id": item["orig_id"], "method": step.method})
        summary.steps.append(report)
    summary.rows_out = len(out)
    return out, summary


def texts_of(row: dict, slots: list) -> tuple:
    return tuple(slot.get(row) for slot in slots)


def run_step(rows, view, step, seed, held_out, data) -> tuple[list[dict], StepReport]:
    """One step's accepted variants, from the cache when nothing it depends on changed
    (`data`: the run's `cache.data_digest`, None without the cache)."""
    start = time.perf_counter()
    key = cache.step_key(data, step, seed) if data else None
    entry = cache.load(key) if key else None
    if entry is not None:
        report = StepReport(**{**entry["report"], "cached": True})
        report.dropped = Counter(report.dropped)
        report.seconds = time.perf_counter() - start
        return entry["made"], report
    made, report = make_variants(rows, view, step, seed, held_out)
    report.seconds = time.perf_counter() - start
    if key:
        cache.store(
            key, {"made": made, "report": {**vars(report), "dropped": dict(report.dropped)}}
        )
    return made, report


def make_variants(rows, view, step, seed, held_out) -> tuple[list[dict], StepReport]:
    """Run the method over the step's slots and keep the variants that pass every check."""
    method, rng = get_method(step), random.Random(seed)
    slots = view.slots(step)
    variants = {}
    for slot in slots:
        spans = [view.protected(row, slot) for row in rows] if method.protects_spans else None
        variants[slot] = method.augment([slot.get(r) for r in rows], step.n, rng, spans)
    report, made = StepReport(step.method), []
    index = HeldOutIndex(held_out) if held_out else None
    for i, row in enumerate(rows):
        seen = {texts_of(row, slots)}
        for k in range(step.n):
            report.attempted += 1
            new, edits = row, []
            for slot in slots:
                new = slot.put(new, variants[slot][i][k].text)
                edits.append(variants[slot][i][k].edit_rate)
            new, reason = checked(new, row, seen, view, slots, index)
            if reason:
                report.dropped[reason] += 1
                continue
            made.append({"orig_id": i, "row": new, "edit": sum(edits) / len(edits)})
    made = filter_labels(made, rows, view, step, report)
    report.accepted = len(made)
    report.edit_total = sum(item["edit"] for item in made)
    return made, report


def checked(new, row, seen, view, slots, index) -> tuple[dict, str | None]:
    """The variant (QA answers re-anchored) and why it is dropped, None if kept."""
    texts = texts_of(new, slots)
    if texts == texts_of(row, slots):
        return new, "same as original"
    if texts in seen:
        return new, "duplicate variant"
    seen.add(texts)
    anchored = view.reanchor(new, row)
    if anchored is None:
        return new, "answer lost"
    if index is not None and index.is_near(view.inputs[0].get(anchored)):
        return anchored, "near-duplicate of held-out text"
    return anchored, None


def filter_labels(made: list[dict], rows, view, step, report: StepReport) -> list[dict]:
    """Drop the variants whose label the step's filter model predicts differently."""
    if not step.filter_model or not made:
        return made
    from toolkit.augment.label_filter import LabelFilter

    where = f"augment ({step.method}) filter_model"
    judge = LabelFilter(step.filter_model, where, getattr(step, "trust_remote_code", False))
    texts = [view.inputs[0].get(item["row"]) for item in made]
    labels = [rows[item["orig_id"]][view.label_column] for item in made]
    keep = judge.agrees(texts, labels)
    report.dropped["label flipped"] += keep.count(False)
    return [item for item, ok in zip(made, keep) if ok]


def augment_table(
    table: Any, view: View, steps: list, seed: int, held_out: list[str], where: str = "data.train"
):
    """`toolkit run`: the train split plus its variants, as a Dataset of the same features."""
    from datasets import Dataset

    rows = table.to_list()
    check_rows(rows, view, steps, where)  # `where` numbers rows as the user counts them
    out, summary = augment_rows(rows, view, steps, seed, held_out)
    kept = [{k: v for k, v in row.items() if k not in ("orig_id", "method")} for row in out]
    return Dataset.from_list(kept, features=table.features), summary
