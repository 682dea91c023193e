"""Which text of a row each task lets augmentation edit, and how the row is rebuilt afterwards.

- classification, pre-training, causal generation: the text column (labels are kept);
- generation prompt-completion / text-to-text: the prompt, and the completion only when a step
  says `targets: true`;
- translation: the source side only (the reference translation is kept);
- question answering: the context, with every answer span protected; after the edit each answer
  is found again and `answer_start` recomputed, and a row whose answer is gone is dropped.
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


def view_for(task: Any) -> View:
    """The view of a recipe's task section (toolkit/recipe_tasks.py)."""
    name = task.name
    if name in ("classification", "sentiment", "text-classification"):
        return View([Slot(task.text_column)], [], label_column=task.label_column)
    if name == "translation":
        if task.translation_column:
            return View([Slot(task.translation_column, task.source_lang)], [])
        return View([Slot(task.source_column)], [])
    if name in ("question-answering", "qa"):
        return View([Slot(task.context_column)], [], answers_column=task.answers_column)
    if name in ("text-generation", "generation") and task.mode != "causal":
        return View([Slot(task.prompt_column)], [Slot(task.completion_column)])
    return View([Slot(task.text_column)], [])  # causal generation, pre-training


def column_view(column: str, label_column: str | None = None) -> View:
    """The view of `toolkit augment --column C` without a recipe."""
    return View([Slot(column)], [], label_column=label_column)
