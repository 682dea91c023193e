"""`toolkit report RUN_A RUN_B ...`: several runs on one self-contained page.

A summary per run, one metrics table (a row per held-out split and metric, a column per run,
each value with its recorded 95% interval, the best of each row of headline metrics in bold),
and the training and validation curves overlaid (one plot per logged metric, a line per run).

Runs of different tasks are refused: their metrics do not line up (accuracy against BLEU), so
the table would compare nothing. Tasks are compared by class, so the aliases of one task
(sentiment, classification) count as the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

from toolkit.atomic import write_text_atomically
from toolkit.errors import ToolkitError
from toolkit.evaluation.compare import LOWER_IS_BETTER
from toolkit.report.data import load_run, report_task
from toolkit.report.markup import GENERATOR, Best, is_metric, note, page, table, with_interval

DEFAULT_OUT = "compare_report.html"  # in the current directory


def write_comparison(run_dirs: Sequence[Path], out: Path | None = None) -> Path:
    """Check the runs, render the page and write it atomically; returns its path."""
    resolved = [Path(r).resolve() for r in run_dirs]
    twice = next((r for i, r in enumerate(resolved) if r in resolved[:i]), None)
    if twice is not None:
        raise ToolkitError(f"{twice}: given twice; give each run once")
    runs = [load_run(Path(r)) for r in run_dirs]  # each refused if it is not a finished run
    headline = same_task(runs)
    target = out if out is not None else Path(DEFAULT_OUT)
    if not target.parent.is_dir():
        raise ToolkitError(f"--out: folder {target.parent} does not exist")
    if out is None and target.exists() and not written_by_report(target):
        raise ToolkitError(f"{target}: exists and is not a toolkit report; pass --out")
    write_text_atomically(target, render_comparison(runs, headline))
    return target


def written_by_report(path: Path) -> bool:
    try:
        return GENERATOR in path.read_text(encoding="utf-8", errors="replace")[:2000]
    except OSError:
        return False


def same_task(runs: list[dict]) -> tuple[str, ...]:
    """The task the runs share (by class; else by the recipe's name), refusing a mix; returns
    the task's headline metrics (those the table marks a best for)."""
    found = {}
    for run in runs:
        task = report_task(run["recipe"], run["config"])
        name = str((run["recipe"].get("task") or {}).get("name"))
        found[str(run["dir"])] = (type(task) if task is not None else name, task)
    if len({kind for kind, _ in found.values()}) > 1:
        names = ", ".join(f"{d} ({getattr(kind, 'name', kind)})" for d, (kind, _) in found.items())
        raise ToolkitError(f"report: runs of different tasks cannot share a page: {names}")
    task = next(iter(found.values()))[1]
    return (*task.held_out_metrics, "loss") if task is not None else ("loss",)


def labels(runs: list[dict]) -> list[str]:
    """Column names: each run's directory name, or its path where names repeat."""
    names = [run["dir"].resolve().name for run in runs]
    return names if len(set(names)) == len(names) else [str(run["dir"]) for run in runs]


def best_of(values: list[float | None], key: str) -> int | None:
    """Index of the best value (lower is better for losses and calibration errors)."""
    present = [(v, i) for i, v in enumerate(values) if v is not None]
    if len(present) < 2:
        return None
    pick = min if key in LOWER_IS_BETTER else max
    return pick(present)[1]


def metrics_table(runs: list[dict], names: list[str], headline: tuple[str, ...]) -> str:
    keys = dict.fromkeys(
        (split, key)
        for run in runs
        for split, scores in run["metrics"].items()
        if split != "train" and isinstance(scores, dict)
        for key, value in scores.items()
        if is_metric(key, value, scores) and with_interval(scores, key) is not None
    )
    rows, attrs = [], []
    for split, key in keys:
        scores = [run["metrics"].get(split) or {} for run in runs]
        cells: list = [with_interval(s, key) or "" for s in scores]
        best = best_of([s.get(key) if cells[i] else None for i, s in enumerate(scores)], key)
        if best is not None and key in headline:
            cells[best] = Best(cells[best])
        rows.append([split, key, *cells])
        attrs.append(f' data-split="{escape(split)}" data-metric="{escape(key)}"')
    lead = note("95% bootstrap intervals where recorded; the best of each headline metric in bold")
    return lead + table(["split", "metric", *names], rows, attrs)


def summary_table(runs: list[dict], names: list[str]) -> str:
    facts = {
        "run": lambda run: str(run["dir"]),
        "model": lambda run: (run["recipe"].get("model") or {}).get("name"),
        "task": lambda run: (run["recipe"].get("task") or {}).get("name"),
        "peft": lambda run: (run["recipe"].get("peft") or {}).get("method"),
        "epochs": lambda run: (run["metrics"].get("train") or {}).get("epoch"),
        "train runtime (s)": lambda run: (run["metrics"].get("train") or {}).get("train_runtime"),
        "trainable parameters": lambda run: (run["metrics"].get("train") or {}).get(
            "trainable_parameters"
        ),
    }
    rows = [[fact, *(get(run) for run in runs)] for fact, get in facts.items()]
    return table(["", *names], rows)


def curves(runs: list[dict], names: list[str]) -> str:
    from toolkit.report.plots import overlay_pictures

    logs = {name: run["log"] for name, run in zip(names, runs) if run["log"]}
    pictures = overlay_pictures(logs) if logs else {}
    if not pictures:
        return note("no run has a log.jsonl with losses or evaluations")
    return "".join(
        f'<img id="overlay-{escape(k)}" alt="{escape(k)}, every run" src="{uri}">'
        for k, uri in pictures.items()
    )


def render_comparison(runs: list[dict], headline: tuple[str, ...]) -> str:
    names = labels(runs)
    sections = {
        "summary": ("Runs", summary_table(runs, names)),
        "metrics": ("Metrics", metrics_table(runs, names, headline)),
        "curves": ("Training and validation curves", curves(runs, names)),
    }
    return page(f"toolkit report: {' vs '.join(names)}", sections)
