"""Curves in the tools users already have: TensorBoard event files and MLflow's file store."""

from __future__ import annotations

import pytest
from conftest import make_recipe

from toolkit.cli import app


def test_run_writes_tensorboard_and_mlflow(tiny_models, toy_csv, tmp_path, runner):
    out = tmp_path / "runs" / "tracked"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, out,
                         train={"epochs": 2, "logging_steps": 2})  # fmt: skip
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output

    import json

    versions = json.loads((out / "metrics.json").read_text())["train"]["versions"]
    import torch

    assert versions["torch"] == torch.__version__ and versions["python"].count(".") == 2

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(out / "tensorboard"))
    events.Reload()
    assert "train/loss" in events.Tags()["scalars"]
    assert len(events.Scalars("train/loss")) >= 3

    mlflow = pytest.importorskip("mlflow")  # the dev extra installs it; users opt in
    client = mlflow.MlflowClient(tracking_uri=(tmp_path / "runs" / "mlruns").as_uri())
    experiment = client.get_experiment_by_name("toolkit")
    [run] = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "tracked"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert len(history) >= 3 and all(point.value > 0 for point in history)
    assert "eval_accuracy" in run.data.metrics
