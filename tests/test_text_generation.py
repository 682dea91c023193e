"""Text generation end to end: causal LM (packed and per example) on GPT-2, prompt→completion
on GPT-2, text-to-text on T5 and BERT (bert2bert); and its bad input."""

from __future__ import annotations

import json

import pytest
from conftest import make_recipe, read_jsonl, toy_rows, write_jsonl

from toolkit.cli import app


def pairs(count):
    rows = toy_rows(count, seed=4)
    return [{"prompt": r["text"], "completion": r["label"]} for r in rows]


def generation_recipe(tmp_path, model_dir, data, **task):
    return make_recipe(
        tmp_path / "r.yaml", model_dir, data, tmp_path / "run",
        task={"name": "text-generation", "block_size": 64, "samples": 4,
              "generation": {"max_new_tokens": 6}, **task},
        train={"epochs": 2, "batch_size": 8, "learning_rate": 2e-3},
    )  # fmt: skip


@pytest.mark.parametrize("packing", [True, False])
def test_causal_lm_on_gpt2(packing, tiny_models, tmp_path, runner):
    data = write_jsonl(tmp_path / "text.jsonl", [{"text": r["text"]} for r in toy_rows(120)])
    recipe = generation_recipe(tmp_path, tiny_models["gpt2"], data, packing=packing)
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run"
    metrics = json.loads((out / "metrics.json").read_text())
    assert 1 < metrics["test"]["perplexity"] < 400  # vocab is 300: far below uniform after training
    samples = read_jsonl(out / "predictions" / "test.jsonl")
    assert len(samples) == 4 and all(
        isinstance(s["generated"], str) and s["prompt"] for s in samples
    )
    losses = [r["loss"] for r in read_jsonl(out / "log.jsonl") if "loss" in r]
    assert losses[-1] < losses[0]


@pytest.mark.parametrize(
    ("family", "mode"),
    [("gpt2", "prompt-completion"), ("t5", "text-to-text"), ("bert", "text-to-text")],
)
def test_prompt_to_completion(family, mode, tiny_models, tmp_path, runner):
    data = write_jsonl(tmp_path / "pairs.jsonl", pairs(100))
    recipe = generation_recipe(tmp_path, tiny_models[family], data, mode=mode)
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run"
    metrics = json.loads((out / "metrics.json").read_text())["test"]
    assert 0 <= metrics["rouge1"] <= 100 and metrics["perplexity"] > 1 and metrics["samples"] == 15
    predictions = read_jsonl(out / "predictions" / "test.jsonl")
    assert len(predictions) == 15 and {"prompt", "reference", "generated"} <= set(predictions[0])
    result = runner.invoke(app, ["eval", str(out)])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "eval" / "test.json").read_text())["perplexity"] == pytest.approx(
        metrics["perplexity"], rel=1e-4
    )


def test_causal_mode_needs_a_decoder(tiny_models, tmp_path, runner):
    data = write_jsonl(tmp_path / "text.jsonl", [{"text": r["text"]} for r in toy_rows(40)])
    result = runner.invoke(app, ["run", str(generation_recipe(tmp_path, tiny_models["t5"], data))])
    assert result.exit_code == 2 and "set task.mode: text-to-text" in result.output
    assert len(result.output.strip().splitlines()) <= 2


def test_prompt_longer_than_limit_is_refused(tiny_models, tmp_path, runner):
    rows = pairs(60)
    rows[3]["prompt"] = " ".join(["the film"] * 40)
    data = write_jsonl(tmp_path / "pairs.jsonl", rows)
    recipe = generation_recipe(tmp_path, tiny_models["gpt2"], data, mode="prompt-completion")
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 2, result.output
    assert "longer than task.block_size = 64 tokens" in result.output
    assert not (tmp_path / "run").exists()


def test_validate_names_the_cell_the_family_cannot_do(tiny_models, tmp_path, runner):
    data = write_jsonl(tmp_path / "text.jsonl", [{"text": "x"}])
    recipe = generation_recipe(tmp_path, tiny_models["bert"], data)  # causal mode on BERT
    result = runner.invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 2 and "causal generation needs a decoder-only model" in result.output
    recipe = generation_recipe(tmp_path, tiny_models["gpt2"], data)
    result = runner.invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 0 and "family not checked" not in result.output
