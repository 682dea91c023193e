"""`toolkit explain RUN --faithfulness`: do the words an attribution ranks first matter to the
model? Deletion and insertion curves over held-out rows, in the spirit of ERASER (DeYoung et
al., 2020), against random word orderings of the same rows.

Words are the text's whitespace-separated words (sub-word tokens summed into them); a row's
text is first cut to the words its window saw, so every curve runs on what the model reads. For
each fraction f of FRACTIONS, k = ceil(f · words) of a ranking's top words (largest signed
attribution first: the words that push the predicted class up) are removed (comprehensiveness:
p(ŷ | text) − p(ŷ | text without them)) or kept alone (sufficiency: p(ŷ | text) − p(ŷ | them
only)); each is averaged over the fractions (AOPC). Higher comprehensiveness and lower
sufficiency are better. Fractions rather than counts: held-out texts run from a few words to a
few hundred, and ceil keeps k ≥ 1 on the shortest. ŷ is the class predicted on the whole text,
its probability calibrated when the run fitted a temperature. Every perturbed text of every row
goes through one deduplicated, length-sorted batched prediction (the task's `predict`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.explain.attribution import METHODS, Window, attribute, centred
from toolkit.explain.faithfulness_out import with_verdicts

if TYPE_CHECKING:
    from toolkit.models import LoadedModel
    from toolkit.tasks.base import Task

BOTH = "both"
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)
RANDOM_ORDERS = 3  # random rankings per row; their mean is the row's baseline
RANDOM = "random"
SPLIT = "test"


class LabelsOnly:
    """Checks, before any weights load (`load_target`'s probe hook), that the run's model
    scores labels: faithfulness needs a predicted class's probability."""

    def check(self, task: Task) -> None:
        if task.capabilities().explain != "labels":
            raise ToolkitError(
                f"--faithfulness: classification runs only (this run's task is {task.name})"
            )


@dataclass
class Row:
    """One held-out text, cut to the words its window saw, and its rankings of those words."""

    words: list[str]
    truncated: bool
    predicted: int = 0
    probability: float = 0.0  # of the predicted class, on the (cut) text
    orders: dict[str, list[np.ndarray]] = field(default_factory=dict)  # method -> rankings

    @property
    def text(self) -> str:
        return " ".join(self.words)


def methods_of(method: str | None) -> list[str]:
    """The methods `--method` names (`both`, the default here, is every one)."""
    if method is None or method == BOTH:
        return list(METHODS)
    if method not in METHODS:
        raise ToolkitError(f"--method: {method!r} is not one of {', '.join([*METHODS, BOTH])}")
    return [method]


def measure(
    run_dir: Path, rows: int = 100, method: str | None = None, seed: int = 0, steps: int = 16,
    batch_size: int = 128,
) -> tuple[dict, list[dict]]:  # fmt: skip
    """The faithfulness result (json-ready) and one record per measured row."""
    from toolkit.evaluation.scoring import load_target

    if rows < 1:
        raise ToolkitError(f"--rows: must be at least 1 (got {rows})")
    methods = methods_of(method)
    started = time.perf_counter()
    task, loaded, _, table, where = load_target(run_dir, SPLIT, None, None, [LabelsOnly()])
    loaded.model.eval()
    rng = np.random.default_rng(seed)
    picked = np.sort(rng.choice(len(table), size=min(rows, len(table)), replace=False))
    texts = [str(table[int(i)][task.text_column]) for i in picked]
    measured = [row for row in (cut_row(loaded, task, t) for t in texts) if len(row.words) >= 2]
    if not measured:
        raise ToolkitError(f"{where}: no sampled row has two or more words to remove")
    rank(loaded, task, measured, methods, steps, rng, batch_size)
    ranked = time.perf_counter()
    curves = drop_curves(task, loaded, measured, batch_size)
    result = summarise(curves, methods)
    result.update(
        source=where, split=SPLIT, rows=len(measured), rows_asked=rows, sampled=len(picked),
        skipped=len(picked) - len(measured), truncated=sum(r.truncated for r in measured),
        seed=seed, steps=steps, fractions=list(FRACTIONS), random_orders=RANDOM_ORDERS,
        ranking="largest signed attribution first",
        seconds=round(time.perf_counter() - started, 2),
        seconds_curves=round(time.perf_counter() - ranked, 2),
    )  # fmt: skip
    return with_verdicts(result), row_records(measured, curves, task.label_names)


def rank(
    loaded: LoadedModel, task: Task, rows: list[Row], methods: list[str], steps: int,
    rng: np.random.Generator, batch_size: int,
) -> None:  # fmt: skip
    """Each row's predicted class, then its rankings: one per method, RANDOM_ORDERS random."""
    from toolkit.console import progress_bar

    probs = class_probabilities(task, loaded, [row.text for row in rows], batch_size)
    with progress_bar("attributing", transient=True) as bar:
        job = bar.add_task("rows", total=len(rows))
        for row, p in zip(rows, probs):
            row.predicted, row.probability = int(p.argmax()), float(p.max())
            for name in methods:
                scores = word_scores(loaded, task, row, name, steps)
                row.orders[name] = [np.argsort(-scores, kind="stable")]
            row.orders[RANDOM] = [rng.permutation(len(row.words)) for _ in range(RANDOM_ORDERS)]
            bar.advance(job)


def cut_row(loaded: LoadedModel, task: Task, text: str) -> Row:
    """The text's words the model's window covers (all of them unless it was truncated)."""
    words = text.split()
    enc = tokenize(loaded, task, " ".join(words))
    seen = {i for i in word_index(words, enc["offset_mapping"][0], enc.sequence_ids(0)) if i >= 0}
    count = max(seen) + 1 if seen else 0
    return Row(words[:count], truncated=count < len(words))


def tokenize(loaded: LoadedModel, task: Task, text: str):  # noqa: ANN201 (a BatchEncoding)
    if not getattr(loaded.tokenizer, "is_fast", False):
        raise ToolkitError("model.name: --faithfulness needs a fast tokenizer (for offsets)")
    return loaded.tokenizer(
        [text], truncation=True, max_length=task.max_length, return_offsets_mapping=True
    )


def word_index(words: list[str], offsets: list, sequence: list) -> list[int]:
    """Per token, the index of the whitespace word it belongs to (−1: special token). A token's
    last character decides: byte-level offsets may include the space before the word."""
    ends = np.cumsum([len(w) + 1 for w in words]) - 1  # the space after each word
    return [
        int(np.searchsorted(ends, b - 1, side="right")) if s is not None and b > a else -1
        for (a, b), s in zip(offsets, sequence)
    ]


def word_scores(loaded: LoadedModel, task: Task, row: Row, method: str, steps: int) -> np.ndarray:
    """The method's attribution of the predicted class (centred logit) per word: its tokens'
    scores summed (batched over integrated gradients' path points)."""
    enc = tokenize(loaded, task, row.text)
    window = Window(enc, 0, loaded.tokenizer, {0: "text"})
    target = row.predicted
    tokens, _ = attribute(
        loaded, window, lambda out: centred(out.logits)[:, target], method, steps, 32
    )
    summed = np.zeros(len(row.words))
    for index, score in zip(word_index(row.words, window.offsets, enc.sequence_ids(0)), tokens):
        if 0 <= index < len(row.words):
            summed[index] += float(score)
    return summed


def perturbed(words: list[str], order: np.ndarray, fraction: float) -> tuple[str, str]:
    """(the text without the ranking's top k words, the text of those words only), in the
    words' own order."""
    k = math.ceil(fraction * len(words))
    top = set(order[:k].tolist())
    kept = [w for i, w in enumerate(words) if i in top]
    removed = [w for i, w in enumerate(words) if i not in top]
    return " ".join(removed), " ".join(kept)


def drop_curves(task: Task, loaded: LoadedModel, rows: list[Row], batch_size: int) -> dict:
    """Per method (and `random`): arrays rows × orders × fractions of the predicted class's
    probability drop when the top words are removed ("deletion") and kept alone ("insertion")."""
    unique: dict[str, int] = {}
    slots = []  # per row: {method: [[(removed id, kept id) per fraction] per order]}
    for row in rows:
        unique.setdefault(row.text, len(unique))
        slots.append({
            name: [[tuple(unique.setdefault(t, len(unique)) for t in perturbed(row.words, o, f))
                    for f in FRACTIONS] for o in orders]
            for name, orders in row.orders.items()
        })  # fmt: skip
    probs = class_probabilities(task, loaded, list(unique), batch_size)
    curves: dict[str, dict[str, np.ndarray]] = {}
    for name in rows[0].orders:
        ids = np.array([slot[name] for slot in slots])  # rows × orders × fractions × 2
        predicted = np.array([row.predicted for row in rows])
        full = probs[[unique[row.text] for row in rows], predicted][:, None, None]
        after = probs[ids, predicted[:, None, None, None]]
        curves[name] = {"deletion": full - after[..., 0], "insertion": full - after[..., 1]}
    return curves


def class_probabilities(task: Task, loaded: LoadedModel, texts: list[str], batch_size: int):  # noqa: ANN201
    """Class probabilities of `texts` (calibrated like eval's): batched, length-sorted."""
    from datasets import Dataset

    from toolkit.evaluation.scoring import tokenize_table

    table = Dataset.from_dict({task.text_column: texts})
    tokenized = tokenize_table(task, loaded, table)
    return task.probabilities(task.predict(loaded, table, tokenized, batch_size, "fp32"))


def summarise(curves: dict, methods: list[str]) -> dict:
    """Each method's AOPCs against the random orders' on the same rows (intervals, paired
    difference, p-value, verdict), and the mean curves per fraction."""
    from toolkit.metrics import faithfulness_metrics

    def per_row(name: str, kind: str) -> np.ndarray:
        return curves[name][kind].mean(axis=(1, 2))  # AOPC: mean over the orders and fractions

    result: dict = {"methods": {}}
    for name in methods:
        pairs = [per_row(n, k) for n in (name, RANDOM) for k in ("deletion", "insertion")]
        found = faithfulness_metrics(*pairs)  # method's deletion, insertion; random's
        result["methods"][name] = {**found, **mean_curves(curves[name])}
    first = result["methods"][methods[0]]
    result[RANDOM] = {
        **{k: first[f"random_{k}"] for k in ("comprehensiveness", "sufficiency")},
        **{f"{k}_ci": first[f"random_{k}_ci"] for k in ("comprehensiveness", "sufficiency")},
        **mean_curves(curves[RANDOM]),
    }
    return result


def mean_curves(curves: dict) -> dict:
    """The mean drop per fraction, over rows and orders."""
    return {f"{k}_curve": np.round(v.mean(axis=(0, 1)), 6).tolist() for k, v in curves.items()}


def row_records(rows: list[Row], curves: dict, labels: list[str]) -> list[dict]:
    """Per row: its text, the predicted label, each ranking's top words and drop curves."""
    records = []
    for i, row in enumerate(rows):
        record: dict = {"text": row.text, "prediction": labels[row.predicted]}
        record.update(probability=round(row.probability, 6), truncated=row.truncated)
        for name, orders in row.orders.items():
            if name != RANDOM:
                record[name] = {
                    "top_words": [row.words[j] for j in orders[0][:5].tolist()],
                    "deletion": np.round(curves[name]["deletion"][i, 0], 6).tolist(),
                    "insertion": np.round(curves[name]["insertion"][i, 0], 6).tolist(),
                }
        record[RANDOM] = {k: np.round(v[i].mean(0), 6).tolist() for k, v in curves[RANDOM].items()}
        records.append(record)
    return records
