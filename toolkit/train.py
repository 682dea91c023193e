"""`run(recipe)`: a recipe becomes a transformers Trainer run (accelerate underneath).

Read `run` top to bottom: seed → task → splits → model → regularize → tokenize → Trainer →
train → evaluate → write the run directory. Each step is a small function below it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.console import console
from toolkit.data import Splits, build_splits, write_held_out
from toolkit.disk import check_free_space
from toolkit.errors import ToolkitError
from toolkit.evaluation.calibration import calibrate
from toolkit.evaluation.scoring import score_splits
from toolkit.freezing import freeze_input_embeddings, freeze_lower_layers
from toolkit.launch import every_parameter_used, is_main_process, main_process_first
from toolkit.lora import apply_peft, check_peft, load_options, save_head_config
from toolkit.models import LoadedModel, family_of, load_config, load_for_task
from toolkit.precision import resolve_precision
from toolkit.recipe.schema import Recipe
from toolkit.refit import refit_arguments, refit_plan, refit_rows, selection
from toolkit.report import training as report
from toolkit.rundir import RunDir
from toolkit.scratch import build_checkpoint
from toolkit.share.card import write_run_card
from toolkit.tasks.base import Task
from toolkit.tasks.registry import task_for
from toolkit.tracking import log_held_out
from toolkit.trainer_setup import build_trainer, training_arguments

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase, Trainer, TrainerCallback


def run(
    recipe: Recipe, overwrite: bool = False, dry_run: bool = False, resume: bool = False,
    processes: int = 1, recipe_file: Path | None = None,
    callbacks: Sequence[TrainerCallback] = (),
) -> Path | None:  # fmt: skip
    """Train and evaluate as the recipe says; returns the run directory (None for a dry run).
    `recipe_file`, the YAML it was read from, is never written over (nor the data or model).

    Under a launcher every process runs this; the main one prepares shared files first (scratch
    checkpoint, augmentation cache, staging dir) and alone writes the run directory.
    """
    from transformers import set_seed

    set_seed(recipe.train.seed)
    console.quiet = not is_main_process()  # one copy of every message, not one per process
    run_dir = RunDir(recipe.output.dir)
    replace = overwrite or resume or dry_run  # a dry run writes nothing; a resume ends a run
    inputs = recipe.local_inputs(recipe_file)
    with run_dir.claim(inputs, replace, hold=is_main_process() and not dry_run):
        return train_and_write(recipe, run_dir, dry_run, resume, processes, callbacks)


def train_and_write(
    recipe: Recipe, run_dir: RunDir, dry_run: bool, resume: bool, processes: int,
    callbacks: Sequence[TrainerCallback] = (),
) -> Path | None:  # fmt: skip
    """`run` once the run directory is claimed: prepare, train, score, write."""
    task = task_for(recipe)
    if recipe.model.scratch is not None:  # new model: from here on a checkpoint like any other
        with main_process_first():
            recipe.model.name = str(build_checkpoint(recipe, task.columns, is_main_process()))
    precision = preflight(recipe, task)
    splits = build_splits(recipe.data, task.columns)
    task.prepare(splits)
    with main_process_first():  # the others then hit the augmentation cache
        augment_train_split(recipe, task, splits)
    loaded = load_model(recipe, task)
    args = training_arguments(recipe, run_dir.staging.path, precision, every_parameter_used(loaded))
    if not dry_run and is_main_process():  # before anything is written
        check_free_space(run_dir.staging.path, loaded, args.save_strategy != "no")
    tokenized = tokenize(splits, task, loaded.tokenizer)
    training, fitted = report.fitted_splits(task, tokenized)  # as the Trainer reads them
    if dry_run:
        report.print_dry_run(recipe, splits, tokenized, loaded, args, precision, processes)
        return None
    with main_process_first():
        checkpoint = resume_point(run_dir, recipe) if resume else start_staging(run_dir, recipe)
    trainer = build_trainer(recipe, task, loaded, training, args, callbacks)
    train_metrics = trainer.train(resume_from_checkpoint=checkpoint).metrics
    train_metrics.update(fitted, global_step=trainer.state.global_step, world_size=args.world_size)
    # eval.calibrate: T from these validation logits; a refit model's test reuses it (approximate)
    calibrate(recipe, task, loaded, splits, tokenized, precision, args, run_dir.staging)
    names = recipe.eval.splits
    before = [n for n in names if n == "validation"] if recipe.train.refit else names
    results = score_splits(task, loaded, splits, tokenized, before, precision, args)
    if recipe.train.refit:  # validation stays the selection model's score; the test is the refit's
        trainer, loaded, train_metrics["refit"] = refit(recipe, task, training, trainer)
        after = [n for n in names if n not in before]
        results |= score_splits(task, loaded, splits, tokenized, after, precision, args)
    if args.should_save:  # the main process alone writes the run directory
        metrics = report.run_metrics(train_metrics, results, precision, loaded)
        callbacks_now = trainer.callback_handler.callbacks  # held-out scores beside the curves
        log_held_out(callbacks_now, run_dir.staging.tensorboard, metrics, trainer.state.global_step)
        write_run(run_dir, recipe, trainer, splits, metrics, results)
    return run_dir.path


def refit(
    recipe: Recipe, task: Task, tokenized: dict[str, Dataset], selected: Trainer
) -> tuple[Trainer, LoadedModel, dict]:
    """Train again from the starting weights on train + validation for the length the selection
    run chose (see toolkit/refit.py); returns the new trainer, model and what metrics.json keeps."""
    from transformers import set_seed

    chosen = selection(selected, len(tokenized["train"]))
    rows = refit_rows(tokenized)
    args = refit_arguments(selected.args, refit_plan(chosen, selected.args, len(rows)))
    set_seed(recipe.train.seed)  # the selection run's starting head weights and data order
    loaded = load_model(recipe, task)
    trainer = build_trainer(recipe, task, loaded, {"train": rows}, args)
    metrics = trainer.train().metrics
    record = {
        "selection": chosen.as_json(),
        "rows": len(rows),  # tokenized rows: windows, for tasks that cut long texts
        "train_rows": len(tokenized["train"]),
        "validation_rows": len(tokenized["validation"]),
        "steps": trainer.state.global_step,
        **{k: v for k, v in metrics.items() if k.startswith("train_")},
    }
    return trainer, loaded, record


def start_staging(run_dir: RunDir, recipe: Recipe) -> None:
    """A fresh staging dir, made by the main process; None: no checkpoint to resume from."""
    if is_main_process():
        run_dir.start_staging(recipe.to_yaml())


def resume_point(run_dir: RunDir, recipe: Recipe) -> str:
    """The newest complete checkpoint of the interrupted run of this same recipe."""
    found = run_dir.resume_point(recipe.to_yaml(), remove_incomplete=is_main_process())
    console.print(f"[bold]resuming[/] from {found}")
    return str(found)


def write_run(
    run_dir: RunDir, recipe: Recipe, trainer: Trainer, splits: Splits, metrics: dict,
    results: dict[str, tuple[dict, list[dict]]],
) -> None:  # fmt: skip
    """Model and tokenizer, held-out rows, recipe, metrics and predictions into the staging
    dir, which then replaces the run directory."""
    staging = run_dir.staging
    trainer.save_model(str(staging.model))  # a peft model saves its adapter + head only
    if recipe.peft is not None:  # so add the label names the head trained with
        save_head_config(trainer.model, staging.model)
    splits.record["sizes"] = splits.sizes()  # rows as trained on (after augmentation)
    write_held_out(splits, staging)
    predictions = {name: records for name, (_, records) in results.items()}
    staging.write_results(recipe.to_yaml(), metrics, predictions)
    write_run_card(staging, run_dir.path)  # replaces the README.md peft writes for an adapter
    if not recipe.train.keep_checkpoints:  # a finished run resumes from none of them
        staging.drop_checkpoints()
    run_dir.publish()
    report.print_summary(run_dir.path, metrics)


def preflight(recipe: Recipe, task: Task) -> str:
    """Cheap checks before any data or weights are loaded; returns the resolved precision."""
    config = load_config(recipe.model.name, recipe.model.source(), recipe.model.trust_remote_code)
    family = family_of(config, recipe.model.name)
    head = task.head(family)  # a task the family cannot do fails here, before any data is read
    task.bind(head)
    if recipe.peft is not None:
        check_peft(recipe, config.model_type, family, head)
    stopping = recipe.regularization.early_stopping
    if stopping is not None:
        task_metric_check(task, stopping.metric)
        if recipe.train.eval_every == "no":
            raise ToolkitError(
                "regularization.early_stopping needs evaluation: set train.eval_every"
            )
    return resolve_precision(recipe.train.precision, family)


def augment_train_split(recipe: Recipe, task: Task, splits: Splits) -> None:
    """Apply the recipe's augment steps to the train split only; variants that nearly duplicate
    a validation or test text are rejected, so augmentation cannot leak held-out rows."""
    if not recipe.augment:
        return
    from toolkit.augment.pipeline import augment_table

    view = task.augment_view()
    held_out = [
        view.inputs[0].get(row) for t in (splits.validation, splits.test) for row in t.to_list()
    ]
    splits.train, summary = augment_table(
        splits.train, view, recipe.augment, recipe.train.seed, held_out, splits.where("train")
    )
    splits.record["train_augmentation"] = {
        "steps": [step.model_dump(mode="json") for step in recipe.augment],
        "rows_in": summary.rows_in,
        "rows_out": summary.rows_out,
        "per_step": [s.line() for s in summary.steps],
    }
    for line in summary.lines():
        console.print(f"[bold]augment[/] {line}")


def load_model(recipe: Recipe, task: Task) -> LoadedModel:
    """The checkpoint with the task head, family dropout keys set, embeddings frozen if asked."""
    loaded = load_for_task(
        recipe.model.name,
        task.head,
        task.model_config(),
        dropout=recipe.regularization.dropout,
        source=recipe.model.source(),
        model_options=load_options(recipe),
        trust_remote_code=recipe.model.trust_remote_code,
    )
    if recipe.model.freeze_layers:
        freeze_lower_layers(loaded.model, loaded.family, recipe.model.freeze_layers)
    elif recipe.model.freeze_embeddings:
        freeze_input_embeddings(loaded.model)
    if recipe.peft is not None:  # LoRA adapters (+ the task head) train; the base is frozen
        apply_peft(loaded, recipe)
    report.print_model_banner(recipe.model.name, loaded)
    return loaded


def tokenize(splits: Splits, task: Task, tokenizer: PreTrainedTokenizerBase) -> dict[str, Dataset]:
    """Tokenize every split without padding: the collator pads each batch to its own longest row."""
    tokenized = {}
    for name in ("train", "validation", "test"):
        table = getattr(splits, name)
        tokenized[name] = table.map(
            task.preprocess,
            batched=True,
            fn_kwargs={"tokenizer": tokenizer},
            remove_columns=table.column_names,
            desc=f"tokenizing {name}",
        )
    return tokenized


def task_metric_check(task: Task, metric: str) -> None:
    known = [*task.validation_metrics, "loss"]
    if metric not in known:
        raise ToolkitError(
            f"regularization.early_stopping.metric: {metric!r} is not a metric of "
            f"{task.name} (use one of {', '.join(known)})"
        )
