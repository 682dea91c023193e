"""Translation end to end on tiny T5, GPT-2 and BERT (bert2bert), and its bad input."""

from __future__ import annotations

import json

import pytest
from conftest import (
    build_seq2seq,
    fails_cleanly,
    make_recipe,
    read_jsonl,
    toy_pairs,
    write_jsonl,
)

from toolkit.cli import app


def translation_recipe(tmp_path, model_dir, data, **task):
    return make_recipe(
        tmp_path / "r.yaml", model_dir, data, tmp_path / "run",
        task={"name": "translation", "source_lang": "en", "target_lang": "es",
              "max_source_length": 64, "max_target_length": 32,
              "generation": {"max_new_tokens": 12}, **task},
        train={"epochs": 1, "batch_size": 8, "learning_rate": 1e-3},
    )  # fmt: skip


@pytest.mark.parametrize("family", ["t5", "gpt2", "bert"])
def test_translation_each_family(family, tiny_models, tmp_path, runner):
    data = write_jsonl(tmp_path / "pairs.jsonl", toy_pairs(80))
    recipe = translation_recipe(tmp_path, tiny_models[family], data)
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run"
    metrics = json.loads((out / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert 0 <= metrics[split]["bleu"] <= 100 and 0 <= metrics[split]["chrf"] <= 100
        assert "nrefs:1" in metrics[split]["bleu_signature"]
        assert metrics[split]["perplexity"] > 1
    predictions = read_jsonl(out / "predictions" / "test.jsonl")
    assert len(predictions) == 12 and {"source", "reference", "prediction"} <= set(predictions[0])
    assert predictions[0]["reference"] == predictions[0]["reference"].strip()

    result = runner.invoke(app, ["eval", str(out)])
    assert result.exit_code == 0, result.output
    evaluated = json.loads((out / "eval" / "test.json").read_text())
    assert evaluated["bleu"] == pytest.approx(metrics["test"]["bleu"])


def test_decoder_loss_covers_target_only(tiny_models):
    from transformers import AutoTokenizer

    from toolkit.tasks.text_to_text import IGNORE, encode_pairs

    tokenizer = AutoTokenizer.from_pretrained(tiny_models["gpt2"])
    encoded = encode_pairs(tokenizer, True, ["the film was"], ["good"], 32, 32)
    prompt_len = len(tokenizer("the film was")["input_ids"])
    labels = encoded["labels"][0]
    assert labels[:prompt_len] == [IGNORE] * prompt_len
    assert labels[prompt_len:] == encoded["input_ids"][0][prompt_len:]
    assert labels[-1] == tokenizer.eos_token_id


def test_two_column_layout_prefix_and_prompt(tiny_models, tmp_path, runner):
    from toolkit.models import FAMILIES
    from toolkit.recipe.load import load_recipe
    from toolkit.tasks.registry import task_for

    rows = [{"src": p["translation"]["en"], "tgt": p["translation"]["es"]} for p in toy_pairs(60)]
    data = write_jsonl(tmp_path / "cols.jsonl", rows)
    two_columns = {"translation_column": None, "source_column": "src", "target_column": "tgt"}
    recipe_file = translation_recipe(tmp_path, tiny_models["t5"], data, **two_columns)
    result = runner.invoke(app, ["run", str(recipe_file), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "train 42, validation 9, test 9" in result.output
    task = task_for(load_recipe(recipe_file))
    task.bind(task.head(FAMILIES["t5"]))
    assert task.format_source("the cast") == "translate English to Spanish: the cast"
    task.bind(task.head(FAMILIES["gpt2"]))
    assert task.format_source("the cast") == "Translate English to Spanish:\nthe cast\nSpanish:"
    task.bind(task.head(FAMILIES["bert"]))
    assert task.format_source("the cast") == "the cast"


def test_translation_bad_input(tiny_models, tmp_path, runner):
    rows = toy_pairs(60)
    rows[5]["translation"]["es"] = ""
    data = write_jsonl(tmp_path / "holes.jsonl", rows)
    fails_cleanly(
        runner,
        ["run", str(translation_recipe(tmp_path, tiny_models["t5"], data))],
        "holes.jsonl line 6",
        "'es' side",
    )
    data = write_jsonl(tmp_path / "pairs.jsonl", toy_pairs(60))
    recipe = translation_recipe(tmp_path, tiny_models["t5"], data, target_lang="de")
    fails_cleanly(runner, ["run", str(recipe)], "language 'de' is not in the data", "en, es")
    recipe = translation_recipe(tmp_path, tiny_models["t5"], data, translation_column=None)
    fails_cleanly(runner, ["validate", str(recipe)], "translation_column")
    assert not (tmp_path / "run").exists()


def test_source_longer_than_limit_is_refused(tiny_models, tmp_path, runner):
    rows = toy_pairs(60)
    rows[2]["translation"]["en"] = " ".join(["the film"] * 40)
    data = write_jsonl(tmp_path / "long.jsonl", rows)
    recipe = translation_recipe(tmp_path, tiny_models["gpt2"], data)
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 2, result.output
    assert "longer than task.max_source_length = 64 tokens" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", ["bart", "marian"])
def test_translation_on_other_seq2seq_checkpoints(kind, tmp_path, runner):
    model_dir = build_seq2seq(tmp_path / kind, kind)
    data = write_jsonl(tmp_path / "pairs.jsonl", toy_pairs(60))
    recipe = translation_recipe(tmp_path, model_dir, data)
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 <= metrics["test"]["bleu"] <= 100 and metrics["test"]["perplexity"] > 1
    from toolkit.models import FAMILIES
    from toolkit.recipe.load import load_recipe
    from toolkit.tasks.registry import task_for

    task = task_for(load_recipe(recipe))
    task.bind(task.head(FAMILIES[kind]))
    assert task.format_source("the cast") == "the cast"  # no T5-style prefix for BART/Marian


def test_head_a_family_lacks_is_refused_before_loading(tmp_path, runner):
    from conftest import make_recipe, toy_rows, write_csv

    model_dir = build_seq2seq(tmp_path / "marian", "marian")
    data = write_csv(tmp_path / "toy.csv", toy_rows(60))
    recipe = make_recipe(tmp_path / "c.yaml", model_dir, data, tmp_path / "run")
    fails_cleanly(runner, ["run", str(recipe)], "'marian' model", "no SequenceClassification head")
