"""`toolkit explain`: attributions of toy models that key on one word, QA spans, bad input."""

from __future__ import annotations

import json
import random

import pytest
from conftest import (
    FILLER,
    NEGATIVE,
    POSITIVE,
    fails_cleanly,
    fake_run,
    make_recipe,
    qa_recipe,
    qa_rows,
    write_csv,
    write_jsonl,
)
from typer.testing import CliRunner

from toolkit.cli import app
from toolkit.explain.attribution import GAP_ALLOWED, REFINE

CUE = "superb"
SENTENCE = "the plot was thin but the acting was superb"
DISTRACTORS = [word for word in POSITIVE + NEGATIVE if word != CUE]


def cue_rows(count: int, seed: int = 0) -> list[dict[str, str]]:
    """Filler and sentiment words; the label says only whether the cue word is there."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        words = rng.choices(FILLER + DISTRACTORS, k=rng.randint(4, 10))
        if i % 2 == 0:
            words.insert(rng.randrange(len(words) + 1), CUE)
        rows.append({"text": " ".join(words), "label": "cue" if i % 2 == 0 else "none"})
    return rows


@pytest.fixture(scope="module")
def cue_runs(tiny_models, tmp_path_factory) -> dict:
    """A BERT and a GPT-2 classifier trained (through `toolkit run`) to spot the cue word."""
    root = tmp_path_factory.mktemp("explain")
    data = write_csv(root / "cue.csv", cue_rows(320))
    runs = {}
    for family in ("bert", "gpt2"):
        out = root / family
        recipe = make_recipe(
            root / f"{family}.yaml", tiny_models[family], data, out,
            train={"epochs": 4, "learning_rate": 3e-3, "batch_size": 16, "logging_steps": 50},
            regularization={"dropout": 0.1, "weight_decay": 0.0},
            data={"train": str(data), "validation_size": 0.1, "test_size": 0.1},
        )  # fmt: skip
        result = CliRunner().invoke(app, ["run", str(recipe)])
        assert result.exit_code == 0, result.output
        runs[family] = out
    return runs


@pytest.mark.parametrize("family", ["bert", "gpt2"])
@pytest.mark.parametrize("method", ["integrated-gradients", "gradient-x-input"])
def test_the_cue_word_comes_first(family, method, cue_runs, runner, tmp_path):
    out_file = tmp_path / "expl.json"
    args = ["explain", str(cue_runs[family]), SENTENCE, "--method", method, "--json", str(out_file)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    expl = json.loads(out_file.read_text())
    assert expl["prediction"] == "cue" and expl["target"] == "cue"
    assert expl["top_words"][0]["word"] == CUE, expl["top_words"]
    # Gradient × input ranks by where the gradient is largest, but its sign is unreliable (on
    # BERT it is -gradient · (position + type embedding), see README): only IG's sign is tested.
    if method == "integrated-gradients":
        assert expl["top_words"][0]["score"] > 0  # the cue pushes toward "cue"
    assert "1. superb" in result.output and "label: cue" in result.output
    # one score per token, attention tokens × tokens; words are the sentence's words
    assert len(expl["scores"]) == len(expl["tokens"]) == len(expl["attention"])
    assert all(len(row) == len(expl["tokens"]) for row in expl["attention"])
    assert expl["words"] == SENTENCE.split()
    if method == "integrated-gradients":
        c = expl["completeness"]  # the scores add up to f(x) - f(baseline)
        assert c["gap"] <= GAP_ALLOWED * max(0.1, abs(c["difference"])), c
        assert c["steps"] < 32 * REFINE  # reached by doubling the steps, not given up on
        assert sum(expl["scores"]) == pytest.approx(c["attribution_sum"], abs=1e-4)
        # special tokens are kept in the baseline, so they get nothing
        specials = [s for s, g in zip(expl["scores"], expl["segments"]) if g is None]
        assert all(abs(s) < 1e-6 for s in specials)
    else:
        assert expl["completeness"] is None


def test_target_label_and_html(cue_runs):
    from toolkit.explain.attribution import explain_text, render_html, to_dict

    expl = explain_text(cue_runs["bert"], SENTENCE, target="none", steps=16)
    assert expl.target == "none" and expl.prediction == "cue"
    assert expl.word_scores[expl.words.index(CUE)] < 0  # the cue speaks against "none"
    page = render_html(expl)
    assert page.startswith('<div class="toolkit-explain"') and page.endswith("</div>")
    assert "<table" in page and "http" not in page and "<script" not in page
    assert f'">{CUE}</span>' in page
    assert json.loads(json.dumps(to_dict(expl)))["labels"] == ["cue", "none"]


def test_qa_attributes_question_and_context(tiny_models, tmp_path, runner):
    data = write_jsonl(tmp_path / "squad.jsonl", qa_rows(60, long_every=0))
    recipe = qa_recipe(tmp_path, tiny_models["bert"], data, train={"max_steps": 6})
    assert runner.invoke(app, ["run", str(recipe)]).exit_code == 0
    context = "alice was born in paris in 1950 . bob was born in rome in 1960 ."
    out_file = tmp_path / "qa.json"
    args = ["explain", str(tmp_path / "run"), context, "--question", "where was bob born ?"]
    result = runner.invoke(app, [*args, "--json", str(out_file)])
    assert result.exit_code == 0, result.output
    expl = json.loads(out_file.read_text())
    assert expl["task"] == "question-answering" and expl["target"] == "answer span"
    assert expl["prediction"] and expl["prediction"] in context
    assert f"answer: {expl['prediction']}" in result.output
    assert {"question", "text"} <= set(expl["segments"])
    assert expl["words"][:5] == ["where", "was", "bob", "born", "?"]  # question words first
    assert expl["words"][5:] == context.split()
    c = expl["completeness"]
    assert c["gap"] <= GAP_ALLOWED * max(0.1, abs(c["difference"])) and c["steps"] < 32 * REFINE
    assert "question: where was bob born ?" in result.output
    fails_cleanly(runner, ["explain", str(tmp_path / "run"), context], "need --question")


@pytest.mark.parametrize(
    "family, task, expected",
    [
        ("gpt2", {"name": "text-generation"}, "text-generation runs on this model write text"),
        ("t5", {"name": "translation", "source_lang": "en", "target_lang": "fr"}, "translation"),
        ("bert", {"name": "pretraining"}, "pretraining runs"),
        ("t5", {"name": "qa"}, "question-answering runs on this model write text (a seq2seq LM)"),
    ],
)
def test_generative_runs_are_refused(family, task, expected, tiny_models, tmp_path, runner):
    run = fake_run(tmp_path, tiny_models[family], **task)
    fails_cleanly(runner, ["explain", str(run), SENTENCE], expected, "explain supports")


def test_bad_input(cue_runs, tiny_models, tmp_path, runner):
    run = str(cue_runs["bert"])
    fails_cleanly(runner, ["explain", str(tmp_path / "nope"), SENTENCE], "no such run")
    (tmp_path / "empty").mkdir()
    fails_cleanly(runner, ["explain", str(tmp_path / "empty"), SENTENCE], "no model found")
    fails_cleanly(runner, ["explain", run, SENTENCE, "--target", "great"], "'great'", "cue, none")
    fails_cleanly(runner, ["explain", run, "   "], "text is empty")
    fails_cleanly(runner, ["explain", run, SENTENCE, "--method", "saliency"], "--method")
    fails_cleanly(runner, ["explain", run, SENTENCE, "--question", "why?"], "--question")


def test_t5_classifier_is_explained_through_its_encoder(tiny_models, tmp_path):
    """T5's classification head reads the decoder; attributions go to the encoder's inputs."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from toolkit.explain.attribution import explain_text

    run = tmp_path / "run"
    labels = {"id2label": {0: "cue", 1: "none"}, "label2id": {"cue": 0, "none": 1}}
    model = AutoModelForSequenceClassification.from_pretrained(tiny_models["t5"], **labels)
    model.save_pretrained(run / "model")
    AutoTokenizer.from_pretrained(tiny_models["t5"]).save_pretrained(run / "model")
    make_recipe(run / "recipe.yaml", tiny_models["t5"], "train.csv", run)
    expl = explain_text(run, SENTENCE, steps=16)
    c = expl.completeness
    assert c["gap"] <= GAP_ALLOWED * max(0.1, abs(c["difference"])), c
    assert expl.words == SENTENCE.split() and expl.segments[-1] is None  # </s> kept
    assert len(expl.attention) == len(expl.tokens)  # the encoder's last layer
