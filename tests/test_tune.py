"""`toolkit tune`: trials shared by workers on one study, a killed worker's trials resumed, the
best recipe validated and run, pruning, and every bad input refused before anything is made."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from conftest import fails_cleanly, make_recipe, run_ok
from optuna.trial import TrialState
from sqlalchemy.exc import OperationalError

ROOT = Path(__file__).resolve().parents[1]
FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
SPACE = {
    "train.learning_rate": {"log_uniform": [1.0e-4, 3.0e-3]},
    "train.batch_size": {"choice": [8, 16]},
}


def tune_recipe(tmp_path: Path, tiny_models, toy_csv, name: str = "r.yaml", **tune) -> Path:
    """Four optimizer steps, an evaluation every two (so pruning has something to judge)."""
    return make_recipe(
        tmp_path / name, tiny_models["bert"], toy_csv, tmp_path / "run",
        train={"max_steps": 4, "eval_every": "steps", "eval_steps": 2, "logging_steps": 2},
        eval={"splits": ["validation"]},
        tune={"space": SPACE, "heartbeat": 1, **tune},
    )  # fmt: skip


def wait_for(condition, seconds: float = 180) -> None:
    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


def trials_of(url: str) -> list:
    try:
        return optuna.load_study(study_name="s", storage=url).get_trials(deepcopy=False)
    except (KeyError, OperationalError):  # no study yet, or its tables are being made
        return []


@pytest.fixture(autouse=True)
def no_mlflow(monkeypatch) -> None:
    """Every trial is a run; these tests are not about tracking (MLflow's start-up is slow)."""
    monkeypatch.setenv("DISABLE_MLFLOW_INTEGRATION", "true")


def test_workers_share_a_study_a_killed_worker_is_taken_over_and_the_best_recipe_runs(
    tmp_path, tiny_models, toy_csv, runner
):
    recipe = tune_recipe(tmp_path, tiny_models, toy_csv)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    out = tmp_path / "tune"
    args = ["tune", recipe, "--trials", "4", "--storage", url, "--study", "s", "--out", out]
    command = [sys.executable, "-m", "toolkit", *map(str, args)]
    # Worker 1, a process of its own, finishes a trial and is killed in its second; worker 2,
    # this process, then runs the same command on the same study and finishes it.
    one = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(
            lambda: {t.state for t in trials_of(url)} >= {TrialState.COMPLETE, TrialState.RUNNING}
        )
    finally:
        one.kill()
        one.wait()
    output = run_ok(runner, args)
    assert one.returncode == -signal.SIGKILL
    trials = trials_of(url)
    numbers = [t.number for t in trials]
    assert len(set(numbers)) == len(numbers)
    assert sum(t.state in FINISHED for t in trials) == 4  # across both workers, not 4 each
    [killed] = [t for t in trials if t.state != TrialState.COMPLETE]  # none left RUNNING
    assert killed.state == TrialState.FAIL and killed.user_attrs["worker"].endswith(f":{one.pid}")
    ours = [t for t in trials if t.user_attrs["worker"].endswith(f":{os.getpid()}")]
    assert len(ours) == 3 and min(t.number for t in ours) > killed.number  # numbering goes on
    assert killed.params in [t.params for t in ours]  # the killed trial's values, run again
    assert not list(out.glob(".trial_*.partial"))
    csv_rows = (out / "trials.csv").read_text().splitlines()
    assert len(csv_rows) == len(trials) + 1 and "train.learning_rate" in csv_rows[0]
    assert "trials (accuracy" in output
    assert (out / "optimization_history.png").stat().st_size > 1000
    assert "<table" in (out / "tune_report.html").read_text()
    study = optuna.load_study(study_name="s", storage=url)
    best = yaml.safe_load((out / "best_recipe.yaml").read_text())
    assert "tune" not in best and best["output"]["dir"] == str(tmp_path / "run")
    assert best["train"]["learning_rate"] == study.best_params["train.learning_rate"]
    run_ok(runner, ["validate", out / "best_recipe.yaml"])
    run_ok(runner, ["run", out / "best_recipe.yaml"])
    assert (tmp_path / "run" / "metrics.json").is_file()


def test_two_workers_started_together_split_the_trials_between_them(tmp_path, tiny_models, toy_csv):
    """Optuna's distributed mode as a user runs it: the same command on two machines at once
    (here two processes), one study; each worker runs some trials and the total is as asked."""
    recipe = tune_recipe(tmp_path, tiny_models, toy_csv)
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    args = ["tune", recipe, "--trials", "4", "--storage", url, "--study", "s", "--out"]
    command = [sys.executable, "-m", "toolkit", *map(str, args)]
    workers = [
        subprocess.Popen([*command, str(tmp_path / f"tune{i}")], cwd=ROOT, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        for i in (1, 2)
    ]  # fmt: skip
    outputs = [worker.communicate(timeout=300)[0] for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], outputs
    trials = trials_of(url)
    numbers = [t.number for t in trials]
    assert len(set(numbers)) == len(numbers) and len(trials) == 4, numbers
    assert all(t.state in FINISHED for t in trials)
    pids = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in trials}
    assert pids == {str(worker.pid) for worker in workers}, pids  # both took part


def test_a_pruned_trial_is_recorded_as_pruned_and_leaves_nothing(
    tmp_path, tiny_models, toy_csv, runner
):
    # accuracy is never above 1.01, so the threshold pruner stops the trial at its first evaluation
    recipe = tune_recipe(tmp_path, tiny_models, toy_csv, pruner="threshold", threshold=1.01)
    output = run_ok(runner, ["tune", recipe, "--trials", "1"])
    tune_dir = tmp_path / "run-tune"
    study = optuna.load_study(study_name="run-tune", storage=f"sqlite:///{tune_dir / 'study.db'}")
    [trial] = study.get_trials()
    assert trial.state == TrialState.PRUNED and list(trial.intermediate_values) == [2]
    assert "no trial completed" in output and not (tune_dir / "best_recipe.yaml").exists()
    assert not (tune_dir / "trial_000").exists() and not (tune_dir / ".trial_000.partial").exists()
    assert "PRUNED" in (tune_dir / "trials.csv").read_text()
    # a recipe with a tune section is still a plain recipe for validate and run
    run_ok(runner, ["validate", recipe])
    assert "dry run" in run_ok(runner, ["run", recipe, "--dry-run"]).lower()


BAD_SPACES = [
    ({"train.learnin_rate": {"uniform": [0.1, 0.2]}}, "did you mean 'train.learning_rate'"),
    ({"train.learning_rate": {"log_uniform": [3.0e-4, 1.0e-5]}}, "the range is empty"),
    ({"train.learning_rate": {"uniform": [1, 1]}}, "the range is empty"),
    ({"train.learning_rate": {"log_uniform": [0, 1.0e-3]}}, "low must be above 0"),
    ({"train.epochs": {"choice": []}}, "non-empty list"),
    ({"train.epochs": {"choice": ["a", "b"]}}, "is not a valid train.epochs"),
    ({"train.epochs": {"choise": [1, 2]}}, "did you mean 'choice'"),
    ({"train.batch_size": {"uniform": [8, 32]}}, "is not a valid train.batch_size"),
]


@pytest.mark.parametrize(("space", "expected"), BAD_SPACES)
def test_a_bad_space_is_one_line_naming_the_key(tmp_path, space, expected, runner):
    recipe = make_recipe(
        tmp_path / "r.yaml", "model", "data.csv", tmp_path / "run", tune={"space": space}
    )
    key = f"tune.space.{next(iter(space))}"
    for command in (["validate", recipe], ["tune", recipe, "--trials", "2"]):
        fails_cleanly(runner, command, key, expected, lines=1, absent=[tmp_path / "run-tune"])


def test_bad_tune_arguments_are_refused_before_anything_is_made(tmp_path, runner):
    recipe = make_recipe(
        tmp_path / "r.yaml", "model", "data.csv", tmp_path / "run", tune={"space": SPACE}
    )
    plain = make_recipe(tmp_path / "plain.yaml", "model", "data.csv", tmp_path / "run")
    made = [tmp_path / "run-tune", tmp_path / "out", tmp_path / "no"]
    cases = [
        (["tune", recipe, "--trials", "0"], "--trials"),
        (["tune", recipe, "--trials", "-3"], "--trials"),
        (["tune", plain, "--trials", "2"], "no tune: section"),
        (["tune", recipe, "--trials", "2", "--set", "tune.metric=acuracy"], "did you mean"),
        (["tune", recipe, "--trials", "2", "--storage", "not a url"], "--storage"),
        (["tune", recipe, "--trials", "2", "--storage", f"sqlite:///{tmp_path}/no/s.db"],
         "cannot open the study storage"),
        (["tune", recipe, "--trials", "2", "--storage", "postgresql://u:secret@127.0.0.1:9/d"],
         "cannot open the study storage"),
    ]  # fmt: skip
    for args, expected in cases:
        output = fails_cleanly(runner, args, expected, lines=1, absent=made)
        assert "secret" not in output
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    args = ["tune", recipe, "--trials", "2", "--out", tmp_path / "mine"]
    fails_cleanly(runner, args, "did not write", lines=1)
    assert [p.name for p in (tmp_path / "mine").iterdir()] == ["notes.txt"]
