"""Pruning: each Trainer evaluation is reported to the Optuna trial, which may stop it there."""

from __future__ import annotations

from typing import TYPE_CHECKING

import optuna
from transformers import TrainerCallback

if TYPE_CHECKING:
    from transformers import TrainerControl, TrainerState, TrainingArguments

    from toolkit.recipe.tune import TuneSection


class PruningCallback(TrainerCallback):
    """Reports `eval_<metric>` at each evaluation (step = the optimizer step) and raises
    `optuna.TrialPruned` when the study's pruner says the trial is not worth finishing."""

    def __init__(self, trial: optuna.Trial, metric: str) -> None:
        self.trial = trial
        self.metric = metric
        self.values: list[float] = []  # every evaluation's value, in order

    def on_evaluate(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
        metrics: dict[str, float] | None = None, **kwargs: object,
    ) -> None:  # fmt: skip
        value = (metrics or {}).get(f"eval_{self.metric}")
        if value is None:
            return
        self.values.append(float(value))
        self.trial.report(float(value), state.global_step)
        if self.trial.should_prune():
            raise optuna.TrialPruned(
                f"pruned at step {state.global_step} ({self.metric} {float(value):.4f})"
            )


def make_pruner(section: TuneSection, maximise: bool) -> optuna.pruners.BasePruner:
    """The recipe's pruner: Optuna's MedianPruner, ThresholdPruner or none."""
    if section.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=section.startup_trials, n_warmup_steps=section.warmup_steps
        )
    if section.pruner == "threshold":
        side = "lower" if maximise else "upper"  # worse than the threshold: below, or above
        return optuna.pruners.ThresholdPruner(**{side: section.threshold})
    return optuna.pruners.NopPruner()
