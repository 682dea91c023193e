"""`toolkit report`: one self-contained HTML page per run directory.

Everything comes from what the run left behind (metrics.json, recipe.yaml, log.jsonl,
predictions/test.jsonl, model/config.json); pictures are PNG data URIs, the style is inline and
there is no script, so the file can be mailed or archived alone. Every text from the data or the
recipe is escaped. Sections have stable ids: summary, metrics, curves, confusion, errors,
samples, explanation, recipe, versions.
"""

from __future__ import annotations

import importlib
import json
import time
from html import escape
from pathlib import Path
from typing import Any

from toolkit.atomic import write_text_atomically
from toolkit.errors import ToolkitError
from toolkit.report.data import (
    confidences,
    interval,
    is_number,
    load_run,
    read_jsonl,
    report_task,
)
from toolkit.rundir import RunDir
from toolkit.tasks.base import ReportPieces, Task

SECTIONS = {
    "summary": "Summary", "metrics": "Metrics", "curves": "Training curves",
    "confusion": "Confusion matrix and reliability", "errors": "Worst errors", "samples": "Samples",
    "explanation": "Explanation", "probes": "Robustness and fairness", "recipe": "Recipe",
    "versions": "Versions",
}  # fmt: skip
MAX_ERRORS, MAX_SAMPLES, MAX_TEXT = 20, 10, 600
CSS = """
body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:0 auto;padding:1em 2em;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table.r{border-collapse:collapse;margin:.5em 0}.r td,.r th{border:1px solid #ddd;
padding:.25em .6em;vertical-align:top;text-align:left}.r th{background:#f4f4f4}.r td.num{
text-align:right;font-variant-numeric:tabular-nums}pre{background:#f7f7f7;padding:.8em;overflow:auto}
img{max-width:100%;display:block;margin:.5em 0}.note{color:#777}nav a{margin-right:.8em}
.pair{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.pair img{min-width:0}
"""


def write_report(run_dir: Path | str, out: Path | str | None = None, explain: bool = True) -> Path:
    """Write the report (default RUN/report.html) atomically and return its path."""
    run_dir = Path(run_dir)
    run = load_run(run_dir)
    target = Path(out) if out is not None else RunDir(run_dir).report
    if not target.parent.is_dir():
        raise ToolkitError(f"--out: folder {target.parent} does not exist")
    page = render(run, explain)
    write_text_atomically(target, page)
    return target


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """Any value as escaped text, cut to `limit` characters."""
    if value is None:
        return ""
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return escape(shown if len(shown) <= limit else shown[: limit - 1] + "…")


class Num(str):
    """A formatted number (safe HTML): its table cell is right-aligned."""


def number(value: float) -> Num:
    return Num(f"{value:,}" if isinstance(value, int) else f"{value:.4g}")


def cell(value: Any) -> str:
    if isinstance(value, Num) or is_number(value):
        return f'<td class="num">{value if isinstance(value, Num) else number(value)}</td>'
    return f"<td>{text(value)}</td>"


def table(header: list[str], rows: list[list], attrs: list[str] | None = None) -> str:
    """Raw values in, escaped HTML out; numbers are right-aligned."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(cell(value) for value in row)
        body.append(f"<tr{attrs[i] if attrs else ''}>{cells}</tr>")
    head = f"<thead><tr>{head}</tr></thead>" if any(header) else ""
    return f'<table class="r">{head}<tbody>{"".join(body)}</tbody></table>'


def note(message: str) -> str:
    return f'<p class="note">{escape(message)}</p>'


def metrics_section(run: dict) -> str:
    rows, attrs = [], []
    for split, scores in run["metrics"].items():
        if not isinstance(scores, dict):
            continue
        for key, value in scores.items():
            is_ci = key.endswith("_ci") and key[:-3] in scores
            if key == "ci" or is_ci or isinstance(value, (dict, list)) or value is None:
                continue
            bounds = interval(scores, key) if is_number(value) else None
            if bounds is not None:
                value = Num(f"{number(value)} [{bounds[0]:.4g}, {bounds[1]:.4g}]")
            rows.append([split, key, value])
            attrs.append(f' data-split="{escape(split)}" data-metric="{escape(key)}"')
    html = table(["split", "metric", "value [95% CI when recorded]"], rows, attrs)
    per_class = (run["metrics"].get("test") or {}).get("per_class")
    if isinstance(per_class, dict) and per_class:
        keys = ("precision", "recall", "f1", "support")
        cells = [
            [label, *map(row.get, keys)]
            for label, row in per_class.items()
            if isinstance(row, dict)
        ]
        html += "<h3>Test, per class</h3>" + table(
            ["label", "precision", "recall", "F1", "support"], cells
        )
    return html


def summary_section(run: dict) -> str:
    recipe, config = run["recipe"], run["config"]
    train = run["metrics"].get("train") or {}
    model, task = recipe.get("model") or {}, recipe.get("task") or {}
    runtime = train.get("train_runtime")
    facts = {
        "run": str(run["dir"]),
        "model": model.get("name"),
        "task": task.get("name"),
        "model type": config.get("model_type"),
        "architecture": ", ".join(config.get("architectures") or []) or None,
        "family": train.get("family"),
        "parameters": train.get("parameters"),
        "trainable parameters": train.get("trainable_parameters"),
        "peft": (recipe.get("peft") or {}).get("method"),
        "precision": train.get("precision"),
        "epochs": train.get("epoch"),
        "train runtime": f"{runtime:.1f} s" if isinstance(runtime, (int, float)) else None,
        "train samples/s": train.get("train_samples_per_second"),
        "report written": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    rows = [[k, v] for k, v in facts.items() if v is not None]
    return table(["", ""], rows)


def curves_section(run: dict) -> str:
    from toolkit.report.plots import curve_pictures

    if not run["log"]:
        return note("no log.jsonl in this run: no curves")
    pictures = curve_pictures(run["log"])
    if not pictures:
        return note("log.jsonl records no loss or learning rate")
    return "".join(
        f'<img id="curve-{k}" alt="{k} curve" src="{uri}">' for k, uri in pictures.items()
    )


NO_TASK = "the run's recipe names no task this toolkit knows: no task-specific sections"


def confusion_section(run: dict, pieces: ReportPieces | None) -> str:
    """The confusion matrix and, beside it, the reliability diagram of the test records' class
    probabilities (both classification only: records of other tasks carry no probabilities)."""
    from toolkit.report.plots import confusion_picture, reliability_picture

    images = []
    if pieces is not None and pieces.confusion is not None:
        uri = confusion_picture(*pieces.confusion)
        images.append(f'<img id="confusion-matrix" alt="confusion matrix of the test split" '
                      f'src="{uri}">')  # fmt: skip
    found = confidences(run["predictions"])
    if found is not None:
        uri = reliability_picture(*found)
        images.append(f'<img id="reliability-diagram" alt="reliability diagram of the test '
                      f'split" src="{uri}">')  # fmt: skip
    if not images:
        return note("not a classification run")
    return f'<div class="pair">{"".join(images)}</div>'


def errors_section(run: dict, pieces: ReportPieces | None) -> str:
    if not run["predictions"]:
        return note("no predictions/test.jsonl in this run")
    if pieces is None:
        return note(NO_TASK)
    rows = pieces.errors[:MAX_ERRORS]
    return note(pieces.errors_lead) + (table(pieces.errors_header, rows) if rows else "")


def samples_section(pieces: ReportPieces | None) -> str:
    if pieces is None or not pieces.samples_header:
        return note("no generated text in this run's predictions")
    return table(pieces.samples_header, pieces.samples[:MAX_SAMPLES])


def explanation_section(
    run: dict, task: Task | None, pieces: ReportPieces | None, enabled: bool
) -> str:
    """Optional: the first test row through `toolkit.explain` (`explain_text`, then
    `render_html`, whose fragment escapes its own text), when that module is installed."""
    if not enabled:
        return note("explanation not asked for (--no-explain)")
    try:
        explain = importlib.import_module("toolkit.explain")
    except ImportError:
        return note("no explanation: toolkit.explain is not installed")
    explained = task is not None and task.capabilities().explain is not None
    inputs = pieces.explain if explained and pieces is not None else None
    if inputs is None:
        return note("explanations cover classification and extractive QA test rows")
    from toolkit.console import quiet_libraries  # no load reports or progress bars in the way

    try:
        quiet_libraries()
        return explain.render_html(explain.explain_text(run["dir"], *inputs))
    except Exception as exc:  # an optional add-on must not cost the user the whole report
        return note(f"explanation failed: {type(exc).__name__}: {exc}")


def probes_section(run: dict) -> str:
    """What `toolkit eval --perturb/--fairness` stored in RUN/eval/*.json, if anything."""
    perturbed, fair = [], []
    for path in RunDir(run["dir"]).eval_results():
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        for name, found in (result.get("perturb") or {}).items():
            if isinstance(found, dict) and "flip_rate" in found:
                rows = f"{found.get('edited', '')}/{found.get('rows', '')}"
                perturbed.append([path.stem, name, rows, found.get("flip_rate")])
        groups = (result.get("fairness") or {}).get("groups") or {}
        for group, stats in groups.items():
            fair.append([path.stem, group, stats.get("pairs"), stats.get("flip_rate"),
                         stats.get("mean_abs_gap"), stats.get("signed_gap")])  # fmt: skip
    if not (perturbed or fair):
        return note("no --perturb or --fairness results in eval/ (see `toolkit eval --help`)")
    parts = []
    if perturbed:
        parts.append(table(["eval", "perturbation", "edited rows", "flip rate"], perturbed))
    if fair:
        header = ["eval", "group", "pairs", "flip rate", "mean |ΔP|", "signed ΔP"]
        parts.append(table(header, fair))
    return "".join(parts)


def versions_section(run: dict) -> str:
    from toolkit.report.training import library_versions

    recorded = (run["metrics"].get("train") or {}).get("versions")
    if isinstance(recorded, dict) and recorded:
        rows = [[name, str(version)] for name, version in recorded.items()]
        return note("recorded when the run trained") + table(["library", "version"], rows)
    rows = [[name, version] for name, version in library_versions().items()]
    return note("of the environment that wrote this report (the run recorded none)") + table(
        ["library", "version"], rows
    )


def render(run: dict, explain: bool = True) -> str:
    task = report_task(run["recipe"], run["config"])
    rows = read_jsonl(RunDir(run["dir"]).split_file("test"))[:1]  # QA explains a recorded row
    pieces = task.report(run["predictions"], rows) if task is not None else None
    bodies = {
        "summary": summary_section(run),
        "metrics": metrics_section(run),
        "curves": curves_section(run),
        "confusion": confusion_section(run, pieces),
        "errors": errors_section(run, pieces),
        "samples": samples_section(pieces),
        "explanation": explanation_section(run, task, pieces, explain),
        "probes": probes_section(run),
        "recipe": f"<pre>{escape(run['recipe_text'])}</pre>",
        "versions": versions_section(run),
    }
    title = escape(f"toolkit report: {run['dir'].resolve().name}")
    nav = "".join(f'<a href="#{key}">{name}</a>' for key, name in SECTIONS.items())
    sections = "".join(
        f'<section id="{key}"><h2>{SECTIONS[key]}</h2>{body}</section>\n'
        for key, body in bodies.items()
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}</style></head>\n<body><h1>{title}</h1><nav>{nav}</nav>\n{sections}</body></html>\n"
    )
