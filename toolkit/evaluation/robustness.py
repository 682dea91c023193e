"""`toolkit eval --perturb`: score the model on perturbed copies of the held-out rows.

Each perturbation reuses an augmenter on the input side of the task's rows (the same views as
training augmentation, toolkit/augment/views.py): `synonym` (WordNet synonyms), `typo`
(character typos) and `drop` (EDA word deletion), each editing about `p` of the words, one
variant per row from a fixed seed. QA answers are protected and re-anchored; a row whose answer
is lost is dropped and counted. The result is the clean and perturbed metrics side by side,
and, where predictions are labels (classification) or extracted spans (extractive QA), the flip
rate: the share of scored rows whose prediction changes, and for class probabilities the mean
|ΔP| and signed ΔP of the reference class, each with a bootstrap interval (and the signed gap
with its permutation p-value; certainty.py), as are the perturbed metrics. The rows whose
prediction changed go to `<run>/eval/<split>_perturb_<name>.jsonl`.
"""

from __future__ import annotations

import difflib
import random
from typing import TYPE_CHECKING, Any

from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from toolkit.augment import Augmenter
    from toolkit.augment.views import View
    from toolkit.evaluation.scoring import EvalContext
    from toolkit.tasks.base import Task

PERTURBATIONS = {"synonym": "synonym", "typo": "typo", "drop": "delete"}  # name -> augmenter


def parse_names(text: str) -> list[str]:
    """`synonym,typo,drop` -> names, each known (unknown ones get a did-you-mean)."""
    names = list(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise ToolkitError(f"--perturb: give one or more of {', '.join(PERTURBATIONS)}")
    for name in names:
        if name not in PERTURBATIONS:
            close = difflib.get_close_matches(name, PERTURBATIONS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            known = ", ".join(PERTURBATIONS)
            raise ToolkitError(f"--perturb: unknown perturbation {name!r} (known: {known}){hint}")
    return names


class Perturb:
    """The `--perturb` probe (see scoring.py `evaluate_target`)."""

    key = "perturb"

    def __init__(self, names: str, p: float = 0.15, seed: int = 0) -> None:
        from toolkit.recipe.augment import WordStep

        if not 0 < p <= 1:
            raise ToolkitError(f"--perturb-p: {p} is not in (0, 1]")
        self.names, self.p, self.seed = parse_names(names), p, seed
        self.steps = {name: WordStep(method=PERTURBATIONS[name], p=p) for name in self.names}

    def check(self, task: Task) -> None:
        return None  # every task has an input side to perturb

    def run(self, context: EvalContext) -> dict:
        from toolkit.augment import get_method
        from toolkit.augment.pipeline import check_rows

        view = context.task.augment_view()
        rows = context.table.to_list()
        check_rows(rows, view, list(self.steps.values()), context.name)
        result: dict[str, Any] = {"p": self.p, "seed": self.seed, "clean": scalars(context.metrics)}
        for name in self.names:  # each its own seed: the same copy whichever others run
            method = get_method(self.steps[name])
            perturbed, kept = perturb_rows(rows, view, method, f"{self.seed}-{name}")
            result[name] = score_perturbed(context, view, name, rows, perturbed, kept)
        return result

    def show(self, result: dict) -> None:
        print_perturb(result, self.names)


def perturb_rows(
    rows: list[dict], view: View, method: Augmenter, seed: str
) -> tuple[list[dict], list[int]]:
    """One perturbed copy of each row (input slots edited), and the indices of the rows kept
    (QA: those whose answers are still in the context, re-anchored)."""
    rng, out = random.Random(seed), [dict(row) for row in rows]
    for slot in view.inputs:
        spans = [view.protected(row, slot) for row in rows] if method.protects_spans else None
        variants = method.augment([slot.get(row) for row in rows], 1, rng, spans)
        out = [slot.put(row, found[0].text) for row, found in zip(out, variants)]
    anchored = [view.reanchor(new, old) for new, old in zip(out, rows)]
    kept = [i for i, row in enumerate(anchored) if row is not None]
    return [anchored[i] for i in kept], kept


def output_of(record: dict) -> Any:
    from toolkit.metrics import normalize_answer

    value = record.get("prediction", record.get("generated"))
    return normalize_answer(value) if "question" in record else value


def score_perturbed(context, view, name, rows, perturbed, kept) -> dict:
    """Perturbed metrics, flip rate and the changed rows (written to a jsonl file)."""
    from datasets import Dataset

    from toolkit.rundir import write_jsonl

    slot = view.inputs[0]
    edited = sum(slot.get(new) != slot.get(rows[i]) for new, i in zip(perturbed, kept))
    entry: dict[str, Any] = {"rows": len(rows), "scored": len(kept), "edited": edited}
    entry["dropped"] = len(rows) - len(kept)
    if not kept:
        return {**entry, "metrics": None, "flip_rate": None}
    metrics, records = context.score(Dataset.from_list(perturbed, features=context.table.features))
    entry["metrics"] = scalars(metrics)
    entry["intervals"] = {k: metrics[f"{k}_ci"] for k in entry["metrics"] if f"{k}_ci" in metrics}
    if entry["dropped"]:  # clean metrics on the same rows, for a like-for-like comparison
        entry["clean_scored"] = scalars(context.score(context.table.select(kept))[0])
    if len(records) != len(kept) or len(context.records) != len(rows):
        return entry  # outputs are not one per row (pre-training blocks, causal samples)
    changed = []
    for new, i, record in zip(perturbed, kept, records):
        before = context.records[i]
        if output_of(before) != output_of(record):
            changed.append(changed_row(slot, rows[i], new, i, before, record))
    if context.task.capabilities().flip_rate:  # labels or spans: a flip means something
        entry.update(paired(context.records, kept, records))
    out = context.run.eval_rows(context.name, f"perturb_{name}")
    entry["file"] = str(out)
    write_jsonl(out, changed)
    return entry


def paired(clean: list[dict], kept: list[int], records: list[dict]) -> dict:
    """Flip rate and, where records carry class probabilities, ΔP of the reference class."""
    from toolkit.evaluation.certainty import pair_stats, reference_class

    before = [clean[i] for i in kept]
    flipped = [output_of(old) != output_of(new) for old, new in zip(before, records)]
    gaps: list[float] = []
    if records and all("probabilities" in r for r in (*before, *records)):
        cls = reference_class(list(records[0]["probabilities"]))
        gaps = [new["probabilities"][cls] - old["probabilities"][cls]
                for old, new in zip(before, records)]  # fmt: skip
    stats = pair_stats(flipped, gaps, gaps)
    return {**stats, "class": cls} if gaps else stats


def changed_row(slot, old: dict, new: dict, index: int, before: dict, after: dict) -> dict:
    row = {"row": index, "input": slot.get(old), "perturbed_input": slot.get(new)}
    row.update({k: before[k] for k in ("label", "answers", "reference") if k in before})
    row["prediction"] = before.get("prediction", before.get("generated"))
    row["perturbed_prediction"] = after.get("prediction", after.get("generated"))
    if "score" in before:
        row.update(score=before["score"], perturbed_score=after.get("score"))
    return row


def scalars(metrics: dict) -> dict[str, float]:
    """The headline numbers (no per-class tables, signatures or counts)."""
    from toolkit.console import headline

    return {k: v for k, v in headline(metrics).items() if k not in ("samples", "blocks")}


def print_perturb(result: dict, names: list[str]) -> None:
    """clean vs perturbed metrics (with the change), rows edited and flip rate, as a table."""
    from rich.table import Table

    from toolkit.console import console
    from toolkit.evaluation.certainty import figure_cells

    columns = list(result["clean"])
    caption = "[95% bootstrap interval]; p: sign-flip test of the signed ΔP"
    table = Table(title=f"robustness (p={result['p']}, seed {result['seed']})", caption=caption)
    for column in ["", "edited", *columns, "flips", "signed ΔP", "p"]:
        table.add_column(column, justify="right" if column else "left")
    clean = result["clean"]
    table.add_row("clean", "", *(f"{clean[c]:.4g}" for c in columns), "", "", "")
    for name in names:
        entry = result[name]
        shown, bounds = entry["metrics"] or {}, entry.get("intervals") or {}
        base = entry.get("clean_scored", clean)
        cells = [delta(shown.get(c), base.get(c), bounds.get(c)) for c in columns]
        figures = figure_cells(entry) if entry.get("flip_rate") is not None else [""] * 4
        edited = f"{entry['edited']}/{entry['rows']}"
        edited += f", {entry['dropped']} dropped" if entry["dropped"] else ""
        table.add_row(name, edited, *cells, figures[0], figures[2], figures[3])
    console.print(table)
    for name in names:
        if result[name].get("file"):
            console.print(f"changed predictions ({name}): {result[name]['file']}")


def delta(value: float | None, base: float | None, interval: list | None = None) -> str:
    """`0.75 (-0.05)` over its interval `[0.71, 0.79]`."""
    if value is None:
        return "-"
    shown = f"{value:.4g}" if base is None else f"{value:.4g} ({value - base:+.3g})"
    return shown + (f"\n[{interval[0]:.4g}, {interval[1]:.4g}]" if interval else "")
