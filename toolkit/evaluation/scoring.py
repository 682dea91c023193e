"""Held-out scoring: batched, length-sorted prediction, for `toolkit run` and `toolkit eval`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from toolkit.errors import ToolkitError
from toolkit.evaluation.calibration import use_stored_temperature
from toolkit.rundir import RunDir, checked_name, output_name

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import TrainingArguments

    from toolkit.data import Splits
    from toolkit.models import LoadedModel
    from toolkit.recipe.schema import Recipe
    from toolkit.tasks.base import Head, Task


def score_split(
    task: Task, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
    precision: str,
) -> tuple[dict, list]:  # fmt: skip
    """Metrics and per-row prediction records for one held-out split."""
    outputs = task.predict(loaded, table, tokenized, batch_size, precision)
    return task.score(outputs, tokenized), task.postprocess(outputs, table)


def score_splits(
    task: Task,
    loaded: LoadedModel,
    splits: Splits,
    tokenized: dict[str, Dataset],
    names: list[str],
    precision: str,
    args: TrainingArguments,
) -> dict[str, tuple[dict, list]]:
    """Score each named held-out split after training (on the main process only)."""
    if not args.should_save:
        return {}
    return {
        name: score_split(
            task,
            loaded,
            getattr(splits, name),
            tokenized[name],
            args.per_device_eval_batch_size,
            precision,
        )
        for name in names
    }


def held_out_table(target: Path, split: str, data_file: str | None) -> Dataset:
    """The rows to score: a file given with --data, else the split recorded by the run."""
    from toolkit.data import load_table

    if data_file is not None:
        return load_table(data_file, "--data")
    recorded = RunDir(target).split_file(split)
    if not recorded.is_file():
        raise ToolkitError(
            f"{target}: split {split!r} was never recorded (no {recorded}); pass --data"
        )
    return load_table(str(recorded), f"split {split}")


@dataclass
class EvalContext:
    """A run loaded for `toolkit eval`, its clean scores, and how to score a modified table with
    the same model: what the probes (`--perturb`, `--fairness`) work from."""

    task: Task
    loaded: LoadedModel
    recipe: Recipe
    table: Dataset
    metrics: dict
    records: list
    batch_size: int
    precision: str
    run: RunDir  # probes write their rows to its eval/ (`run.eval_rows(name, ...)`)
    name: str  # the split, or the --data file's stem

    def score(self, table: Dataset) -> tuple[dict, list]:
        return score_table(self.task, self.loaded, table, self.batch_size, self.precision)


class Probe(Protocol):
    """An add-on of `toolkit eval` (`--perturb`, `--fairness`): checks the task before any
    weights load, runs on the loaded model, prints its result."""

    key: str  # where its result goes in the eval json

    def check(self, task: Task) -> None: ...

    def run(self, context: EvalContext) -> dict: ...

    def show(self, result: dict) -> None: ...


def saved_head(task: Task, model_dir: Path, trust_remote_code: bool = False) -> Head:
    """The head a trained model directory was saved with (from its config; no weights read)."""
    from toolkit.models import family_of, load_config

    config = load_config(str(model_dir), trust_remote_code=trust_remote_code)
    return task.head(family_of(config, str(model_dir)))


def tokenize_table(task: Task, loaded: LoadedModel, table: Dataset) -> Dataset:
    return table.map(
        task.preprocess,
        batched=True,
        fn_kwargs={"tokenizer": loaded.tokenizer},
        remove_columns=table.column_names,
    )


def score_table(
    task: Task, loaded: LoadedModel, table: Dataset, batch_size: int, precision: str
) -> tuple[dict, list]:
    """Metrics and prediction records for any table of the task's columns, on a loaded model."""
    tokenized = tokenize_table(task, loaded, table)
    return score_split(task, loaded, table, tokenized, batch_size, precision)


def load_target(
    target: Path,
    split: str,
    data_file: str | None,
    recipe_path: str | None,
    probes: Sequence[Probe],
) -> tuple[Task, LoadedModel, Recipe, Dataset, str]:
    """(task, loaded model, recipe, table, where) for `toolkit eval`; probes check the task
    before any weights load."""
    from toolkit.data import require_columns
    from toolkit.lora import load_run_model
    from toolkit.recipe.load import load_recipe
    from toolkit.tasks.registry import task_for

    model_dir, recipe_file = RunDir(target).open(recipe_path)
    recipe = load_recipe(recipe_file)
    task = task_for(recipe)
    trust = recipe.model.trust_remote_code  # the run's recipe says whether its code is trusted
    task.bind(saved_head(task, model_dir, trust))
    for probe in probes:
        probe.check(task)
    table = held_out_table(target, split, data_file)
    where = data_file or str(RunDir(target).split_file(split))
    require_columns(table, task.columns, where)
    loaded = load_run_model(model_dir, task.head, recipe.model.source(), trust)  # or + adapter
    task.from_model(loaded.model.config)
    use_stored_temperature(task, RunDir(target))  # eval.calibrate's T, when the run fitted one
    task.check_rows(table, where)
    return task, loaded, recipe, table, where


def evaluate_target(
    target: Path,
    split: str,
    data_file: str | None,
    recipe_path: str | None,
    batch_size: int,
    probes: Sequence[Probe] = (),
) -> tuple[dict, Path]:
    """`toolkit eval`: score a run (or model + recipe) on a held-out split or file, then run each
    probe (an object with `key`, `check(task)` and `run(EvalContext) -> dict`) on the same model.

    Returns the metrics (each probe's result under its key) and the json file they went to.
    """
    name = output_name(data_file) if data_file else checked_name(split)  # a file inside the run
    task, loaded, recipe, table, where = load_target(target, split, data_file, recipe_path, probes)
    precision = "bf16" if _on_cuda(loaded) else "fp32"
    from toolkit.report.training import fitted_splits  # prints the long-text count line

    tokenized, fitted = fitted_splits(task, {"eval": tokenize_table(task, loaded, table)})
    metrics, records = score_split(task, loaded, table, tokenized["eval"], batch_size, precision)
    run = RunDir(target)
    context = EvalContext(
        task, loaded, recipe, table, metrics, records, batch_size, precision, run, name
    )
    results = {probe.key: probe.run(context) for probe in probes}
    out_file = run.write_eval(name, {**metrics, **results, **fitted}, records, source=where)
    return {**metrics, **results}, out_file


def _on_cuda(loaded: LoadedModel) -> bool:
    import torch

    if torch.cuda.is_available():
        loaded.model.to("cuda")
        return torch.cuda.is_bf16_supported()
    return False
