"""`train.refit`: once validation has chosen how long to train, train again on train + validation.

The selection run (the normal run, with early stopping if the recipe asks) picks the training
length: the epoch of its best evaluation, or all its epochs without early stopping. The refit
starts from the same starting weights (same checkpoint, same seed) and trains on the train and
validation rows for that many epochs, counted in optimizer steps over the larger set. The test
split is never seen by either. The validation scores are the selection model's: the refit model
has trained on those rows.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from toolkit.console import console

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments


@dataclass(frozen=True)
class Selection:
    """What the selection run chose: the length to train for and the validation scores there."""

    best_step: int
    epochs: float  # fractional when the best evaluation fell inside an epoch (eval_every: steps)
    validation: dict[str, float]  # the evaluation at best_step, as the Trainer logged it

    def as_json(self) -> dict:
        return {"best_step": self.best_step, "epochs": round(self.epochs, 4), **self.validation}


def selection(trainer: Trainer, train_rows: int) -> Selection:
    """The best evaluation's step (early stopping) or the last step, in epochs of `train_rows`."""
    state = trainer.state
    best = state.best_global_step or state.global_step
    evaluations = [e for e in state.log_history if "eval_loss" in e and e.get("step") == best]
    scores = {
        k: v for k, v in (evaluations[-1] if evaluations else {}).items() if k.startswith("eval_")
    }
    epochs = best / steps_per_epoch(trainer.args, train_rows)
    return Selection(best, epochs, {k: float(v) for k, v in scores.items()})


def steps_per_epoch(args: TrainingArguments, rows: int) -> int:
    """Optimizer steps in one pass over `rows` (the Trainer's own count: a last short batch)."""
    batches = math.ceil(rows / (args.per_device_train_batch_size * args.world_size))
    return max(1, math.ceil(batches / args.gradient_accumulation_steps))


def refit_arguments(args: TrainingArguments, steps: int) -> TrainingArguments:
    """The selection run's arguments for a fixed-length run: no evaluation, no checkpoints."""
    return dataclasses.replace(
        args,
        max_steps=steps,
        eval_strategy="no",
        save_strategy="no",
        load_best_model_at_end=False,
        metric_for_best_model=None,
        greater_is_better=None,
    )


def refit_rows(tokenized: dict[str, Dataset]) -> Dataset:
    """The train rows followed by the validation rows (tokenized the same way)."""
    from datasets import concatenate_datasets

    return concatenate_datasets([tokenized["train"], tokenized["validation"]])


def refit_plan(chosen: Selection, args: TrainingArguments, rows: int) -> int:
    """Optimizer steps of the refit: the chosen epochs over the larger set, at least one."""
    steps = max(1, round(chosen.epochs * steps_per_epoch(args, rows)))
    console.print(
        f"[bold]refit[/] on {rows:,} train + validation rows for {steps:,} steps "
        f"({chosen.epochs:.2f} epochs: the selection run's best, at step {chosen.best_step:,})"
    )
    return steps
