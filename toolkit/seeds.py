"""`toolkit run --seeds N`: the same recipe trained N times, and the spread of its metrics.

Only the training seed changes (weights init of new heads, shuffling, dropout): the held-out
split stays the one `data.split_seed` carves, so the spread is the training noise a single run
hides. Runs go to `<output.dir>/seed-<k>/`; `<output.dir>/seeds.json` holds mean ± std of every
scalar metric of every held-out split.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.atomic import write_text_atomically
from toolkit.console import console, headline
from toolkit.rundir import RunDir

if TYPE_CHECKING:
    from toolkit.recipe.schema import Recipe


def run_seeds(
    recipe: Recipe, count: int, overwrite: bool, resume: bool, processes: int,
    recipe_file: Path | None = None,
) -> Path:  # fmt: skip
    """Train `count` runs (seeds train.seed, +1, ...) and write their summary."""
    from toolkit.launch import is_main_process
    from toolkit.train import run

    root = RunDir(recipe.output.dir)
    main = is_main_process()
    inputs = recipe.local_inputs(recipe_file)
    with root.claim(inputs, overwrite or resume, kind="seeds", hold=main):
        if main:
            root.write_marker("seeds")
        runs = []
        for offset in range(count):
            seeded = recipe.model_copy(deep=True)
            seeded.train.seed = recipe.train.seed + offset
            done = root.seed_run(seeded.train.seed)
            seeded.output.dir = str(done.path)
            if not (resume and done.metrics.is_file()):  # else finished before the interruption
                console.print(f"[bold]seed {seeded.train.seed}[/] ({offset + 1} of {count})")
                run(seeded, overwrite, resume=resume, processes=processes, recipe_file=recipe_file)
            runs.append(done)
        summary = summarize([json.loads(r.metrics.read_text()) for r in runs])
        summary["runs"] = [str(r.path) for r in runs]
        write_json(root.seeds_summary, summary)
    print_spread(summary)
    return root.path


def summarize(all_metrics: list[dict]) -> dict:
    """Per split and scalar metric: mean, sample std (0 for one run) and the values."""
    out: dict[str, Any] = {}
    for split in all_metrics[0]:
        keys = headline(all_metrics[0][split])
        out[split] = {}
        for key in keys:
            values = [float(m[split][key]) for m in all_metrics if key in m.get(split, {})]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            out[split][key] = {"mean": statistics.fmean(values), "std": spread, "values": values}
    return out


def write_json(path: Path, content: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomically(path, json.dumps(content, indent=1) + "\n")


def print_spread(summary: dict) -> None:
    from rich.table import Table

    table = Table(title=f"mean ± std over {len(summary['runs'])} seeds")
    for column in ("split", "metric", "mean ± std"):
        table.add_column(column)
    for split, scores in summary.items():
        if split in ("runs", "train"):
            continue
        for key, stats in scores.items():
            table.add_row(split, key, f"{stats['mean']:.4g} ± {stats['std']:.2g}")
    console.print(table)
