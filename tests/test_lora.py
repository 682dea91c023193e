"""LoRA through the CLI on tiny BERT and GPT-2 (classification) and T5 (translation): only the
adapters and the task head train, the run's model/ holds the adapter, `toolkit eval` reloads base +
adapter, and `toolkit merge` writes a full model with the same logits. Plus the bad input."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import fails_cleanly, make_recipe, toy_pairs, write_jsonl

from toolkit import train
from toolkit.cli import app
from toolkit.lora import qlora_available


def lora_recipe(tmp_path, family, model_dir, toy_csv, **peft):
    peft = {"r": 4, "alpha": 8, "dropout": 0.0, **peft}
    if family != "t5":
        return make_recipe(
            tmp_path / "r.yaml", model_dir, toy_csv, tmp_path / "run", peft=peft,
            regularization={"dropout": 0.0}, train={"learning_rate": 5e-3},
        )  # fmt: skip
    data = write_jsonl(tmp_path / "pairs.jsonl", [row["translation"] for row in toy_pairs(80)])
    return make_recipe(
        tmp_path / "r.yaml", model_dir, data, tmp_path / "run", peft=peft,
        task={"name": "translation", "source_lang": "en", "target_lang": "es",
              "translation_column": None, "source_column": "en", "target_column": "es",
              "max_source_length": 64, "max_target_length": 32,
              "generation": {"max_new_tokens": 8}},
        train={"batch_size": 8, "learning_rate": 5e-3},
    )  # fmt: skip


def model_class(family):
    import transformers

    name = "AutoModelForSeq2SeqLM" if family == "t5" else "AutoModelForSequenceClassification"
    return getattr(transformers, name)


def logits(model, tokenizer, family):
    batch = tokenizer(
        ["the film was good", "a very dull plot and acting"], padding=True, return_tensors="pt"
    )
    if family == "t5":
        batch["decoder_input_ids"] = torch.tensor([[0, 5, 6], [0, 7, 8]])
    model.eval()
    with torch.no_grad():
        return model(**batch).logits


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_lora_run_eval_merge(family, tiny_models, toy_csv, tmp_path, runner, monkeypatch):
    trainers = []

    def keep_trainer(*args, **kwargs):
        trainers.append(build_trainer(*args, **kwargs))
        return trainers[-1]

    build_trainer = train.build_trainer
    monkeypatch.setattr(train, "build_trainer", keep_trainer)
    out = tmp_path / "run"
    extra = {"modules_to_save": ["pooler"]} if family == "bert" else {}  # trained in full too
    recipe = lora_recipe(tmp_path, family, tiny_models[family], toy_csv, **extra)
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    model = trainers[0].model

    # only adapters (and the task head, a peft modules_to_save copy) differ from the checkpoint
    options = {} if family == "t5" else {"num_labels": 2}
    base = model_class(family).from_pretrained(tiny_models[family], **options).state_dict()
    trained = model.state_dict()
    adapted = {k for k in trained if "lora_" in k or "modules_to_save" in k}
    assert any("lora_B" in k and trained[k].abs().sum() > 0 for k in adapted)  # B starts at 0
    compared = set()
    for key, value in trained.items():
        if key in adapted or "original_module" in key:
            continue
        name = key.removeprefix("base_model.model.").replace(".base_layer", "")
        assert torch.equal(value, base[name]), key
        compared.add(name)
    full = {"bert": ("classifier.", "bert.pooler."), "gpt2": ("score.",), "t5": ()}[family]
    assert {k for k in base if not k.startswith(full)} <= compared
    for prefix in full:
        assert any(k.startswith("base_model.model." + prefix) for k in adapted), prefix

    # the run directory: adapter + tokenizer + head config, no full weights
    files = {p.name for p in (out / "model").iterdir()}
    assert {"adapter_config.json", "adapter_model.safetensors", "tokenizer.json"} <= files
    assert "model.safetensors" not in files
    adapter = json.loads((out / "model" / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == str(tiny_models[family].resolve())
    metrics = json.loads((out / "metrics.json").read_text())
    counts = metrics["train"]
    assert 0 < counts["trainable_parameters"] < 0.2 * counts["parameters"]

    # eval reloads base + adapter and reproduces the run's test metrics
    result = runner.invoke(app, ["eval", str(out)])
    assert result.exit_code == 0, result.output
    evaluated = json.loads((out / "eval" / "test.json").read_text())
    if family != "t5":
        assert evaluated["confusion_matrix"] == metrics["test"]["confusion_matrix"]
    for key in ("accuracy", "f1_macro") if family != "t5" else ("bleu", "chrf", "loss"):
        assert evaluated[key] == pytest.approx(metrics["test"][key], abs=1e-6), key

    # merge: a full model plain transformers loads, with the logits of base + adapter
    result = runner.invoke(app, ["merge", str(out)])
    assert result.exit_code == 0, result.output
    from transformers import AutoTokenizer

    merged = model_class(family).from_pretrained(out / "merged")
    tokenizer = AutoTokenizer.from_pretrained(out / "merged")
    expected = logits(model, tokenizer, family)
    assert torch.allclose(logits(merged, tokenizer, family), expected, atol=1e-4)
    assert not (out / ".merged.partial").exists()
    result = runner.invoke(app, ["merge", str(out)])  # refuses to replace it unasked
    assert result.exit_code == 2 and "--overwrite" in result.output


def refused(runner, recipe, *expected):
    """`toolkit run` refuses in one line and leaves no run (nor its staging directory) behind."""
    nothing = [recipe.parent / "run", recipe.parent / ".run.partial"]
    return fails_cleanly(runner, ["run", recipe], *expected, lines=1, absent=nothing)


@pytest.mark.skipif(qlora_available(), reason="a CUDA GPU with bitsandbytes can run QLoRA")
def test_qlora_without_gpu_is_refused_before_anything(tiny_models, toy_csv, tmp_path, runner):
    recipe = lora_recipe(tmp_path, "bert", tiny_models["bert"], toy_csv, method="qlora")
    refused(runner, recipe, "peft.method qlora needs a CUDA GPU", "bitsandbytes", "lora")


def test_unknown_target_module_lists_real_ones(tiny_models, toy_csv, tmp_path, runner):
    recipe = lora_recipe(
        tmp_path, "bert", tiny_models["bert"], toy_csv, target_modules=["query", "qeury"]
    )
    refused(runner, recipe, "peft.target_modules", "'qeury'", "query", "value", "dense")
    recipe = lora_recipe(tmp_path, "bert", tiny_models["bert"], toy_csv, target_modules=["output"])
    refused(runner, recipe, "peft.target_modules", "'output'", "BertOutput", "not layers")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("lora_alpha", "did you mean 'peft.alpha'?"),
        ("target_module", "did you mean 'peft.target_modules'?"),
        ("rank", "known keys here: method, r, alpha"),
    ],
)
def test_misspelt_peft_key(key, expected, tiny_models, toy_csv, tmp_path, runner):
    recipe = lora_recipe(tmp_path, "bert", tiny_models["bert"], toy_csv, **{key: 8})
    refused(runner, recipe, f"unknown key 'peft.{key}'", expected)


def test_peft_refuses_freezing_and_bert2bert(tiny_models, toy_csv, tmp_path, runner):
    recipe = lora_recipe(tmp_path, "bert", tiny_models["bert"], toy_csv)
    result = runner.invoke(app, ["run", str(recipe), "--set", "model.freeze_layers=1"])
    assert result.exit_code == 2 and "model.freeze_layers/freeze_embeddings" in result.output
    recipe = lora_recipe(tmp_path, "t5", tiny_models["bert"], toy_csv)  # text-to-text on BERT
    refused(runner, recipe, "bert2bert", "drop the peft section")


def test_merge_refuses_a_full_fine_tuning_run(tmp_path, runner):
    (tmp_path / "run" / "model").mkdir(parents=True)
    (tmp_path / "run" / "model" / "config.json").write_text("{}")
    (tmp_path / "run" / "recipe.yaml").write_text("{}")
    result = runner.invoke(app, ["merge", str(tmp_path / "run")])
    assert result.exit_code == 2 and "not a peft run" in result.output, result.output
