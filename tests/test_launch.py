"""Multi-process runs (DDP over gloo on CPU, started by `--num-processes` through accelerate
launch, or by torchrun) and kill-and-resume, through the real CLI in subprocesses."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import make_recipe

from toolkit.checkpoints import is_complete, newest_complete

TOOLKIT = [sys.executable, "-m", "toolkit"]
# Launched processes meet on one rendezvous port: under pytest-xdist these tests share a worker.
pytestmark = pytest.mark.xdist_group("processes")
TRAIN_ROWS = 168  # toy_csv's 240 rows less 15% validation and 15% test


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def metrics_of(run: Path) -> dict:
    return json.loads((run / "metrics.json").read_text())


def check_ddp_run(run: Path, batch: int, epochs: int) -> None:
    """Two processes trained; the run dir was written once; steps follow the effective batch."""
    train = metrics_of(run)["train"]
    assert train["world_size"] == 2
    assert train["global_step"] == math.ceil(TRAIN_ROWS / (batch * 2)) * epochs
    # events.out.tfevents.<time>.<host>.<pid>.<n>: the main process alone wrote TensorBoard
    # (the training curves, then the held-out scores in a second file)
    events = list((run / "tensorboard").glob("events.*"))
    assert events and len({name.name.split(".")[-2] for name in events}) == 1, events
    assert not list(run.parent.glob(f".{run.name}.partial"))


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 CPU cores")
def test_two_processes_through_num_processes(tiny_models, toy_csv, tmp_path):
    run = tmp_path / "run"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, run,
                         train={"epochs": 2, "batch_size": 8})  # fmt: skip
    dry = cli(*TOOLKIT, "run", str(recipe), "--num-processes", "2", "--dry-run")
    assert dry.returncode == 0 and "× 2 processes" in dry.stderr + dry.stdout
    done = cli(*TOOLKIT, "run", str(recipe), "--num-processes", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    check_ddp_run(run, batch=8, epochs=2)
    terminal = done.stderr + done.stdout  # the toolkit's own lines, no library warnings
    for chatter in ("find_unused_parameters", "were not passed to `accelerate launch`", "W1"):
        assert chatter not in terminal, terminal
    # the gathered metrics equal a one-process evaluation of the saved model
    scored = cli(*TOOLKIT, "eval", str(run), "--split", "test")
    assert scored.returncode == 0, scored.stderr[-2000:]
    again = json.loads((run / "eval" / "test.json").read_text())
    assert again["accuracy"] == pytest.approx(metrics_of(run)["test"]["accuracy"])


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 CPU cores")
def test_torchrun_starts_the_same_run(tiny_models, toy_csv, tmp_path):
    run = tmp_path / "run"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, run,
                         train={"batch_size": 8})  # fmt: skip
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    done = cli(*torchrun, "-m", "toolkit", "run", str(recipe))
    assert done.returncode == 0, done.stderr[-3000:]
    check_ddp_run(run, batch=8, epochs=1)


def test_too_many_processes_is_refused(tiny_models, toy_csv, tmp_path):
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, tmp_path / "run")
    done = cli(*TOOLKIT, "run", str(recipe), "--num-processes", "512")
    assert done.returncode == 2
    assert "--num-processes 512: this machine has" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (tmp_path / "run").exists()


def resumable_recipe(tmp_path, tiny_models, toy_csv, run):
    return make_recipe(
        tmp_path / f"{run.name}.yaml", tiny_models["bert"], toy_csv, run,
        train={"epochs": 4, "batch_size": 8, "eval_every": "steps", "eval_steps": 6,
               "save_checkpoints": True, "logging_steps": 6},
    )  # fmt: skip


def test_kill_and_resume_matches_an_uninterrupted_run(tiny_models, toy_csv, tmp_path):
    whole = tmp_path / "whole"
    done = cli(*TOOLKIT, "run", str(resumable_recipe(tmp_path, tiny_models, toy_csv, whole)))
    assert done.returncode == 0, done.stderr[-3000:]

    run = tmp_path / "killed"
    recipe = resumable_recipe(tmp_path, tiny_models, toy_csv, run)
    checkpoints = tmp_path / ".killed.partial" / "checkpoints"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([*TOOLKIT, "run", str(recipe)], env=env, **quiet)
    deadline = time.time() + 120
    while time.time() < deadline and newest_complete(checkpoints) is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not run.exists(), "the run finished before it could be killed"
    newest = newest_complete(checkpoints)
    assert newest is not None and is_complete(newest)

    resumed = cli(*TOOLKIT, "run", str(recipe), "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stderr + resumed.stdout
    a, b = metrics_of(whole), metrics_of(run)
    assert a["train"]["global_step"] == b["train"]["global_step"]
    assert b["train"]["train_loss"] == pytest.approx(a["train"]["train_loss"], abs=1e-3)
    for split in ("validation", "test"):
        assert b[split]["accuracy"] == pytest.approx(a[split]["accuracy"])
        assert b[split]["f1_macro"] == pytest.approx(a[split]["f1_macro"], abs=1e-6)


def test_resume_bad_input(tiny_models, toy_csv, tmp_path):
    run = tmp_path / "run"
    recipe = resumable_recipe(tmp_path, tiny_models, toy_csv, run)
    nothing = cli(*TOOLKIT, "run", str(recipe), "--resume")
    assert nothing.returncode == 2 and "no interrupted run" in nothing.stderr
    staging = tmp_path / ".run.partial"
    (staging / "checkpoints" / "checkpoint-6").mkdir(parents=True)  # killed while saving
    (staging / "recipe.yaml").write_text("something else\n")
    changed = cli(*TOOLKIT, "run", str(recipe), "--resume")
    assert changed.returncode == 2 and "the recipe changed" in changed.stderr
    from toolkit.recipe.load import load_recipe

    (staging / "recipe.yaml").write_text(load_recipe(recipe).to_yaml())
    empty = cli(*TOOLKIT, "run", str(recipe), "--resume")
    assert empty.returncode == 2 and "no complete checkpoint" in empty.stderr
    assert not run.exists()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 CPU cores")
def test_accelerate_config_file_starts_the_processes_it_names(tiny_models, toy_csv, tmp_path):
    config = tmp_path / "ddp.yaml"
    config.write_text(
        "compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nnum_machines: 1\n"
        "num_processes: 2\nmachine_rank: 0\nmixed_precision: 'no'\nuse_cpu: false\n"
    )
    run = tmp_path / "run"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, run,
                         train={"batch_size": 8})  # fmt: skip
    done = cli(*TOOLKIT, "run", str(recipe), "--accelerate-config", str(config))
    assert done.returncode == 0, done.stderr[-3000:]
    check_ddp_run(run, batch=8, epochs=1)
    missing = cli(*TOOLKIT, "run", str(recipe), "--accelerate-config", str(tmp_path / "no.yaml"))
    assert missing.returncode == 2 and "no.yaml not found" in missing.stderr
