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


def test_per_layer_learning_rates_cover_every_trainable_parameter_once(tiny_models):
    from transformers import AutoModelForSequenceClassification

    from toolkit.freezing import freeze_input_embeddings
    from toolkit.models import family_of
    from toolkit.optim import parameter_groups

    model = AutoModelForSequenceClassification.from_pretrained(tiny_models["bert"], num_labels=2)
    freeze_input_embeddings(model)
    groups = parameter_groups(model, family_of(model.config, "bert"), 1e-3, 0.01, 0.5, 10.0)
    rate = {id(p): g["lr"] for g in groups for p in g["params"]}
    decay = {id(p): g["weight_decay"] for g in groups for p in g["params"]}
    named = dict(model.named_parameters())
    trainable = [n for n, p in named.items() if p.requires_grad]
    assert sum(len(g["params"]) for g in groups) == len(trainable) == len(rate)
    layers = len(model.bert.encoder.layer)
    top, bottom = f"bert.encoder.layer.{layers - 1}.", "bert.encoder.layer.0."
    for name in trainable:
        parameter = named[name]
        if name.startswith(("classifier.", "bert.pooler.")):
            expected = 1e-3 * 10.0
        elif name.startswith("bert.encoder.layer."):
            expected = 1e-3 * 0.5 ** (layers - 1 - int(name.split(".")[3]))
        else:  # position / type embeddings and their norm
            expected = 1e-3 * 0.5**layers
        assert rate[id(parameter)] == expected, name
        assert decay[id(parameter)] == (0.01 if parameter.ndim >= 2 else 0.0), name
    assert any(n.startswith(top) for n in trainable)
    assert any(n.startswith(bottom) for n in trainable)
    assert "bert.embeddings.word_embeddings.weight" not in trainable


def test_per_layer_rates_with_peft_are_refused(tmp_path, tiny_models, toy_csv, runner):
    from conftest import fails_cleanly

    recipe = make_recipe(
        tmp_path / "r.yaml", tiny_models["bert"], toy_csv, tmp_path / "run",
        peft={"r": 4}, train={"head_lr_multiplier": 10},
    )  # fmt: skip
    fails_cleanly(runner, ["validate", recipe], "train.head_lr_multiplier", "peft", lines=2)
