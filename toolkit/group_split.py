"""Held-out splits carved by whole groups (`data.group_column`): every value of the column lands
in exactly one split, so rows that nearly repeat each other within a group (verses of one book,
turns of one conversation, reviews of one product) cannot sit on both sides of train and test.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING

from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from datasets import Dataset

    from toolkit.recipe.schema import DataSection

KEY = "data.group_column"


def group_values(train: Dataset, column: str) -> list[str]:
    """The column's value per row, as text; a missing column or value is refused."""
    if column not in train.column_names:
        close = difflib.get_close_matches(column, train.column_names, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}? " if close else ""
        present = ", ".join(train.column_names)
        raise ToolkitError(
            f"{KEY}: column {column!r} not found in data.train; {hint}(columns: {present})"
        )
    values = train[column]
    for row, value in enumerate(values):
        if value is None or not str(value).strip():
            raise ToolkitError(f"{KEY}: row {row + 1} of data.train has no {column!r} value")
    return [str(value) for value in values]


def assign_groups(sizes: dict[str, int], targets: dict[str, int], order: list[str]) -> dict:
    """Split name per group for the held-out splits, taking groups in `order` (shuffled): a group
    joins the split being filled when that brings its row count closer to the target; the
    groups no split takes stay in train."""
    chosen: dict[str, str] = {}
    for name, target in targets.items():
        count = 0
        for group in order:
            if group in chosen:
                continue
            if abs(count + sizes[group] - target) < abs(count - target):
                chosen[group], count = name, count + sizes[group]
    return chosen


def carve_groups(
    train: Dataset, needed: list[str], data: DataSection
) -> tuple[Dataset, dict, list[int]]:
    """`data.carve` by whole groups: the same results (remaining train, per split (table, row
    indices), remaining row indices); sizes come as close to the fractions as groups allow."""
    import numpy as np

    values = group_values(train, data.group_column)
    groups = sorted(set(values))
    sizes = {group: 0 for group in groups}
    for value in values:
        sizes[value] += 1
    order = [groups[i] for i in np.random.default_rng(data.split_seed).permutation(len(groups))]
    targets = {name: max(1, round(getattr(data, f"{name}_size") * len(train))) for name in needed}
    chosen = assign_groups(sizes, targets, order)
    taken = {name: [i for i, v in enumerate(values) if chosen.get(v) == name] for name in needed}
    remaining = [i for i, v in enumerate(values) if v not in chosen]
    empty = [name for name in needed if not taken[name]] + (["train"] if not remaining else [])
    if empty:
        raise ToolkitError(
            f"{KEY}: the {len(groups)} groups of {data.group_column!r} cannot fill the {empty[0]} "
            "split (too few groups, or each larger than its size); give held-out files"
        )
    carved = {name: (train.select(rows), rows) for name, rows in taken.items()}
    return train.select(remaining), carved, remaining
