"""Question answering end to end on tiny BERT, GPT-2 (extractive) and T5 (generative), the
post-processing path fed with gold logits, and bad input."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from conftest import (
    NAMES,
    fails_cleanly,
    qa_recipe,
    qa_rows,
    read_jsonl,
    write_csv,
    write_jsonl,
)

from toolkit.cli import app


def write_data(path, rows):
    """jsonl, csv (answers as a JSON string, as csv files hold them) or parquet, by suffix."""
    if path.suffix == ".csv":
        return write_csv(path, [{**row, "answers": json.dumps(row["answers"])} for row in rows])
    if path.suffix == ".parquet":
        from datasets import Dataset

        Dataset.from_list(rows).to_parquet(str(path))
        return path
    return write_jsonl(path, rows)


# T5 reads the whole passage at once, so it gets short passages and a longer max_length.
@pytest.mark.parametrize(
    "family, suffix, task, long_every",
    [
        ("bert", ".csv", {}, 4),
        ("gpt2", ".jsonl", {}, 4),
        ("t5", ".parquet", {"max_length": 160}, 0),
    ],
)
def test_qa_each_family(family, suffix, task, long_every, tiny_models, tmp_path, runner):
    data = write_data(tmp_path / f"squad{suffix}", qa_rows(80, long_every=long_every))
    recipe = qa_recipe(tmp_path, tiny_models[family], data, task, train={"max_steps": 4})
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run"
    metrics = json.loads((out / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert 0 <= metrics[split]["exact_match"] <= 100 and 0 <= metrics[split]["f1"] <= 100
        assert metrics[split]["samples"] == 12
    predictions = read_jsonl(out / "predictions" / "test.jsonl")
    test_rows = read_jsonl(out / "splits" / "test.jsonl")
    assert [p["question"] for p in predictions] == [row["question"] for row in test_rows]
    golds = [row["answers"] for row in test_rows]  # csv runs record them as JSON strings
    golds = [json.loads(gold) if isinstance(gold, str) else gold for gold in golds]
    assert [p["answers"] for p in predictions] == [gold["text"] for gold in golds]
    assert ("score" in predictions[0]) == (family != "t5")
    if family != "t5":  # extractive answers are spans cut out of their own passage
        assert all(p["prediction"] in row["context"] for p, row in zip(predictions, test_rows))

    result = runner.invoke(app, ["eval", str(out)])
    assert result.exit_code == 0, result.output
    evaluated = json.loads((out / "eval" / "test.json").read_text())
    assert evaluated["exact_match"] == pytest.approx(metrics["test"]["exact_match"])
    assert evaluated["f1"] == pytest.approx(metrics["test"]["f1"])
    if family == "bert":  # eval --data checks its rows like a run does
        rows = qa_rows(6, seed=9)
        rows[2]["answers"]["answer_start"][0] += 2
        bad = write_jsonl(tmp_path / "bad.jsonl", rows)
        fails_cleanly(runner, ["eval", str(out), "--data", str(bad)], "in 1 of 6 rows (lines 3)")


def qa_task(**settings):
    from toolkit.tasks.qa import QuestionAnswering, QuestionAnsweringSettings

    section = QuestionAnsweringSettings(
        **{"name": "qa", "max_length": 64, "stride": 16, **settings}
    )
    return QuestionAnswering(section)


def gold_spans_model(gold: dict):
    """Stands in for a QA model: logits peak at each window's gold start/end labels."""
    import torch

    class GoldSpans(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the model a device

        def forward(self, input_ids, attention_mask, **inputs):
            start, end = torch.zeros(input_ids.shape), torch.zeros(input_ids.shape)
            for i, ids in enumerate(input_ids.tolist()):
                first, last = gold[tuple(ids[: int(attention_mask[i].sum())])]
                start[i, first], end[i, last] = 10.0, 10.0
            return SimpleNamespace(start_logits=start, end_logits=end)

    return GoldSpans()


@pytest.mark.parametrize("map_batch", [7, 1])  # 1: every map batch restarts example ids at 0
def test_gold_logits_give_gold_answers(map_batch, tiny_models):
    from datasets import Dataset
    from transformers import AutoTokenizer

    from toolkit.models import FAMILIES

    tokenizer = AutoTokenizer.from_pretrained(tiny_models["bert"])
    rows = qa_rows(30, seed=3)
    for row in rows[4:6]:  # SQuAD v2: no answer
        row["answers"] = {"text": [], "answer_start": []}
    table = Dataset.from_list(rows)
    task = qa_task(allow_no_answer=True)
    task.bind(task.head(FAMILIES["bert"]))
    tokenized = table.map(
        task.preprocess, batched=True, batch_size=map_batch,
        fn_kwargs={"tokenizer": tokenizer}, remove_columns=table.column_names,
    )  # fmt: skip
    assert len(tokenized) > len(table)  # long passages take several windows
    gold = {tuple(f["input_ids"]): (f["start_positions"], f["end_positions"]) for f in tokenized}
    loaded = SimpleNamespace(model=gold_spans_model(gold), tokenizer=tokenizer)
    outputs = task.predict(loaded, table, tokenized, 4, "fp32")
    assert outputs["predictions"] == [(r["answers"]["text"] or [""])[0] for r in rows]
    assert task.score(outputs, tokenized)["exact_match"] == 100.0
    records = task.postprocess(outputs, table)
    assert len(records) == 30 and records[4]["prediction"] == "" and records[4]["answers"] == []


def test_span_collator_pads_right_and_drops_bookkeeping(tiny_models):
    from transformers import AutoTokenizer

    from toolkit.models import FAMILIES

    tokenizer = AutoTokenizer.from_pretrained(tiny_models["gpt2"])
    tokenizer.pad_token, tokenizer.padding_side = tokenizer.eos_token, "left"
    task = qa_task()
    task.bind(task.head(FAMILIES["gpt2"]))
    features = task.preprocess(
        {key: [row[key] for row in qa_rows(2, seed=1)] for key in task.columns}, tokenizer
    )
    batch = task.collator(tokenizer)([{k: v[i] for k, v in features.items()} for i in (0, 1)])
    assert set(batch) == {"input_ids", "attention_mask", "start_positions", "end_positions"}
    short = min((0, 1), key=lambda i: len(features["input_ids"][i]))
    length = len(features["input_ids"][short])
    assert batch["input_ids"][short, :length].tolist() == features["input_ids"][short]
    assert batch["attention_mask"][short, length:].sum() == 0


def test_generative_no_answer_target(tiny_models, monkeypatch):
    from transformers import AutoTokenizer

    from toolkit import generation
    from toolkit.models import FAMILIES
    from toolkit.tasks.base import HeadKind

    tokenizer = AutoTokenizer.from_pretrained(tiny_models["t5"])
    task = qa_task(allow_no_answer=True, max_length=128)
    head = task.head(FAMILIES["t5"])
    assert head.kind is HeadKind.SEQ2SEQ_LM and task.mode == "extractive"  # head() is pure
    task.bind(head)
    assert task.generative
    batch = {"question": ["who ?"], "context": ["nobody"], "answers": ['{"text": [], '
             '"answer_start": []}']}  # fmt: skip
    labels = task.preprocess(batch, tokenizer)["labels"][0]
    assert tokenizer.decode(labels, skip_special_tokens=True) == "unanswerable"
    generated = (["Unanswerable", "rome"], "transformers")
    monkeypatch.setattr(generation, "generate_texts", lambda *a, **k: generated)
    loaded = SimpleNamespace(model=None, tokenizer=tokenizer)
    assert task.generate(loaded, ["a ?", "b ?"], ["x", "y"], 2) == ["", "rome"]


def held_out_files(tmp_path):
    return {
        "validation": str(write_jsonl(tmp_path / "val.jsonl", qa_rows(8, seed=1))),
        "test": str(write_jsonl(tmp_path / "test.jsonl", qa_rows(8, seed=2))),
    }


def test_qa_bad_answer_rows(tiny_models, tmp_path, runner):
    rows = qa_rows(40)
    for row in (5, 9, 20):
        rows[row]["answers"]["answer_start"][0] += 3
    data = write_jsonl(tmp_path / "off.jsonl", rows)
    model, held_out = tiny_models["bert"], held_out_files(tmp_path)
    recipe = qa_recipe(tmp_path, model, data, data=held_out)
    fails_cleanly(
        runner,
        ["run", str(recipe)],
        "data.train:",
        "in 3 of 40 rows (lines 6, 10, 21 of",
        "bad_answer_rows",
    )
    assert not (tmp_path / "run").exists()

    recipe = qa_recipe(
        tmp_path, model, data, {"bad_answer_rows": "drop"}, data=held_out, train={"max_steps": 2}
    )
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    assert "data.train: dropped 3 of 40 rows" in result.output
    assert len(read_jsonl(tmp_path / "run" / "predictions" / "test.jsonl")) == 8


def test_qa_refuses_no_answers_and_long_inputs(tiny_models, tmp_path, runner):
    rows = qa_rows(40)
    rows[7]["answers"] = {"text": [], "answer_start": []}
    data, held_out = write_jsonl(tmp_path / "v2.jsonl", rows), held_out_files(tmp_path)
    recipe = qa_recipe(tmp_path, tiny_models["bert"], data, data=held_out)
    fails_cleanly(runner, ["run", str(recipe)], "v2.jsonl line 8", "allow_no_answer: true")

    rows = qa_rows(40)
    rows[3]["question"] = "where was " + " and ".join(NAMES * 2) + " born ?"
    data = write_jsonl(tmp_path / "long_q.jsonl", rows)
    recipe = qa_recipe(tmp_path, tiny_models["gpt2"], data, data=held_out)
    # Length checks run while tokenizing, after the model banner; the error itself is one line.
    expected = ["task.max_length", "where was alice and", "tokens"]
    fails_cleanly(runner, ["run", str(recipe)], *expected, banner=True)

    data = write_jsonl(tmp_path / "long_context.jsonl", qa_rows(40))
    recipe = qa_recipe(tmp_path, tiny_models["t5"], data, data=held_out)  # 64 tokens: too few
    expected = ["task.max_length", "tokens, more than 64"]
    fails_cleanly(runner, ["run", str(recipe)], *expected, banner=True)
    assert not (tmp_path / "run").exists()
