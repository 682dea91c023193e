"""`toolkit run --seeds N`: N runs of one recipe and the mean ± std of their metrics."""

from __future__ import annotations

import json
import statistics

import pytest
from conftest import fails_cleanly, make_recipe

from toolkit.cli import app


def test_seeds_runs_each_seed_and_summarizes(tiny_models, toy_csv, tmp_path, runner):
    root = tmp_path / "runs"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, root)
    result = runner.invoke(app, ["run", str(recipe), "--seeds", "3"])
    assert result.exit_code == 0, result.output
    assert "mean ± std over 3 seeds" in result.output
    runs = [root / f"seed-{seed}" for seed in (42, 43, 44)]
    metrics = [json.loads((run / "metrics.json").read_text()) for run in runs]
    splits = [json.loads((run / "splits.json").read_text()) for run in runs]
    assert splits[0] == splits[1] == splits[2]  # one held-out split; only training changes
    summary = json.loads((root / "seeds.json").read_text())
    scores = [m["test"]["f1_macro"] for m in metrics]
    trained = [m["train"]["train_loss"] for m in metrics]
    assert len(set(trained)) == 3  # the seeds really differ
    assert summary["test"]["f1_macro"]["mean"] == pytest.approx(statistics.fmean(scores))
    assert summary["test"]["f1_macro"]["std"] == pytest.approx(statistics.stdev(scores))
    assert summary["train"]["train_loss"]["values"] == trained
    assert summary["runs"] == [str(run) for run in runs]


def test_seeds_refuses_a_non_empty_output_dir(tiny_models, toy_csv, tmp_path, runner):
    root = tmp_path / "runs"
    (root / "keep.txt").parent.mkdir()
    (root / "keep.txt").write_text("mine")
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, root)
    for extra in ([], ["--overwrite"]):  # no toolkit run wrote it: refused, even with --overwrite
        args = ["run", str(recipe), "--seeds", "2", *extra]
        fails_cleanly(runner, args, "holds files no toolkit run wrote", lines=1)
        assert (root / "keep.txt").read_text() == "mine" and not (root / "seed-42").exists()
    result = runner.invoke(app, ["run", str(recipe), "--seeds", "0"])  # typer's own range check
    assert result.exit_code == 2 and "--seeds" in result.output
