"""`eval.calibrate: temperature`: one temperature T, fitted on the validation split's logits.

Temperature scaling (Guo et al., 2017) divides every logit by the same T > 0 before the softmax:
the argmax, so accuracy, is unchanged, while T > 1 softens over-confident probabilities and
T < 1 sharpens under-confident ones. T minimises the validation NLL (a bounded search over
log T). It is fitted on the logits of the model that has not trained on the validation rows
(with `train.refit`, the selection model: its T then serves the refit model too, an
approximation) and kept in the run's calibration.json; `toolkit run`, `eval` and `explain` hand
it to the task, which applies it to its probabilities. The saved model is never changed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from toolkit import metrics
from toolkit.console import console
from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import TrainingArguments

    from toolkit.data import Splits
    from toolkit.models import LoadedModel
    from toolkit.recipe.schema import Recipe
    from toolkit.rundir import RunDir
    from toolkit.tasks.base import Task

LOG_T_BOUNDS = (math.log(0.01), math.log(100.0))  # T is searched for in [0.01, 100]


@runtime_checkable
class Calibratable(Protocol):
    """A task whose held-out probabilities are softmax(logits / temperature)."""

    temperature: float


def calibratable(task: Task | type[Task]) -> bool:
    """Whether a task (or task class) takes a temperature: the capability `eval.calibrate`
    needs (the classification task has one; tasks that write text have none)."""
    return isinstance(getattr(task, "temperature", None), float)


def check_calibration(method: str, splits: Sequence[str], task: type[Task]) -> None:
    """Recipe validation (schema.py): refuse an `eval.calibrate` that cannot be fitted."""
    if method == "none":
        return
    if not calibratable(task):
        raise ValueError(
            f"eval.calibrate: {method} scaling calibrates class probabilities, which {task.name} "
            "has none of (classification only; set eval.calibrate: none)"
        )
    if "validation" not in splits:
        raise ValueError(
            f"eval.calibrate: {method} is fitted on the validation split, which eval.splits "
            "leaves out (add validation to eval.splits, or set eval.calibrate: none)"
        )


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of the gold labels under softmax(logits / temperature)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    top = z.max(-1)
    log_norm = top + np.log(np.exp(z - top[:, None]).sum(-1))
    return float((log_norm - z[np.arange(len(labels)), labels]).mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 of least NLL, searched on log T (where the NLL is smooth and unimodal enough)."""
    from scipy.optimize import minimize_scalar

    found = minimize_scalar(
        lambda log_t: nll(logits, labels, math.exp(log_t)),
        bounds=LOG_T_BOUNDS,
        method="bounded",
        options={"xatol": 1e-5},
    )
    return float(math.exp(found.x))


def fit_record(logits: np.ndarray, labels: np.ndarray) -> dict:
    """Fit T on `logits`; calibration.json's content: T, the NLL and ECE before and after."""
    temperature = fit_temperature(logits, labels)
    ece = {
        t: metrics.calibration_metrics(labels, metrics.softmax(logits / t))["ece"]
        for t in (1.0, temperature)
    }
    validation = {
        "rows": int(len(labels)),
        "nll_before": nll(logits, labels, 1.0),
        "nll_after": nll(logits, labels, temperature),
        "ece_before": ece[1.0],
        "ece_after": ece[temperature],
    }
    return {"method": "temperature", "temperature": temperature, "validation": validation}


def calibrate(
    recipe: Recipe, task: Task, loaded: LoadedModel, splits: Splits,
    tokenized: dict[str, Dataset], precision: str, args: TrainingArguments, staging: RunDir,
) -> None:  # fmt: skip
    """After training (`toolkit run`): fit T on `loaded`'s validation logits, have the task apply
    it to every held-out score from now on, and write calibration.json into the staging dir."""
    if recipe.eval.calibrate == "none" or not args.should_save:  # the main process scores
        return
    if not isinstance(task, Calibratable):  # recipe validation refuses this already
        raise ToolkitError(f"eval.calibrate: {task.name} has no class probabilities to calibrate")
    if not len(tokenized["validation"]):
        raise ToolkitError(
            "eval.calibrate: no validation rows to fit a temperature on (give validation rows, "
            "or set eval.calibrate: none)"
        )
    batch = args.per_device_eval_batch_size
    logits = task.predict(loaded, splits.validation, tokenized["validation"], batch, precision)
    labels = np.asarray(tokenized["validation"]["labels"], dtype=np.int64)
    record = fit_record(np.asarray(logits, dtype=np.float64), labels)
    record["model"] = "selection (refit scores reuse its T)" if recipe.train.refit else "final"
    task.temperature = record["temperature"]
    staging.write_calibration(record)
    shown = record["validation"]
    console.print(
        f"[bold]calibrate[/] temperature {task.temperature:.3f} (validation NLL "
        f"{shown['nll_before']:.4f} → {shown['nll_after']:.4f}, ECE "
        f"{shown['ece_before']:.4f} → {shown['ece_after']:.4f})"
    )


def use_stored_temperature(task: Task, run: RunDir) -> None:
    """Give `task` the temperature the run fitted (its calibration.json), for `toolkit eval`
    and `explain`; a run without the file (or a bare model directory) stays uncalibrated."""
    record = run.read_calibration()
    if record is None:
        return
    found = record.get("temperature")
    if isinstance(found, bool) or not isinstance(found, (int, float)) or not 0 < found < math.inf:
        raise ToolkitError(
            f"{run.calibration}: 'temperature' must be a positive number (got {found!r}); "
            "rerun the run or delete the file"
        )
    if not isinstance(task, Calibratable):
        raise ToolkitError(
            f"{run.calibration}: a {task.name} run has no probabilities to calibrate; delete "
            "the file"
        )
    task.temperature = float(found)
