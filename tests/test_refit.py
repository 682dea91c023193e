"""`train.refit`: after the selection run, a second training on train + validation rows."""

from __future__ import annotations

import json
import math

from conftest import make_recipe, read_jsonl, run_ok


def test_refit_trains_on_train_and_validation_for_the_chosen_length(
    tmp_path, tiny_models, toy_csv, runner
):
    out = tmp_path / "run"
    recipe = make_recipe(
        tmp_path / "r.yaml", tiny_models["bert"], toy_csv, out,
        regularization={"early_stopping": {"metric": "accuracy", "patience": 1}},
        train={"epochs": 3, "refit": True, "eval_every": "epoch", "batch_size": 16},
    )  # fmt: skip
    output = run_ok(runner, ["run", recipe])
    assert "refit" in output and "validation scores are the selection run's" in output
    metrics = json.loads((out / "metrics.json").read_text())
    refit = metrics["train"]["refit"]
    train_rows = 240 - len(read_jsonl(out / "splits" / "validation.jsonl"))
    train_rows -= len(read_jsonl(out / "splits" / "test.jsonl"))
    validation_rows = len(read_jsonl(out / "splits" / "validation.jsonl"))
    assert (refit["train_rows"], refit["validation_rows"]) == (train_rows, validation_rows)
    assert refit["rows"] == train_rows + validation_rows
    selection = refit["selection"]
    per_epoch = math.ceil(train_rows / 16)
    assert selection["best_step"] % per_epoch == 0 and selection["best_step"] > 0
    assert selection["epochs"] == selection["best_step"] / per_epoch
    # the chosen epochs, counted in steps over the larger set
    assert refit["steps"] == round(selection["epochs"] * math.ceil(refit["rows"] / 16))
    assert refit["steps"] > selection["best_step"]
    # validation is the selection model's score, the test split the refit model's
    assert metrics["validation"]["accuracy"] == selection["eval_accuracy"]
    assert 0 <= metrics["test"]["accuracy"] <= 1
    assert len(read_jsonl(out / "predictions" / "test.jsonl")) == len(
        read_jsonl(out / "splits" / "test.jsonl")
    )
