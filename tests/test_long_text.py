"""`task.long_text`: truncate, head_tail and pooled windows; the long-text count line."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import yaml
from conftest import fails_cleanly, make_recipe, read_jsonl, run_ok, toy_rows, write_csv

from toolkit.tasks.long_text import LongTextSettings, encode, pool

WINDOWS = {"mode": "windows", "stride": 8}


def long_rows(count: int, seed: int = 0) -> list[dict[str, str]]:
    """Documents of 6-10 toy sentences that share one label (so every window carries it)."""
    rng = random.Random(seed)
    sentences = toy_rows(count * 10, seed)
    by_label = {label: [r["text"] for r in sentences if r["label"] == label] for label in
                ("positive", "negative")}  # fmt: skip
    rows = []
    for i in range(count):
        label = "positive" if i % 2 == 0 else "negative"
        rows.append({"text": " ".join(rng.sample(by_label[label], rng.randint(6, 10))),
                     "label": label})  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def tokenizers(tiny_models):
    from transformers import AutoTokenizer

    found = {}
    for name, folder in tiny_models.items():
        tokenizer = AutoTokenizer.from_pretrained(str(folder))
        tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token  # as toolkit/models.py
        found[name] = tokenizer
    return found


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_modes_keep_each_familys_special_tokens(tokenizers, family):
    tokenizer = tokenizers[family]
    texts = [row["text"] for row in long_rows(3)] + ["good film", ""]
    # truncate is the tokenizer's own truncation, windows its own overflowing windows
    cut = encode(texts, tokenizer, 24, LongTextSettings(mode="truncate"))
    assert cut["input_ids"] == tokenizer(texts, truncation=True, max_length=24)["input_ids"]
    windows = encode(texts, tokenizer, 24, LongTextSettings(**WINDOWS))
    own = tokenizer(texts, truncation=True, max_length=24, stride=8, return_overflowing_tokens=True)
    assert [w for doc in windows["input_ids"] for w in doc] == own["input_ids"]
    mapping = list(own["overflow_to_sample_mapping"])
    assert [len(doc) for doc in windows["input_ids"]] == [mapping.count(i) for i in range(5)]
    assert len(windows["input_ids"][0]) > 1 and len(windows["input_ids"][3]) == 1
    # head_tail: the specials of a whole encoding, a quarter of the rest from the start
    full = tokenizer(texts)["input_ids"]
    both = encode(texts, tokenizer, 24, LongTextSettings(mode="head_tail"))["input_ids"]
    specials = tokenizer.num_special_tokens_to_add(pair=False)
    head = round((24 - specials) * 0.25)
    lead = 1 if family == "bert" else 0  # [CLS]; T5 and GPT-2 add nothing in front
    trail = specials - lead
    for ids, whole in zip(both, full):
        if len(whole) <= 24:
            assert ids == whole
            continue
        assert len(ids) == 24 and ids[: lead + head] == whole[: lead + head]
        assert ids[lead + head :] == whole[len(whole) - (24 - lead - head) :]
        assert ids[len(ids) - trail :] == whole[len(whole) - trail :]
    assert cut["text_tokens"] == [len(ids) for ids in full]


def test_pooling_means_or_maxes_each_documents_windows():
    logits = np.array([[1.0, 0.0], [3.0, 2.0], [0.0, 5.0], [2.0, 2.0], [4.0, 0.0], [0.0, 1.0]])
    assert pool(logits, [2, 1, 3], "mean").tolist() == [[2.0, 1.0], [0.0, 5.0], [2.0, 1.0]]
    assert pool(logits, [2, 1, 3], "max").tolist() == [[3.0, 2.0], [0.0, 5.0], [4.0, 2.0]]


def test_windows_train_score_and_eval_whole_documents(tmp_path, tiny_models, runner):
    data = write_csv(tmp_path / "docs.csv", long_rows(60))
    out = tmp_path / "run"
    recipe = make_recipe(
        tmp_path / "r.yaml", tiny_models["bert"], data, out,
        task={"max_length": 32, "long_text": {**WINDOWS, "pool": "max"}},
        train={"epochs": 1, "batch_size": 32, "eval_every": "epoch"},
    )  # fmt: skip
    output = run_ok(runner, ["run", recipe])
    assert "texts (train 42, validation 9, test 9) longer than max_length 32 needed more" in output
    metrics = json.loads((out / "metrics.json").read_text())
    counts = metrics["train"]["long_texts"]
    assert counts["test"]["texts"] == counts["test"]["longer"] == 9
    assert counts["train"]["windows"] > 3 * 42 and counts["train"]["mode"] == "windows"
    # one prediction per document, scored per document, in training's validation too
    assert len(read_jsonl(out / "predictions" / "test.jsonl")) == 9
    assert metrics["test"]["per_class"]["positive"]["support"] <= 9
    evals = [r for r in read_jsonl(out / "log.jsonl") if "eval_accuracy" in r]
    assert evals[-1]["eval_f1_macro"] == pytest.approx(metrics["validation"]["f1_macro"])
    # toolkit eval counts too; the run's recipe with another mode scores the same model cut
    output = run_ok(runner, ["eval", out, "--data", data])
    assert "60 of 60 texts longer than max_length 32 needed more than one window" in output
    scored = json.loads((out / "eval" / "docs.json").read_text())
    assert scored["long_texts"]["eval"]["longer"] == 60
    edited = yaml.safe_load((out / "recipe.yaml").read_text())
    edited["task"]["long_text"] = "head_tail"
    (tmp_path / "head_tail.yaml").write_text(yaml.safe_dump(edited))
    output = run_ok(runner, ["eval", out, "--data", data, "--recipe", tmp_path / "head_tail.yaml"])
    assert "60 of 60 texts longer than max_length 32 were cut to their start and end" in output
    assert len(read_jsonl(out / "eval" / "docs_predictions.jsonl")) == 60


def test_bad_settings_name_the_key(tmp_path, tiny_models, toy_csv, runner):
    bad = {"max_length": 32, "long_text": {"mode": "windows", "stride": 32}}
    recipe = make_recipe(
        tmp_path / "s.yaml", tiny_models["bert"], toy_csv, tmp_path / "o", task=bad
    )
    fails_cleanly(runner, ["validate", recipe], "task.long_text", "stride 32", lines=1)
    bad = {"max_length": 32, "long_text": {"stride": -1}}
    recipe = make_recipe(
        tmp_path / "n.yaml", tiny_models["bert"], toy_csv, tmp_path / "o", task=bad
    )
    fails_cleanly(runner, ["validate", recipe], "task.long_text.stride", lines=1)
    other = {
        "name": "translation",
        "source_lang": "en",
        "target_lang": "es",
        "long_text": "windows",
    }
    recipe = make_recipe(
        tmp_path / "t.yaml", tiny_models["t5"], toy_csv, tmp_path / "o", task=other
    )
    fails_cleanly(
        runner, ["validate", recipe], "task.long_text", "a key of classification only", lines=1
    )
