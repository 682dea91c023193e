"""The report's tuning section: what `toolkit tune` left in a tune directory (trials.csv,
best_recipe.yaml, its plots), shown for a run that came from one.

A run came from a tune directory when it is one of its trials (`<tune dir>/trial_NNN`), or when
it is the run its best recipe trains: best_recipe.yaml keeps the base recipe's output.dir, whose
default tune directory is `<output.dir>-tune` beside it. `toolkit report TUNE_DIR` reports the
best trial's run, with this section.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from toolkit.errors import ToolkitError
from toolkit.report.markup import Best, Num, note, table, text
from toolkit.rundir import RunDir
from toolkit.tune.tunedir import TuneDir

# best_recipe.yaml's first line (tune/results.py write_best_recipe)
BEST_LINE = re.compile(r"# toolkit tune: trial (\d+) of .* \((\S+) (\S+)\):")


def tune_dir_of(run_dir: Path) -> TuneDir | None:
    """The tune directory `run_dir` came from (see the module docstring), or None."""
    run = RunDir(run_dir).path.resolve()
    for place in (run.parent, run.with_name(f"{run.name}-tune")):
        if TuneDir(place).marker.is_file():
            return TuneDir(place)
    return None


def best_of(tune_dir: TuneDir) -> tuple[int, str, str] | None:
    """(trial number, metric, value) of the best trial, from best_recipe.yaml's header."""
    if not tune_dir.best_recipe.is_file():
        return None
    with tune_dir.best_recipe.open(encoding="utf-8") as handle:
        found = BEST_LINE.match(handle.readline())
    return (int(found.group(1)), found.group(2), found.group(3)) if found else None


def report_target(path: Path) -> Path:
    """The run `toolkit report PATH` reports: PATH itself, or for a tune directory its best
    trial's run (a ToolkitError when no trial completed or its run is gone)."""
    tune_dir = TuneDir(path)
    if not tune_dir.marker.is_file():
        return path
    best = best_of(tune_dir)
    if best is None:
        raise ToolkitError(
            f"{path}: a tune directory with no best trial (no {tune_dir.best_recipe.name})"
        )
    run = tune_dir.trial(best[0])
    if not run.metrics.is_file():
        raise ToolkitError(f"{path}: the best trial's run {run.path} is missing or unfinished")
    return run.path


def read_trials(tune_dir: TuneDir) -> tuple[list[str], list[list[str]]]:
    if not tune_dir.trials_csv.is_file():
        return [], []
    with tune_dir.trials_csv.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    return (rows[0], rows[1:]) if rows else ([], [])


def trial_cells(header: list[str], row: list[str], best: int | None) -> list:
    """A trials.csv row as cells: numbers right-aligned, the best trial's value bold."""
    cells: list = []
    for key, value in zip(header, row):
        try:
            float(value)
            shown: object = Num(text(value))
        except ValueError:
            shown = value
        if key == "value" and best is not None and row[0] == str(best) and value:
            shown = Best(text(value))
        cells.append(shown)
    return cells


def tuning_section(run_dir: Path) -> str:
    from toolkit.report.plots import png_uri

    tune_dir = tune_dir_of(run_dir)
    if tune_dir is None:
        return note("not a tuned run (no tune directory beside or above it; see `toolkit tune`)")
    best = best_of(tune_dir)
    header, rows = read_trials(tune_dir)
    run = RunDir(run_dir).path.resolve()
    role = (
        f"trial {run.name}"
        if run.parent == tune_dir.path.resolve()
        else "trained from its best recipe"
    )
    lead = f"tune directory {tune_dir.path} (this run: {role})"
    if best is not None:
        lead += f"; best: trial {best[0]}, {best[1]} {best[2]}"
    parts = [note(lead)]
    if rows:
        number = best[0] if best else None
        parts.append(table(header, [trial_cells(header, row, number) for row in rows]))
    else:
        parts.append(note("no trials.csv in the tune directory"))
    for picture in sorted(tune_dir.path.glob("*.png")):
        title = picture.stem.replace("_", " ")
        parts.append(
            f'<h3>{text(title)}</h3><img alt="{text(title)}" src="{png_uri(picture.read_bytes())}">'
        )
    return "".join(parts)
