"""Ctrl-C during a run (one line: nothing published, what is kept, how to resume; exit 130; the
lock released), the terminal kept to the toolkit's own lines, and disk: checkpoints bounded
while training, deleted when the run is published unless kept, and a run refused early when
they would not fit."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import pytest
from conftest import fails_cleanly, make_recipe, run_ok

from toolkit.checkpoints import newest_complete
from toolkit.disk import size
from toolkit.tracking import mlflow_wanted

TOOLKIT = [sys.executable, "-m", "toolkit"]
CHECKPOINTING = {"epochs": 2, "batch_size": 8, "eval_every": "steps", "eval_steps": 6,
                 "save_checkpoints": True, "logging_steps": 6}  # fmt: skip


def checkpointing_recipe(tmp_path, tiny_models, toy_csv, **train) -> Path:
    return make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, tmp_path / "run",
                       train={**CHECKPOINTING, **train})  # fmt: skip


def assert_unlocked(tmp_path: Path) -> None:
    from filelock import FileLock

    assert not (tmp_path / ".run.lock.json").exists()
    FileLock(str(tmp_path / ".run.lock"), timeout=0).acquire(timeout=0)  # free again


def assert_interrupt_line(output: str, *expected: str) -> str:
    lines = [line for line in output.strip().splitlines() if line.startswith("interrupted: ")]
    assert len(lines) == 1 and "Traceback" not in output, output
    for text in expected:
        assert text in lines[0], output
    return lines[0]


def test_ctrl_c_mid_training_keeps_the_staging_dir_and_says_how_to_resume(
    tiny_models, toy_csv, tmp_path
):
    # 20 epochs: the interrupt comes at the first checkpoint, long before the run could end,
    # however slowly this loop sees that checkpoint on a busy machine (the run is cut short)
    recipe = checkpointing_recipe(tmp_path, tiny_models, toy_csv, epochs=20)
    checkpoints = tmp_path / ".run.partial" / "checkpoints"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    # A shell's background job inherits SIGINT ignored (and Python then keeps ignoring it): give
    # the run the default handling a terminal's Ctrl-C meets, however the suite was started.
    process = subprocess.Popen(
        [*TOOLKIT, "run", str(recipe)], env=env, cwd=tmp_path, **pipes,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip
    deadline = time.time() + 120
    while time.time() < deadline and newest_complete(checkpoints) is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-3000:]
    assert not (tmp_path / "run").exists(), "the run finished before it could be interrupted"
    line = assert_interrupt_line(
        out + err, f"nothing was published at {tmp_path / 'run'}", f"kept {checkpoints.parent}",
        "with checkpoint checkpoint-", f"resume with: toolkit run {recipe} --resume",
    )  # fmt: skip
    assert_unlocked(tmp_path)
    if mlflow_wanted():  # and no library chatter: MLflow's "Creating a new experiment" INFO line
        assert "INFO" not in err and "Experiment with name" not in err, err
    # the command it names is the plain resume of this recipe (test_launch.py resumes a killed
    # run from the same staging directory and checks it ends as an uninterrupted one)
    command = shlex.split(line.split("resume with: ", 1)[1])
    assert command == ["toolkit", "run", str(recipe), "--resume"]


def test_ctrl_c_while_tokenizing_keeps_nothing(tiny_models, toy_csv, tmp_path, runner, monkeypatch):
    import toolkit.train

    recipe = checkpointing_recipe(tmp_path, tiny_models, toy_csv)
    monkeypatch.setattr(toolkit.train, "tokenize", interrupt)
    result = runner.invoke(app(), ["run", str(recipe)])
    assert result.exit_code == 130, result.output
    assert_interrupt_line(result.output, "nothing was published", "; nothing was kept")
    assert not (tmp_path / "run").exists() and not (tmp_path / ".run.partial").exists()
    assert_unlocked(tmp_path)


def test_ctrl_c_while_scoring_at_the_end(tiny_models, toy_csv, tmp_path, runner, monkeypatch):
    import toolkit.train

    recipe = checkpointing_recipe(tmp_path, tiny_models, toy_csv, epochs=1)
    monkeypatch.setattr(toolkit.train, "score_splits", interrupt)
    result = runner.invoke(app(), ["run", str(recipe), "--set", "train.seed=3"])
    assert result.exit_code == 130, result.output
    assert_interrupt_line(
        result.output, "with checkpoint checkpoint-21",
        f"resume with: toolkit run {recipe} --set=train.seed=3 --resume",
    )  # fmt: skip
    assert not (tmp_path / "run").exists() and (tmp_path / ".run.partial").is_dir()
    assert_unlocked(tmp_path)


def test_ctrl_c_without_checkpoints_says_none_was_saved(
    tiny_models, toy_csv, tmp_path, runner, monkeypatch
):
    import toolkit.train

    recipe = checkpointing_recipe(tmp_path, tiny_models, toy_csv, epochs=1, save_checkpoints=False)
    monkeypatch.setattr(toolkit.train, "score_splits", interrupt)
    result = runner.invoke(app(), ["run", str(recipe)])
    assert result.exit_code == 130, result.output
    line = assert_interrupt_line(result.output, "no checkpoint was saved yet")
    assert "--resume" not in line


def test_processes_a_relaunch_started_leave_the_line_to_it(
    tiny_models, toy_csv, tmp_path, runner, monkeypatch
):
    import toolkit.train

    recipe = checkpointing_recipe(tmp_path, tiny_models, toy_csv)
    monkeypatch.setattr(toolkit.train, "tokenize", interrupt)
    monkeypatch.setenv("TOOLKIT_RELAUNCHED", "1")
    result = runner.invoke(app(), ["run", str(recipe)])
    assert result.exit_code == 130 and "interrupted" not in result.output, result.output


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 CPU cores")
@pytest.mark.xdist_group("processes")  # one rendezvous port (test_launch.py)
def test_an_error_in_the_processes_is_one_line_not_one_per_process(tiny_models, tmp_path):
    missing = tmp_path / "missing.csv"  # found missing inside the processes, not before them
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], missing, tmp_path / "run")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [*TOOLKIT, "run", str(recipe), "--num-processes", "2"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: data.train: "), done.stderr[-3000:]
    assert str(missing) in lines[0] and not (tmp_path / "run").exists()


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


def app():
    from toolkit.cli import app

    return app


# --- chatter ------------------------------------------------------------------------------------


def test_ddp_skips_the_unused_parameter_search_only_where_every_parameter_is_used(tiny_models):
    from types import SimpleNamespace

    from transformers import AutoConfig

    from toolkit.launch import every_parameter_used

    def loaded(**config):
        base = AutoConfig.from_pretrained(tiny_models["bert"])
        base.update(config)
        return SimpleNamespace(model=SimpleNamespace(config=base))

    assert every_parameter_used(loaded())
    assert not every_parameter_used(loaded(layerdrop=0.1))
    assert not every_parameter_used(loaded(num_local_experts=8))
    two = SimpleNamespace(config=SimpleNamespace(encoder={}, decoder={}))  # EncoderDecoderModel
    assert not every_parameter_used(SimpleNamespace(model=two))  # bert2bert: the pooler is unused


# --- disk -------------------------------------------------------------------------------------


def test_checkpoints_are_bounded_while_training_and_kept_only_when_asked(
    tiny_models, toy_csv, tmp_path, runner
):
    stopping = {"early_stopping": {"metric": "loss", "patience": 100}}
    recipe = checkpointing_recipe(tmp_path, tiny_models, toy_csv, epochs=1, keep_checkpoints=True)
    run_ok(runner, ["run", recipe, "--set", "regularization=" + json.dumps(stopping)])
    kept = sorted((tmp_path / "run" / "checkpoints").glob("checkpoint-*"))
    state = json.loads((kept[-1] / "trainer_state.json").read_text())
    best = Path(state["best_model_checkpoint"]).name
    assert 1 <= len(kept) <= 2 and best in [k.name for k in kept]  # save_total_limit 1 + the best
    recipe = checkpointing_recipe(tmp_path, tiny_models, toy_csv, epochs=1)
    run_ok(runner, ["run", recipe, "--overwrite"])
    assert not (tmp_path / "run" / "checkpoints").exists()  # gone once published


def test_too_little_disk_space_is_refused_before_anything_is_written(
    tiny_models, toy_csv, tmp_path, runner, monkeypatch
):
    import shutil

    recipe = checkpointing_recipe(tmp_path, tiny_models, toy_csv)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**9, 10**9 - 5000, 5000))
    weights = 27_490 * 4  # the tiny BERT: 27,490 fp32 parameters
    fails_cleanly(
        runner, ["run", recipe], f"not enough disk space in {tmp_path}: 5 kB free",
        f"a checkpoint {size(3 * weights)} (weights + 2 Adam moments)",
        f"the final model {size(weights)}", banner=True,
        absent=[tmp_path / "run", tmp_path / ".run.partial"],
    )  # fmt: skip
    assert_unlocked(tmp_path)
    without = ["--set", "train.save_checkpoints=false"]
    output = fails_cleanly(runner, ["run", recipe, *without], "needs about 110 kB (the final model",
                           banner=True)  # fmt: skip
    assert "checkpoint" not in output.splitlines()[-1]
