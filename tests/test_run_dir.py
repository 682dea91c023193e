"""The run directory's owner (toolkit/rundir.py) through the CLI: `--overwrite` replaces only a
directory a toolkit run wrote, never `/`, home, the current directory or a parent of it, nor a
directory holding the recipe, the data or the base model; `output.dir` is expanded and
normalised; one run at a time holds a directory, and a killed one does not block the next.

Every refusal must be one `error:` line naming the reason, exit code 2, no traceback, every file
that was there still there byte for byte, and nothing partial left behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import fails_cleanly, make_recipe, run_ok

from toolkit.rundir import RunDir

QUICK = {"max_steps": 1, "logging_steps": 1}  # the cheapest real run


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`, by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def leftovers(folder: Path) -> list[Path]:
    """Staging or swap directories anywhere under `folder`."""
    return [p for p in folder.rglob("*") if p.name.endswith((".partial", ".old"))]


def user_folder(folder: Path) -> Path:
    """A folder of someone's own files, no run among them."""
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("mine\n")
    (folder / "sub" / "data.bin").write_bytes(bytes(range(256)))
    return folder


def refused(runner, recipe: Path, *expected: str, root: Path, extra=("--overwrite",)) -> None:
    """`toolkit run recipe --overwrite` refuses cleanly and leaves everything under `root` as
    it was."""
    before = snapshot(root)
    fails_cleanly(runner, ["run", recipe, *extra], *expected, lines=1)
    assert snapshot(root) == before
    assert not leftovers(root)


def fake_run(folder: Path) -> Path:
    """A directory as a finished toolkit run leaves it (marker included)."""
    RunDir(folder).write_marker()
    (folder / "model").mkdir()
    (folder / "model" / "config.json").write_text("{}\n")
    (folder / "metrics.json").write_text("{}\n")
    return folder


@pytest.fixture
def recipe_into(tiny_models, toy_csv, tmp_path):
    def build(out, name="r.yaml", **sections) -> Path:
        return make_recipe(tmp_path / name, tiny_models["bert"], toy_csv, out, **sections)

    return build


@pytest.mark.parametrize("flags", [(), ("--overwrite",)])
def test_a_folder_no_run_wrote_is_never_replaced(runner, recipe_into, tmp_path, flags):
    data = user_folder(tmp_path / "data")
    recipe = recipe_into(data)
    refused(runner, recipe, "holds files no toolkit run wrote", root=tmp_path, extra=flags)


def test_root_is_refused_before_anything_is_written(runner, recipe_into, tmp_path):
    # refused by its path alone: nothing under / is looked at, let alone written
    fails_cleanly(
        runner, ["run", recipe_into("/"), "--overwrite"], "is the filesystem root", lines=1
    )


def test_home_is_refused(runner, recipe_into, tmp_path, monkeypatch):
    home = user_folder(tmp_path / "home")
    monkeypatch.setenv("HOME", str(home))
    for given in ("~", str(home)):
        recipe = recipe_into(given)
        refused(runner, recipe, "is the home directory", root=tmp_path)


def test_current_directory_and_its_parents_are_refused(runner, recipe_into, tmp_path, monkeypatch):
    project = user_folder(tmp_path / "project")
    work = project / "src" / "work"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    refused(runner, recipe_into("."), "is the current directory", root=tmp_path)
    refused(
        runner, recipe_into(str(project)), "is a parent of the current directory", root=tmp_path
    )


def test_dot_dot_is_a_clean_refusal(runner, recipe_into, tmp_path, monkeypatch):
    # it used to end in an OSError traceback and leave `....partial` behind
    work = user_folder(tmp_path / "work")
    monkeypatch.chdir(work)
    for flags in ((), ("--overwrite",)):
        recipe = recipe_into("..")
        refused(runner, recipe, "is a parent of the current directory", root=tmp_path, extra=flags)
    refused(
        runner, recipe_into(str(work / "sub" / "..")), "is the current directory", root=tmp_path
    )


def test_a_run_holding_its_own_recipe_is_not_replaced(runner, recipe_into, tmp_path):
    # `toolkit run runs/x/recipe.yaml --overwrite` with output.dir runs/x would delete its recipe
    run = fake_run(tmp_path / "runs" / "x")
    recipe = recipe_into(run, name="runs/x/recipe.yaml")
    refused(runner, recipe, "holds the recipe file", root=tmp_path)


def test_a_directory_holding_the_data_is_not_replaced(runner, tiny_models, toy_csv, tmp_path):
    folder = fake_run(tmp_path / "project")  # even one that looks like a run
    data = folder / "data" / "train.csv"
    data.parent.mkdir()
    shutil.copy(toy_csv, data)
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], data, folder)
    refused(runner, recipe, "holds data.train", root=tmp_path)


def test_a_directory_holding_the_base_model_is_not_replaced(runner, tiny_models, toy_csv, tmp_path):
    folder = fake_run(tmp_path / "project")
    base = shutil.copytree(tiny_models["bert"], folder / "base")
    recipe = make_recipe(tmp_path / "r.yaml", base, toy_csv, folder)
    refused(runner, recipe, "holds the base model", root=tmp_path)


def test_tilde_is_expanded_and_overwrite_replaces_a_real_run(
    runner, recipe_into, tmp_path, monkeypatch
):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    recipe = recipe_into("~/runs/x", train=QUICK)
    run_ok(runner, ["run", recipe])
    out = home / "runs" / "x"
    assert json.loads((out / ".toolkit-run").read_text())["kind"] == "run"
    assert (out / "metrics.json").is_file() and not list(work.iterdir())  # no `./~` folder
    (out / "extra.txt").write_text("left by the first run\n")
    fails_cleanly(runner, ["run", recipe], "already holds a run", "--overwrite", lines=1)
    run_ok(runner, ["run", recipe, "--overwrite", "--set", "train.seed=7"])
    assert "seed: 7" in (out / "recipe.yaml").read_text()
    assert not (out / "extra.txt").exists() and not leftovers(tmp_path)
    with RunDir(out).locked():  # released at the end of the run
        pass


def test_a_run_from_before_the_marker_can_still_be_replaced(runner, recipe_into, tmp_path):
    out = tmp_path / "old-run"  # recipe.yaml + metrics.json + model/config.json, no marker
    (out / "model").mkdir(parents=True)
    for name in ("recipe.yaml", "metrics.json", "model/config.json"):
        (out / name).write_text("{}\n")
    # a recipe that fails right after the output checks: they let the old run through
    recipe = recipe_into(out, regularization={"early_stopping": {"metric": "bleu"}})
    fails_cleanly(runner, ["run", recipe, "--overwrite"], "'bleu'", lines=1)
    fails_cleanly(runner, ["run", recipe], "already holds a run", lines=1)


def toolkit_process(*args: str) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return subprocess.Popen([sys.executable, "-m", "toolkit", *args], env=env, **quiet)


def test_second_run_is_refused_and_a_killed_one_does_not_block(runner, recipe_into, tmp_path):
    out = tmp_path / "run"
    recipe = recipe_into(out, train={"epochs": 200, "logging_steps": 50})
    first = toolkit_process("run", str(recipe))
    try:
        staging = out.parent / ".run.partial"
        holder = out.parent / ".run.lock.json"
        deadline = time.time() + 120
        while time.time() < deadline and not (staging / "recipe.yaml").is_file():
            assert first.poll() is None, "the first run ended early"
            time.sleep(0.05)
        assert holder.is_file() and json.loads(holder.read_text())["pid"] == first.pid
        recorded = (staging / "recipe.yaml").read_bytes()
        output = fails_cleanly(runner, ["run", recipe, "--overwrite"], "is in use by", lines=1)
        assert f"pid {first.pid} on " in output and "started " in output, output
        assert (staging / "recipe.yaml").read_bytes() == recorded and not out.exists()
        assert first.poll() is None  # the first run goes on, its staging dir untouched
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # the killed run's flock went with its process; its stale side file names a dead pid
    quick = ["--set", "train.epochs=1", "--set", "train.max_steps=1"]
    run_ok(runner, ["run", recipe, *quick])
    assert (out / "metrics.json").is_file() and not holder.exists() and not leftovers(tmp_path)


def test_a_lock_held_in_process_names_its_holder(runner, recipe_into, tmp_path):
    out = tmp_path / "run"
    recipe = recipe_into(out)
    with RunDir(out).locked():
        output = fails_cleanly(runner, ["run", recipe], "is in use by another run", lines=1)
    assert f"pid {os.getpid()} " in output and not out.exists() and not leftovers(tmp_path)


def test_merge_never_writes_over_the_run_or_a_foreign_folder(runner, tmp_path):
    run = fake_run(tmp_path / "run")
    (run / "model" / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": ""}))
    (run / "recipe.yaml").write_text(yaml.safe_dump({"unused": True}))
    for out, reason in ((run, "holds the run"), (user_folder(tmp_path / "mine"), "no toolkit run")):
        before = snapshot(tmp_path)
        fails_cleanly(runner, ["merge", run, "--out", out, "--overwrite"], reason, lines=1)
        assert snapshot(tmp_path) == before and not leftovers(tmp_path)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 CPU cores")
@pytest.mark.xdist_group("processes")  # one rendezvous port (test_launch.py)
def test_a_multi_process_run_is_refused_before_its_processes_start(recipe_into, tmp_path):
    # the relaunching parent checks (and lets go); only the launched main process holds the lock
    out = tmp_path / "run"
    recipe = recipe_into(out)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "toolkit", "run", str(recipe), "--num-processes", "2"]
    with RunDir(out).locked():
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "is in use by another run" in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "accelerate" not in done.stderr
    assert not out.exists() and not leftovers(tmp_path)
