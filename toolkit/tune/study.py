"""`tune(recipe, trials)`: the storage, the study, the objective and the trials.

Every worker (a `toolkit tune` process, on this machine or another sharing `--storage`) runs
trials of one Optuna study until `trials` of them have finished (completed or pruned). A worker
that was killed leaves a RUNNING trial whose heartbeat stops: once it is silent for twice the
heartbeat interval Optuna marks it failed and queues its parameters again.
"""

from __future__ import annotations

import json
import os
import socket
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import optuna
from optuna.trial import TrialState

from toolkit.console import console
from toolkit.errors import ToolkitError
from toolkit.recipe.schema import Recipe
from toolkit.recipe.tune import TuneSection
from toolkit.rundir import RunDir
from toolkit.tasks.registry import get_task
from toolkit.tune.pruning import PruningCallback, make_pruner
from toolkit.tune.results import write_results
from toolkit.tune.space import base_recipe, check_candidates, suggest, trial_recipe
from toolkit.tune.tunedir import TuneDir

if TYPE_CHECKING:
    from optuna.storages import RDBStorage

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


def tune(
    recipe_file: Path, trials: int, storage: str | None = None, study_name: str | None = None,
    out: str | Path | None = None, overrides: list[str] | None = None,
) -> TuneDir:  # fmt: skip
    """Run the recipe's search until `trials` trials of the study have finished; write the best
    recipe, trials table, plots and report into the tune directory, which is returned."""
    source = str(recipe_file)
    raw, recipe = base_recipe(Path(recipe_file), overrides)
    section = require_section(recipe, source, trials)
    task_metrics = get_task(recipe.task.name).validation_metrics
    metric = section.objective_metric(task_metrics)
    check_metric_source(recipe, metric)
    check_candidates(raw, section.space, source)
    tune_dir = TuneDir(
        out or f"{RunDir(recipe.output.dir).path}-tune", "--out" if out else "output.dir"
    )
    tune_dir.check(recipe.local_inputs(Path(recipe_file)))
    store = connect(storage, section.heartbeat) if storage else None  # before anything is made
    tune_dir.create()
    store = store or connect(tune_dir.default_storage, section.heartbeat)
    maximise = section.maximise(task_metrics)
    study = open_study(store, study_name or tune_dir.path.name, metric, maximise, section)
    objective = Objective(raw, section, tune_dir, metric, source)
    run_trials(study, objective, trials, section.heartbeat)
    for failed in study.get_trials(deepcopy=False, states=(TrialState.FAIL,)):
        tune_dir.drop_staging(failed.number)  # a killed worker's half-written trial
    write_results(study, tune_dir, raw, metric, source)
    return tune_dir


def require_section(recipe: Recipe, source: str, trials: int) -> TuneSection:
    if trials < 1:
        raise ToolkitError(f"--trials: give a positive number of trials (got {trials})")
    if recipe.tune is None:
        raise ToolkitError(
            f"{source}: no tune: section; add tune.space (the keys to search), see README.md "
            "'Hyper-parameter search'"
        )
    return recipe.tune


def check_metric_source(recipe: Recipe, metric: str) -> None:
    """A trial's value comes from the validation scores, or (loss) from the evaluations."""
    evaluates = recipe.train.eval_every != "no"
    scored = metric != "loss" and "validation" in recipe.eval.splits
    if not (evaluates or scored):
        raise ToolkitError(
            f"tune.metric: {metric} is read from the evaluations while training; set "
            "train.eval_every (epoch or steps)"
        )


def connect(url: str, heartbeat: int) -> RDBStorage:
    """Optuna's RDB storage at `url` with a heartbeat; any failure is one line naming the URL
    (its password hidden), and nothing has been created by then."""
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback
    from sqlalchemy.exc import SQLAlchemyError

    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)  # the heartbeat is "experimental"
            return RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=heartbeat,
                grace_period=2 * heartbeat,
                heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=2),
            )  # fmt: skip
    except (ImportError, SQLAlchemyError, ValueError, RuntimeError) as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        driver = " (postgresql: `pip install psycopg2-binary`)" if "import" in reason else ""
        raise ToolkitError(
            f"--storage {shown_url(url)}: cannot open the study storage: {reason}{driver}"
        ) from None


def shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)[:200]
    except (ArgumentError, ValueError):
        return url[:200]


def open_study(
    storage: RDBStorage, name: str, metric: str, maximise: bool, section: TuneSection
) -> optuna.Study:
    """The study `name`, created on first use; one that optimises another metric is refused."""
    direction = "maximize" if maximise else "minimize"
    pruner = make_pruner(section, maximise)
    study = optuna.create_study(
        storage=storage, study_name=name, direction=direction, pruner=pruner, load_if_exists=True
    )
    known = study.user_attrs.get("metric", metric)
    if known != metric or study.direction.name.lower() != direction:
        raise ToolkitError(
            f"--study {name}: that study optimises {known} ({study.direction.name.lower()}), "
            f"not {metric}; choose another --study or --out"
        )
    study.set_user_attr("metric", metric)
    return study


def run_trials(study: optuna.Study, objective: Objective, trials: int, heartbeat: int) -> None:
    """One trial at a time until `trials` have finished across every worker. A worker starts
    none while the running ones would reach the total: it waits for them to finish, or for
    their heartbeat to go stale (then Optuna fails them and queues them again)."""
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import fail_stale_trials

    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            fail_stale_trials(study)
        running = study.get_trials(deepcopy=False, states=(*FINISHED, TrialState.RUNNING))
        done = sum(trial.state in FINISHED for trial in running)
        if done >= trials:
            return
        if len(running) >= trials:
            time.sleep(min(heartbeat, 5))
            continue
        study.optimize(objective, n_trials=1, gc_after_trial=True)


class Objective:
    """One trial: the base recipe with suggested values, trained in this process into
    `<tune dir>/trial_NNN`; its value is the run's validation score of the metric."""

    def __init__(
        self, base: dict, section: TuneSection, tune_dir: TuneDir, metric: str, source: str
    ) -> None:
        self.base, self.space, self.tune_dir = base, section.space, tune_dir
        self.metric, self.source = metric, source

    def __call__(self, trial: optuna.Trial) -> float:
        from toolkit.train import run

        params = suggest(trial, self.space)
        run_dir = self.tune_dir.trial(trial.number)
        recipe = trial_recipe(self.base, params, run_dir.path, self.source)
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}")
        console.print(f"[bold]trial {trial.number}[/] {params}")
        pruning = PruningCallback(trial, self.metric)
        try:
            run(recipe, overwrite=True, callbacks=[pruning])
        finally:  # pruned, failed or interrupted: no half-written run is left beside it
            self.tune_dir.drop_staging(trial.number)
        return trial_value(run_dir, recipe, self.metric, pruning.values)


def trial_value(run_dir: RunDir, recipe: Recipe, metric: str, seen: list[float]) -> float:
    """The finished run's validation score of `metric` (the published model's: with early
    stopping, the best evaluation's); loss, which is not scored, from the evaluations."""
    scores = json.loads(run_dir.metrics.read_text(encoding="utf-8")).get("validation", {})
    value = scores.get(metric)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not seen:
        raise ToolkitError(f"tune.metric: trial {run_dir.path} has no validation {metric}")
    stopping = recipe.regularization.early_stopping
    if stopping is None or stopping.metric != metric:
        return seen[-1]  # the published model is the last one
    return min(seen) if metric == "loss" else max(seen)
