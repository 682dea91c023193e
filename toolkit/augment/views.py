"""Which text of a row augmentation may edit, and how the row is rebuilt afterwards.

Each task says which of its columns make its view (`Task.augment_view`): classification keeps
the label; translation edits the source side only; generation edits the prompt, and the
completion only for steps with `targets: true`; question answering edits the context with every
answer span protected, and afterwards finds each answer again and recomputes `answer_start` (a
row whose answer is gone is dropped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Span = tuple[int, int]


@dataclass(frozen=True)
class Slot:
    """One editable text field: a column, or one language of a translation-dict column."""

    column: str
    key: str | None = None  # the language inside a {lang: text} column

    @property
    def label(self) -> str:
        return f"{self.column}.{self.key}" if self.key else self.column

    def get(self, row: dict) -> Any:
        value = row[self.column]
        return value.get(self.key) if self.key and isinstance(value, dict) else value

    def put(self, row: dict, text: str) -> dict:
        new = dict(row)
        new[self.column] = {**row[self.column], self.key: text} if self.key else text
        return new


@dataclass
class View:
    """The editable slots of a task's rows, plus QA's answer bookkeeping."""

    inputs: list[Slot]
    targets: list[Slot]
    answers_column: str | None = None  # QA: spans protected in the first input slot
    label_column: str | None = None  # classification: what a filter model must predict

    def slots(self, step: Any) -> list[Slot]:
        return self.inputs + (self.targets if getattr(step, "targets", False) else [])

    def protected(self, row: dict, slot: Slot) -> list[Span]:
        """Character spans of `slot` in `row` that edits must leave alone (QA answers)."""
        if not self.answers_column or slot != self.inputs[0]:
            return []
        answers = row[self.answers_column] or {}
        return [
            (start, start + len(text))
            for text, start in zip(answers.get("text", []), answers.get("answer_start", []))
        ]

    def reanchor(self, new: dict, old: dict) -> dict | None:
        """QA: the row with each answer's start found in the new context; None if one is lost."""
        if not self.answers_column:
            return new
        answers = old[self.answers_column] or {}
        context, before = self.inputs[0].get(new), self.inputs[0].get(old)
        starts = []
        for text, start in zip(answers.get("text", []), answers.get("answer_start", [])):
            found = find_again(context, text, occurrence(before, text, start))
            if found is None:
                return None
            starts.append(found)
        new[self.answers_column] = {**answers, "answer_start": starts}
        return new


def occurrence(context: str, text: str, start: int) -> int:
    """Which occurrence of `text` in `context` starts at `start` (0 for the first)."""
    return context.count(text, 0, start) if text else 0


def find_again(context: str, text: str, nth: int) -> int | None:
    """Start of the nth occurrence of `text` (the last one when there are fewer); None if none."""
    starts, at = [], context.find(text)
    while at != -1 and len(starts) <= nth:
        starts.append(at)
        at = context.find(text, at + 1)
    return starts[min(nth, len(starts) - 1)] if starts else None


def column_view(column: str, label_column: str | None = None) -> View:
    """The view of `toolkit augment --column C` without a recipe."""
    return View([Slot(column)], [], label_column=label_column)
