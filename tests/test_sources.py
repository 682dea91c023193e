"""Data and model sources other than plain files: saved datasets, hub dataset ids, hub model ids
(served offline from a hub cache laid out like huggingface_hub's), and early stopping."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from conftest import make_recipe, read_jsonl, toy_rows

from toolkit.cli import app


def test_saved_dataset_dir_with_named_splits(tiny_models, tmp_path, runner):
    import datasets

    rows = toy_rows(160)
    saved = tmp_path / "saved"
    datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_list(rows[:120]),
            "test": datasets.Dataset.from_list(rows[120:]),
        }
    ).save_to_disk(str(saved))
    out = tmp_path / "run"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], saved, out)
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    record = json.loads((out / "splits.json").read_text())
    assert record["test"] == {"source_split": "test"}
    assert len(record["validation"]["carved_from_train"]) == 18  # 15% of 120; test kept as given
    assert json.loads((out / "metrics.json").read_text())["test"]["samples"] == 40


def test_hub_dataset_id_goes_through_load_dataset(tiny_models, tmp_path, runner, monkeypatch):
    """Offline stand-in for the hub: the real code path calls datasets.load_dataset(id, config)."""
    import datasets

    rows = toy_rows(200)
    calls = []

    def fake_load_dataset(path, name=None, **kwargs):
        calls.append((path, name))
        return datasets.DatasetDict(
            {
                "train": datasets.Dataset.from_list(rows[:140]),
                "validation": datasets.Dataset.from_list(rows[140:170]),
                "test": datasets.Dataset.from_list(rows[170:]),
            }
        )

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    out = tmp_path / "run"
    recipe = make_recipe(
        tmp_path / "r.yaml", tiny_models["bert"], "someone/reviews", out, data={"hub_config": "en"}
    )
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    assert calls == [("someone/reviews", "en")]
    record = json.loads((out / "splits.json").read_text())
    assert record["validation"] == {"source_split": "validation"} and record["sha256"] is None


def test_hub_dataset_unreachable_is_a_clean_error(tiny_models, tmp_path, runner):
    recipe = make_recipe(
        tmp_path / "r.yaml", tiny_models["bert"], "nobody/no-such-dataset", tmp_path / "o"
    )
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 2
    assert "data.train: cannot load hub dataset 'nobody/no-such-dataset'" in result.output


def hub_cache(root, repo_id: str, files_from) -> None:
    """Lay out `files_from` as huggingface_hub's cache holds a downloaded model repo."""
    repo = root / "hub" / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123456789abcdef0123456789abcdef01234567"
    shutil.copytree(files_from, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(snapshot.name)


def test_hub_model_id_loads_from_hub_cache_offline(tiny_models, toy_csv, tmp_path):
    hf_home = tmp_path / "hf"
    hub_cache(hf_home, "toolkit-tests/tiny-gpt2", tiny_models["gpt2"])
    out = tmp_path / "run"
    recipe = make_recipe(tmp_path / "r.yaml", "toolkit-tests/tiny-gpt2", toy_csv, out)
    env = {**os.environ, "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "toolkit", "run", str(recipe)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "gpt2 (decoder)" in result.stderr
    assert json.loads((out / "metrics.json").read_text())["test"]["samples"] == 36

    recipe = make_recipe(tmp_path / "r2.yaml", "toolkit-tests/not-cached", toy_csv, tmp_path / "o2")
    result = subprocess.run(
        [*cmd[:-1], str(recipe)], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "model.name: 'toolkit-tests/not-cached' not found locally" in result.stderr
    assert "as a hub id it could not be loaded either" in result.stderr


def test_early_stopping_stops_and_keeps_the_best(tiny_models, toy_csv, tmp_path, runner):
    out = tmp_path / "run"
    recipe = make_recipe(
        tmp_path / "r.yaml",
        tiny_models["bert"],
        toy_csv,
        out,
        train={"epochs": 8, "learning_rate": 1e-9, "save_checkpoints": False},
        regularization={"early_stopping": {"metric": "loss", "patience": 1, "min_delta": 0.01}},
    )
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    log = read_jsonl(out / "log.jsonl")
    evaluations = [r for r in log if "eval_loss" in r]
    assert len(evaluations) == 2  # first sets the best, second fails to beat it by min_delta → stop
    assert json.loads((out / "metrics.json").read_text())["train"]["epoch"] == 2
    assert not (out / "checkpoints").exists()
