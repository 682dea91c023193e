"""`run(recipe)`: a recipe becomes a transformers Trainer run (accelerate underneath).

Read `run` top to bottom: seed → task → splits → model → regularize → tokenize → Trainer →
train → evaluate → write the run directory. Each step is a small function below it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.console import console
from toolkit.data import Splits, build_splits, write_held_out
from toolkit.disk import check_free_space
from toolkit.errors import ToolkitError
from toolkit.evaluation.scoring import score_splits
from toolkit.freezing import freeze_input_embeddings, freeze_lower_layers
from toolkit.launch import (
    every_parameter_used,
    inside_launcher,
    is_main_process,
    main_process_first,
)
from toolkit.lora import apply_peft, check_peft, load_options, save_head_config
from toolkit.models import LoadedModel, family_of, load_config, load_for_task
from toolkit.precision import cuda_available, resolve_precision
from toolkit.recipe.schema import Recipe, TrainSection
from toolkit.report import training as report
from toolkit.rundir import RunDir
from toolkit.scratch import build_checkpoint
from toolkit.tasks.base import Task
from toolkit.tasks.registry import task_for

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase, Trainer, TrainingArguments


def run(
    recipe: Recipe, overwrite: bool = False, dry_run: bool = False, resume: bool = False,
    processes: int = 1, recipe_file: Path | None = None,
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
        return train_and_write(recipe, run_dir, dry_run, resume, processes)


def train_and_write(
    recipe: Recipe, run_dir: RunDir, dry_run: bool, resume: bool, processes: int
) -> Path | None:
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
    if dry_run:
        report.print_dry_run(recipe, splits, tokenized, loaded, args, precision, processes)
        return None
    with main_process_first():
        checkpoint = resume_point(run_dir, recipe) if resume else start_staging(run_dir, recipe)
    trainer = build_trainer(recipe, task, loaded, tokenized, args)
    train_metrics = trainer.train(resume_from_checkpoint=checkpoint).metrics
    train_metrics.update(global_step=trainer.state.global_step, world_size=args.world_size)
    results = score_splits(task, loaded, splits, tokenized, recipe.eval.splits, precision, args)
    if args.should_save:  # the main process alone writes the run directory
        metrics = report.run_metrics(train_metrics, results, precision, loaded)
        write_run(run_dir, recipe, trainer, splits, metrics, results)
    return run_dir.path


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
    write_held_out(splits, staging)
    predictions = {name: records for name, (_, records) in results.items()}
    staging.write_results(recipe.to_yaml(), metrics, predictions)
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


def training_arguments(
    recipe: Recipe, staging: Path, precision: str, all_used: bool = False
) -> TrainingArguments:  # all_used: see launch.every_parameter_used
    from transformers import TrainingArguments

    train, reg = recipe.train, recipe.regularization
    stopping = reg.early_stopping
    return TrainingArguments(
        output_dir=str(RunDir(staging).checkpoints),
        num_train_epochs=train.epochs,
        max_steps=train.max_steps or -1,
        per_device_train_batch_size=train.batch_size,
        per_device_eval_batch_size=train.eval_batch_size,
        gradient_accumulation_steps=train.gradient_accumulation,
        activation_checkpointing=train.gradient_checkpointing,  # transformers 5 name
        eval_accumulation_steps=train.eval_accumulation_steps,
        learning_rate=train.learning_rate,
        lr_scheduler_type=train.scheduler,
        warmup_steps=train.warmup_ratio,
        weight_decay=reg.weight_decay,
        label_smoothing_factor=reg.label_smoothing,
        max_grad_norm=reg.max_grad_norm or 0.0,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        train_sampling_strategy="group_by_length" if train.group_by_length else "random",
        seed=train.seed,
        eval_strategy=train.eval_every,
        eval_steps=train.eval_steps,
        save_strategy=save_strategy(train, stopping is not None),
        save_steps=train.eval_steps,
        save_total_limit=train.save_total_limit,
        load_best_model_at_end=stopping is not None,
        metric_for_best_model=stopping.metric if stopping else None,
        greater_is_better=(stopping.metric != "loss") if stopping else None,
        logging_steps=train.logging_steps,
        report_to=[],  # TensorBoard and MLflow are added as callbacks (toolkit/tracking.py)
        run_name=RunDir(recipe.output.dir).path.name,
        disable_tqdm=True,
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda_available(),
        # Without it accelerate treats a CPU-only launch as one process per launcher rank that
        # never joins the group; with it, DDP over gloo across the launched processes.
        use_cpu=inside_launcher() and not cuda_available(),
        # transformers 5 otherwise multiplies every process's loss by the process count for models
        # that take loss kwargs: the logged loss of a 2-process run came out doubled. Plain DDP
        # averaging of per-process mean losses is the textbook semantics.
        average_tokens_across_devices=False,
        ddp_find_unused_parameters=False if all_used else None,  # None: the Trainer decides
    )


def save_strategy(train: TrainSection, early_stopping: bool) -> str:
    """Checkpoint when we evaluate: early stopping needs the two aligned to restore the best."""
    if not (train.save_checkpoints or early_stopping):
        return "no"
    return "epoch" if train.eval_every == "no" else train.eval_every


def task_metric_check(task: Task, metric: str) -> None:
    known = [*task.validation_metrics, "loss"]
    if metric not in known:
        raise ToolkitError(
            f"regularization.early_stopping.metric: {metric!r} is not a metric of "
            f"{task.name} (use one of {', '.join(known)})"
        )


def build_trainer(
    recipe: Recipe, task: Task, loaded: LoadedModel, tokenized: dict[str, Dataset],
    args: TrainingArguments,
) -> Trainer:  # fmt: skip
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer

    from toolkit.tracking import tracking_callbacks

    run_dir = RunDir(recipe.output.dir)
    callbacks = [report.RichProgress(), report.JsonlLogger(run_dir.staging.log)]
    if is_main_process():
        callbacks += tracking_callbacks(run_dir.staging.tensorboard, run_dir.mlruns)
    stopping = recipe.regularization.early_stopping
    if stopping is not None:
        callbacks.append(EarlyStoppingCallback(stopping.patience, stopping.min_delta))
    trainer = Trainer(
        model=loaded.model,
        args=args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"] if args.eval_strategy != "no" else None,
        processing_class=loaded.tokenizer,
        data_collator=task.collator(loaded.tokenizer),
        compute_metrics=task.compute_metrics,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # RichProgress shows the same, readably
    return trainer
