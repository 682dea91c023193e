"""End to end through the CLI: run → run directory → eval, on tiny BERT, GPT-2 and T5."""

from __future__ import annotations

import json

import pytest
from conftest import make_recipe, read_jsonl, toy_rows, write_csv, write_jsonl

from toolkit.cli import app


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_run_then_eval_each_family(family, tiny_models, toy_csv, tmp_path, runner):
    out = tmp_path / "run"
    recipe = make_recipe(
        tmp_path / "r.yaml", tiny_models[family], toy_csv, out, regularization={"dropout": 0.0}
    )
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output

    # the run directory: model + tokenizer loadable by plain transformers, with label names
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(out / "model")
    tokenizer = AutoTokenizer.from_pretrained(out / "model")
    assert model.config.id2label == {0: "negative", 1: "positive"}
    assert tokenizer.pad_token is not None
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"train", "validation", "test"}
    assert metrics["test"]["samples"] == 36  # 15% of 240
    predictions = read_jsonl(out / "predictions" / "test.jsonl")
    assert len(predictions) == 36 and {"text", "label", "prediction", "score"} <= set(
        predictions[0]
    )
    assert (out / "recipe.yaml").is_file() and (out / "log.jsonl").is_file()
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert not (tmp_path / ".run.partial").exists()

    # eval scores the recorded test split and agrees with the run's own test metrics
    result = runner.invoke(app, ["eval", str(out)])
    assert result.exit_code == 0, result.output
    evaluated = json.loads((out / "eval" / "test.json").read_text())
    assert evaluated["accuracy"] == pytest.approx(metrics["test"]["accuracy"])
    assert evaluated["confusion_matrix"] == metrics["test"]["confusion_matrix"]


def test_bert_learns_separable_toy_task(tiny_models, tmp_path, runner):
    data = write_csv(tmp_path / "toy.csv", toy_rows(400, seed=3))
    out = tmp_path / "run"
    recipe = make_recipe(
        tmp_path / "r.yaml",
        tiny_models["bert"],
        data,
        out,
        train={"epochs": 6, "learning_rate": 3e-3, "batch_size": 16},
        regularization={"dropout": 0.0, "weight_decay": 0.0},
    )
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["accuracy"] >= 0.9, metrics["test"]
    log = read_jsonl(out / "log.jsonl")
    losses = [r["loss"] for r in log if "loss" in r]
    assert losses[-1] < losses[0]


def test_held_out_split_is_recorded_and_disjoint(tiny_models, toy_csv, tmp_path, runner):
    out = tmp_path / "run"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, out)
    assert runner.invoke(app, ["run", str(recipe)]).exit_code == 0
    record = json.loads((out / "splits.json").read_text())
    validation = record["validation"]["carved_from_train"]
    test = record["test"]["carved_from_train"]
    assert len(validation) == len(test) == 36 and not set(validation) & set(test)
    assert len(record["sha256"]) == 64
    rows = toy_rows(240)
    recorded = read_jsonl(out / "splits" / "test.jsonl")
    assert [r["text"] for r in recorded] == [rows[i]["text"] for i in test]


def test_int_labels_multiclass_and_given_files(tiny_models, tmp_path, runner):
    rows = [
        {"review": r["text"] + f" {('so', 'meh', 'ok')[i % 3]}", "stars": i % 3}
        for i, r in enumerate(toy_rows(150))
    ]
    train = write_csv(tmp_path / "train.csv", rows[:100])
    write_jsonl(tmp_path / "val.jsonl", rows[100:125])
    import datasets

    datasets.Dataset.from_list(rows[125:]).to_parquet(str(tmp_path / "test.parquet"))
    out = tmp_path / "run"
    recipe = make_recipe(
        tmp_path / "r.yaml",
        tiny_models["bert"],
        train,
        out,
        data={"validation": str(tmp_path / "val.jsonl"), "test": str(tmp_path / "test.parquet")},
        task={"text_column": "review", "label_column": "stars"},
    )
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    from transformers import AutoConfig

    assert AutoConfig.from_pretrained(out / "model").id2label == {0: "0", 1: "1", 2: "2"}
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["samples"] == 25 and len(metrics["test"]["confusion_matrix"]) == 3
    assert json.loads((out / "splits.json").read_text())["test"]["file"].endswith("test.parquet")


def test_eval_on_other_file_and_bare_model_dir(tiny_models, toy_csv, tmp_path, runner):
    out = tmp_path / "run"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, out)
    assert runner.invoke(app, ["run", str(recipe)]).exit_code == 0
    other = write_csv(tmp_path / "other.tsv", toy_rows(20, seed=9))
    other.write_text(other.read_text().replace(",", "\t"))
    result = runner.invoke(app, ["eval", str(out), "--data", str(other)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "eval" / "other.json").read_text())["samples"] == 20
    result = runner.invoke(
        app,
        ["eval", str(out / "model"), "--recipe", str(out / "recipe.yaml"), "--split", "validation"],
    )
    assert result.exit_code == 2 and "never recorded" in result.output
    result = runner.invoke(
        app,
        ["eval", str(out / "model"), "--recipe", str(out / "recipe.yaml"), "--data", str(other)],
    )
    assert result.exit_code == 0, result.output
    assert (out / "model" / "eval" / "other.json").is_file()


def test_dry_run_trains_nothing(tiny_models, toy_csv, tmp_path, runner):
    out = tmp_path / "run"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["gpt2"], toy_csv, out)
    result = runner.invoke(
        app, ["run", str(recipe), "--dry-run", "--set", "train.gradient_accumulation=2"]
    )
    assert result.exit_code == 0, result.output
    assert "train 168, validation 36, test 36" in result.output
    assert "effective batch 32" in result.output
    assert "total steps 6" in result.output  # ceil(168/16)=11 micro-batches → 6 updates
    assert "tokenized sample" in result.output
    assert not out.exists()
    # and the real run takes exactly the steps the dry run announced
    result = runner.invoke(app, ["run", str(recipe), "--set", "train.gradient_accumulation=2"])
    assert result.exit_code == 0, result.output
    steps = [record["step"] for record in read_jsonl(out / "log.jsonl")]
    assert max(steps) == 6


def test_overwrite_replaces_run_only_when_asked(tiny_models, toy_csv, tmp_path, runner):
    out = tmp_path / "run"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, out)
    assert runner.invoke(app, ["run", str(recipe)]).exit_code == 0
    before = (out / "metrics.json").read_text()
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert (out / "metrics.json").read_text() == before
    result = runner.invoke(app, ["run", str(recipe), "--overwrite", "--set", "train.seed=7"])
    assert result.exit_code == 0, result.output
    assert "seed: 7" in (out / "recipe.yaml").read_text()


def test_regularization_reaches_model_and_optimizer(tiny_models, toy_csv, tmp_path):
    from toolkit.data import build_splits
    from toolkit.recipe.load import load_recipe
    from toolkit.tasks.registry import task_for
    from toolkit.train import build_trainer, load_model, tokenize, training_arguments

    for family, keys in {
        "bert": ["hidden_dropout_prob", "attention_probs_dropout_prob"],
        "gpt2": ["resid_pdrop", "embd_pdrop", "attn_pdrop"],
        "t5": ["dropout_rate"],
    }.items():
        path = make_recipe(
            tmp_path / f"{family}.yaml",
            tiny_models[family],
            toy_csv,
            tmp_path / family,
            regularization={
                "dropout": 0.37,
                "label_smoothing": 0.1,
                "early_stopping": {"metric": "f1_macro", "patience": 1},
            },
        )
        recipe = load_recipe(path)
        task = task_for(recipe)
        splits = build_splits(recipe.data, task.columns)
        task.prepare(splits)
        loaded = load_model(recipe, task)
        assert all(getattr(loaded.model.config, key) == 0.37 for key in keys)
        args = training_arguments(recipe, tmp_path / f"{family}-stage", "fp32")
        assert args.label_smoothing_factor == 0.1 and args.metric_for_best_model == "f1_macro"
        trainer = build_trainer(
            recipe, task, loaded, tokenize(splits, task, loaded.tokenizer), args
        )
        decayed = set(trainer.get_decay_parameter_names(loaded.model))
        assert decayed and not any(
            "bias" in n or "norm" in n.lower() or ".ln_" in n for n in decayed
        )
