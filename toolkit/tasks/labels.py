"""Class labels as classification reads them: one text form per class, whatever the file's type
(1, 1.0, "1" are one class), the rows that hold none, the labels' display order, and confusion
counts of prediction records."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.data import where_row
from toolkit.errors import ToolkitError, shorten

if TYPE_CHECKING:
    from datasets import Dataset

    from toolkit.tasks.base import Record

WHOLE_NUMBER = re.compile(r"[+-]?\d+(\.0*)?")


def label_text(label: Any) -> str | None:
    """The class a label stands for, as text: labels are compared as strings, with ints, bools
    and whole floats in their plain form (1, 1.0, "1" and " 1" are one class; True is "True");
    None for a value that is no class label (a fraction such as 1.5, a list, a dict)."""
    if isinstance(label, (bool, np.bool_)):
        return str(bool(label))
    if isinstance(label, (int, np.integer)):
        return str(int(label))
    if isinstance(label, (float, np.floating)):
        return str(int(label)) if math.isfinite(label) and float(label).is_integer() else None
    if isinstance(label, str):
        text = label.strip()
        return str(int(text.split(".")[0])) if WHOLE_NUMBER.fullmatch(text) else text
    return None


def class_labels(table: Dataset, column: str, where: str) -> list[str]:
    """Every label of `table` in its normal form; a row with an empty label or one that is no
    class label is refused, naming the row as the user counts it."""
    found = []
    for row, label in enumerate(table[column]):
        text = None if is_blank(label) else label_text(label)
        if text is None or not text:
            problem = "empty label" if is_blank(label) or text == "" else (
                f"label {shorten(label)} is not a class label (a string, an int or a whole number)"
            )  # fmt: skip
            raise ToolkitError(f"{where_row(where, row)}: {problem} in column {column!r}")
        found.append(text)
    return found


def is_blank(label: Any) -> bool:
    return label is None or (isinstance(label, float) and math.isnan(label))


def label_order(label: str) -> tuple[int, int, str]:
    """Sort key of label names: whole numbers in numeric order first, then text."""
    return (0, int(label), "") if re.fullmatch(r"[+-]?\d+", label) else (1, 0, label)


def confusion_counts(records: list[Record]) -> tuple[list[list[int]], list[str]]:
    """Rows gold, columns predicted; labels in the model's order, then any others seen."""
    first = records[0].get("probabilities") if records else None
    seen = [str(r.get(k)) for r in records for k in ("label", "prediction")]
    labels = list(dict.fromkeys([*(first if isinstance(first, dict) else {}), *seen]))
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for r in records:
        matrix[index[str(r.get("label"))]][index[str(r.get("prediction"))]] += 1
    return matrix, labels
