"""The transformers Trainer of a run: its TrainingArguments from the recipe, its callbacks,
and the task's loss where the task brings one (class weights)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.launch import inside_launcher, is_main_process
from toolkit.precision import cuda_available
from toolkit.recipe.schema import Recipe, TrainSection
from toolkit.report import training as report
from toolkit.rundir import RunDir

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from toolkit.models import LoadedModel
    from toolkit.tasks.base import Task


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


def build_trainer(
    recipe: Recipe, task: Task, loaded: LoadedModel, tokenized: dict[str, Dataset],
    args: TrainingArguments, extra_callbacks: Sequence[TrainerCallback] = (),
) -> Trainer:  # fmt: skip
    """The run's Trainer; `extra_callbacks` come from the caller (`toolkit tune`'s pruning)."""
    from transformers import EarlyStoppingCallback, PrinterCallback, Trainer

    from toolkit.tracking import tracking_callbacks

    run_dir = RunDir(recipe.output.dir)
    callbacks = [report.RichProgress(), report.JsonlLogger(run_dir.staging.log)]
    if is_main_process():
        callbacks += tracking_callbacks(run_dir.staging.tensorboard, run_dir.mlruns)
    stopping = recipe.regularization.early_stopping
    if stopping is not None and args.load_best_model_at_end:  # not in a refit
        callbacks.append(EarlyStoppingCallback(stopping.patience, stopping.min_delta))
    callbacks += extra_callbacks
    trainer = Trainer(
        model=loaded.model,
        args=args,
        train_dataset=tokenized["train"],
        eval_dataset=tokenized["validation"] if args.eval_strategy != "no" else None,
        processing_class=loaded.tokenizer,
        data_collator=task.collator(loaded.tokenizer),
        compute_metrics=task.compute_metrics,
        compute_loss_func=task.compute_loss,  # None: the model's own loss (and label smoothing)
        optimizer_cls_and_kwargs=per_layer_optimizer(recipe, loaded),
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # RichProgress shows the same, readably
    return trainer


def per_layer_optimizer(recipe: Recipe, loaded: LoadedModel) -> tuple[type, dict] | None:
    """AdamW over per-layer learning-rate groups (toolkit/optim.py); None: the Trainer's own."""
    train = recipe.train
    if (train.layer_lr_decay, train.head_lr_multiplier) == (1.0, 1.0):
        return None
    import torch

    from toolkit.optim import parameter_groups

    groups = parameter_groups(
        loaded.model, loaded.family, train.learning_rate, recipe.regularization.weight_decay,
        train.layer_lr_decay, train.head_lr_multiplier,
    )  # fmt: skip
    return torch.optim.AdamW, {"params": groups, "lr": train.learning_rate}
