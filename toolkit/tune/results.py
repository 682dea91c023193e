"""What a tune leaves: best_recipe.yaml, trials.csv, Optuna's plots (PNG), tune_report.html
(the table and the plots in one file), and the trials table in the terminal."""

from __future__ import annotations

import csv
import html
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
import yaml
from optuna.trial import FrozenTrial, TrialState

from toolkit.atomic import write_text_atomically
from toolkit.console import console
from toolkit.recipe.load import load_recipe
from toolkit.tune.space import trial_raw
from toolkit.tune.tunedir import TuneDir

if TYPE_CHECKING:
    from matplotlib.axes import Axes


@dataclass
class Row:
    """One trial as the table shows it."""

    number: int
    state: str
    value: float | None
    seconds: float | None
    worker: str
    params: dict[str, object]


def write_results(
    study: optuna.Study, tune_dir: TuneDir, base: dict, metric: str, source: str
) -> None:
    rows = [row_of(trial) for trial in study.get_trials(deepcopy=False)]
    best = best_trial(study)
    write_csv(tune_dir.trials_csv, rows)
    if best is not None:
        write_best_recipe(tune_dir, base, best, metric, source)
    pictures = save_plots(study, tune_dir)
    write_text_atomically(tune_dir.report, report_html(study.study_name, rows, pictures, metric))
    print_table(rows, metric, best)
    console.print(f"[bold green]tune[/] {len(rows)} trials; tune directory: {tune_dir.path}")
    if best is None:
        console.print("[bold yellow]no trial completed[/]: no best_recipe.yaml written")
    else:
        console.print(f"best: trial {best.number}, {metric} {best.value:.4f}; train it with "
                      f"`toolkit run {tune_dir.best_recipe}`")  # fmt: skip


def row_of(trial: FrozenTrial) -> Row:
    start, end = trial.datetime_start, trial.datetime_complete
    seconds = (end - start).total_seconds() if start and end else None
    worker = str(trial.user_attrs.get("worker", ""))
    return Row(trial.number, trial.state.name, trial.value, seconds, worker, dict(trial.params))


def best_trial(study: optuna.Study) -> FrozenTrial | None:
    if not study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        return None
    return study.best_trial


def write_csv(path: Path, rows: list[Row]) -> None:
    keys = list(dict.fromkeys(key for row in rows for key in row.params))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "state", "value", "seconds", "worker", *keys])
    for row in rows:
        seconds = "" if row.seconds is None else f"{row.seconds:.1f}"
        value = "" if row.value is None else row.value
        params = [row.params.get(key, "") for key in keys]
        writer.writerow([row.number, row.state, value, seconds, row.worker, *params])
    write_text_atomically(path, out.getvalue())


def write_best_recipe(
    tune_dir: TuneDir, base: dict, best: FrozenTrial, metric: str, source: str
) -> Path:
    """The base recipe with the best trial's values, writing to the recipe's own output.dir:
    `toolkit run best_recipe.yaml` trains the winner. Read back with the loader to be sure."""
    raw = trial_raw(base, best.params, base["output"]["dir"])
    header = (
        f"# toolkit tune: trial {best.number} of {tune_dir.path} ({metric} {best.value:.4f}):\n"
        f"# {source} with {best.params}\n"
    )
    text = header + yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
    write_text_atomically(tune_dir.best_recipe, text)
    load_recipe(tune_dir.best_recipe)
    return tune_dir.best_recipe


def save_plots(study: optuna.Study, tune_dir: TuneDir) -> dict[str, Path]:
    """Optuna's own matplotlib plots, as PNG files in the tune directory, by title."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.exceptions import ExperimentalWarning

    saved = {}
    for title, draw in plots_for(study).items():
        with warnings.catch_warnings():  # every plot says it is experimental; importances
            warnings.simplefilter("ignore", ExperimentalWarning)  # of a few trials, that they
            warnings.simplefilter("ignore", UserWarning)  # may all be equal
            figure = draw(study).figure
        path = tune_dir.path / f"{title.replace(' ', '_')}.png"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # workers may share the dir
        figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
        plt.close(figure)
        os.replace(tmp, path)
        saved[title] = path
    return saved


def plots_for(study: optuna.Study) -> dict[str, Callable[[optuna.Study], Axes]]:
    """The plots the trials so far can draw: importances need two completed trials and a
    parameter that took more than one value."""
    from optuna.visualization import matplotlib as plots

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    wanted = {}
    if complete:
        wanted["optimization history"] = plots.plot_optimization_history
    if any(trial.intermediate_values for trial in study.get_trials(deepcopy=False)):
        wanted["intermediate values"] = plots.plot_intermediate_values
    keys = complete[0].params if complete else {}
    varied = [k for k in keys if len({repr(t.params.get(k)) for t in complete}) > 1]
    if len(complete) >= 2 and varied:
        wanted["parameter importances"] = plots.plot_param_importances
    return wanted


def cells(row: Row, keys: list[str]) -> list[str]:
    value = "" if row.value is None else f"{row.value:.4f}"
    seconds = "" if row.seconds is None else f"{row.seconds:.0f}"
    return [str(row.number), row.state.lower(), value, seconds,
            *(format_param(row.params.get(key)) for key in keys)]  # fmt: skip


def format_param(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def print_table(rows: list[Row], metric: str, best: FrozenTrial | None) -> None:
    from rich.table import Table

    keys = list(dict.fromkeys(key for row in rows for key in row.params))
    table = Table(title=f"trials ({metric}; * best)")
    for name in ["trial", "state", metric, "s", *keys]:
        table.add_column(name, justify="left" if name == "state" else "right")
    for row in rows:
        shown = cells(row, keys)
        if best is not None and row.number == best.number:
            shown[0] = f"*{shown[0]}"
        table.add_row(*shown)
    console.print(table)


def report_html(name: str, rows: list[Row], pictures: dict[str, Path], metric: str) -> str:
    """One self-contained page: the trials table and the plots (embedded PNG)."""
    keys = list(dict.fromkeys(key for row in rows for key in row.params))
    header = "".join(f"<th>{html.escape(h)}</th>" for h in ["trial", "state", metric, "s", *keys])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells(row, keys)) + "</tr>"
        for row in rows
    )
    from toolkit.report.plots import png_uri

    images = "".join(
        f"<h2>{html.escape(title)}</h2><img alt='{html.escape(title)}' "
        f"src='{png_uri(path.read_bytes())}'>"
        for title, path in pictures.items()
    )
    style = "body{font-family:sans-serif;margin:2em}td,th{padding:2px 8px;text-align:right}"
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>tune {html.escape(name)}"
        f"</title><style>{style}</style></head><body><h1>toolkit tune: {html.escape(name)}</h1>"
        f"<table><tr>{header}</tr>{body}</table>{images}</body></html>\n"
    )
