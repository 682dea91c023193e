"""`toolkit eval runs/a runs/b ...`: several runs scored on the same split, side by side.

Each run is scored exactly as a single `toolkit eval` (its eval json is written as usual); the
table then lists every headline metric with its bootstrap interval, sorted by `--metric`
(best first). Overlapping intervals are the table's way of saying "not clearly different".
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from toolkit.tasks.base import Task

LOWER_IS_BETTER = ("loss", "perplexity", "ece", "brier")  # sorted ascending; the rest descending


def task_of(target: Path, recipe_path: str | None) -> type[Task]:
    from toolkit.recipe.load import load_recipe
    from toolkit.rundir import RunDir
    from toolkit.tasks.registry import get_task

    return get_task(load_recipe(RunDir(target).open(recipe_path).recipe_file).task.name)


def check_plan(targets: list[Path], recipe_path: str | None, metric: str | None) -> str:
    """One task for all targets, and a metric that task reports; returns the sort metric."""
    tasks = {str(target): task_of(target, recipe_path) for target in targets}
    if len(set(tasks.values())) > 1:
        listing = ", ".join(f"{t} ({task.name})" for t, task in tasks.items())
        raise ToolkitError(f"eval: runs of different tasks cannot share a table: {listing}")
    task = next(iter(tasks.values()))
    known = task.held_out_metrics
    if metric is not None and metric not in known:
        raise ToolkitError(
            f"--metric: {task.name} reports no {metric!r} (its metrics: {', '.join(known)})"
        )
    return metric or known[0]


def compare_runs(
    targets: list[Path], split: str, data: str | None, recipe: str | None, batch_size: int,
    metric: str | None,
) -> tuple[str, list[tuple[Path, dict]]]:  # fmt: skip
    """Score every target; returns the sort metric and (target, metrics) rows, best first."""
    from toolkit.evaluation.scoring import evaluate_target

    key = check_plan(targets, recipe, metric)
    rows = [(t, evaluate_target(t, split, data, recipe, batch_size)[0]) for t in targets]
    worst = float("inf") if key in LOWER_IS_BETTER else float("-inf")
    rows.sort(key=lambda row: row[1].get(key, worst), reverse=key not in LOWER_IS_BETTER)
    return key, rows


def print_comparison(key: str, rows: list[tuple[Path, dict]], title: str) -> None:
    from rich.table import Table

    from toolkit.console import console, headline, with_ci

    columns = list(dict.fromkeys(k for _, m in rows for k in headline(m)))
    table = Table(title=f"{title} (sorted by {key}, 95% bootstrap intervals)")
    table.add_column("run")
    for column in columns:
        table.add_column(column, justify="right")
    short = len({t.name for t, _ in rows}) == len(rows)  # run names suffice when unique
    for number, (target, scores) in enumerate(rows):
        label = target.name if short else str(target)
        name = f"[bold]{label}[/]" if number == 0 else label
        table.add_row(name, *(with_ci(scores, c) if c in scores else "-" for c in columns))
    console.print(table)
