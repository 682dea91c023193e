"""`toolkit report RUN`: one self-contained HTML page per run directory.

Everything comes from what the run left behind (metrics.json, recipe.yaml, log.jsonl,
predictions/test.jsonl, model/config.json, calibration.json, eval/*.json and, for a tuned run,
its tune directory); pictures are PNG data URIs, the style is inline and there is no script, so
the file can be mailed or archived alone. Every text from the data or the recipe is escaped.
Sections have stable ids (SECTIONS); the evaluation and tuning ones come from evals.py and
tuning.py, the HTML pieces from markup.py, the several-runs page from compare.py.
"""

from __future__ import annotations

import importlib
import time
from html import escape
from pathlib import Path

from toolkit.atomic import write_text_atomically
from toolkit.errors import ToolkitError
from toolkit.report import evals
from toolkit.report.data import confidences, load_run, read_jsonl, report_task
from toolkit.report.faithfulness import faithfulness_section
from toolkit.report.markup import is_metric, note, page, table, text, with_interval
from toolkit.report.tuning import report_target, tuning_section
from toolkit.rundir import RunDir
from toolkit.tasks.base import ReportPieces, Task

SECTIONS = {
    "summary": "Summary", "metrics": "Metrics", "curves": "Training curves",
    "confusion": "Confusion matrix and reliability", "errors": "Worst errors", "samples": "Samples",
    "explanation": "Explanation", "faithfulness": "Faithfulness of explanations",
    "evaluations": "Evaluations (toolkit eval)",
    "robustness": "Robustness (--perturb)", "fairness": "Fairness (--fairness)",
    "calibration": "Calibration", "tuning": "Tuning", "recipe": "Recipe", "versions": "Versions",
}  # fmt: skip
MAX_ERRORS, MAX_SAMPLES = 20, 10


def write_report(run_dir: Path | str, out: Path | str | None = None, explain: bool = True) -> Path:
    """Write the report (default RUN/report.html; for a tune directory, the report of its best
    trial's run into TUNE_DIR/report.html) atomically and return its path."""
    given = Path(run_dir)
    run_dir = report_target(given)
    run = load_run(run_dir)
    target = Path(out) if out is not None else given / RunDir(run_dir).report.name
    if not target.parent.is_dir():
        raise ToolkitError(f"--out: folder {target.parent} does not exist")
    write_text_atomically(target, render(run, explain))
    return target


def metrics_section(run: dict) -> str:
    rows, attrs = [], []
    for split, scores in run["metrics"].items():
        if not isinstance(scores, dict):
            continue
        for key, value in scores.items():
            if is_metric(key, value, scores):
                rows.append([split, key, with_interval(scores, key) or value])
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
        found = explain.explain_text(run["dir"], *inputs)
        fragment = explain.render_html(found)
    except Exception as exc:  # an optional add-on must not cost the user the whole report
        return note(f"explanation failed: {type(exc).__name__}: {exc}")
    gold = pieces.explain_gold if pieces is not None else None
    predicted = getattr(found, "prediction", None)  # the add-on's object: checked, not assumed
    line = gold_line(gold, predicted) if isinstance(predicted, str) else ""
    # The attention map is a table as wide as the text is long: it scrolls inside its box.
    return line + f'<div class="scroll">{fragment}</div>'


def gold_line(gold: str | None, prediction: str) -> str:
    """The explained test row's gold label (or answers) next to what the model predicted."""
    shown = text(prediction) if prediction else "(no answer)"
    known = text(gold) if gold is not None else "(not recorded)"
    return (
        f'<p class="gold" id="explained-row">first test row: gold <b data-gold>{known}</b>'
        f" · predicted <b data-predicted>{shown}</b></p>"
    )


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
    results, broken = evals.eval_results(run["dir"])
    bodies = {
        "summary": summary_section(run),
        "metrics": metrics_section(run),
        "curves": curves_section(run),
        "confusion": confusion_section(run, pieces),
        "errors": errors_section(run, pieces),
        "samples": samples_section(pieces),
        "explanation": explanation_section(run, task, pieces, explain),
        "faithfulness": faithfulness_section(run["dir"]),
        "evaluations": evals.evaluations_section(results, broken),
        "robustness": evals.robustness_section(results),
        "fairness": evals.fairness_section(results),
        "calibration": evals.calibration_section(RunDir(run["dir"]).read_calibration()),
        "tuning": tuning_section(run["dir"]),
        "recipe": f"<pre>{escape(run['recipe_text'])}</pre>",
        "versions": versions_section(run),
    }
    title = f"toolkit report: {run['dir'].resolve().name}"
    return page(title, {key: (SECTIONS[key], body) for key, body in bodies.items()})
