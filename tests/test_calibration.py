"""Calibration: ECE and Brier by hand, temperature scaling of an over-confident toy model through
`toolkit run`, and the stored temperature in `toolkit eval`, `explain` and `report`."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    FILLER,
    NEGATIVE,
    POSITIVE,
    fails_cleanly,
    make_recipe,
    read_jsonl,
    run_ok,
    toy_pairs,
    write_csv,
    write_jsonl,
)
from typer.testing import CliRunner

from toolkit.metrics import calibration_metrics, reliability, softmax


def cue_rows(count: int, seed: int, flip_every: int = 0) -> list[dict[str, str]]:
    """Two-word texts, a cue word and a filler word; the cue decides the label, except that
    every `flip_every`-th row (of either label) has its label flipped: label noise no model
    can learn, so a model sure of the cue is over-confident on these rows."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = "positive" if i % 2 == 0 else "negative"
        words = [rng.choice(POSITIVE if label == "positive" else NEGATIVE), rng.choice(FILLER)]
        rng.shuffle(words)
        if flip_every and i % flip_every == flip_every - 1:
            label = "negative" if label == "positive" else "positive"
        rows.append({"text": " ".join(words), "label": label})
    return rows


@pytest.fixture(scope="module")
def calibrated(tiny_models, tmp_path_factory) -> dict:
    """One run: clean train rows, noisy validation and test rows, a high constant learning rate
    and no dropout, so the model ends sure of the cue words; `eval.calibrate: temperature`."""
    root = tmp_path_factory.mktemp("calibration")
    files = {
        "train": write_csv(root / "train.csv", cue_rows(96, seed=3)),
        "validation": write_csv(root / "validation.csv", cue_rows(40, seed=4, flip_every=5)),
        "test": write_csv(root / "test.csv", cue_rows(40, seed=5, flip_every=5)),
    }
    recipe = make_recipe(
        root / "r.yaml", tiny_models["bert"], files["train"], root / "run",
        task={"max_length": 128},  # two-word texts: the length is never reached
        data={name: str(path) for name, path in files.items()},
        train={"epochs": 5, "learning_rate": 1e-2, "scheduler": "constant", "precision": "fp32",
               "eval_every": "no", "logging_steps": 50},
        regularization={"dropout": 0.0, "weight_decay": 0.0},
        eval={"calibrate": "temperature"},
    )  # fmt: skip
    output = run_ok(CliRunner(), ["run", recipe])
    return {"run": root / "run", "recipe": recipe, "output": output, "root": root}


def test_ece_and_brier_match_hand_computed_values():
    probabilities = np.array([[0.95, 0.05], [0.04, 0.96], [0.3, 0.7], [0.62, 0.38]])
    labels = [0, 0, 1, 1]
    # bins of width 1/15: rows 1 and 2 share (14/15, 1] (accuracy 1/2, confidence 0.955); row 3
    # alone in (10/15, 11/15], row 4 in (9/15, 10/15]
    found = calibration_metrics(labels, probabilities)
    assert found["ece"] == pytest.approx(2 / 4 * 0.455 + 1 / 4 * 0.3 + 1 / 4 * 0.62)
    assert found["brier"] == pytest.approx((0.005 + 1.8432 + 0.18 + 0.7688) / 4)
    low, high = found["ece_ci"]
    assert low <= found["ece"] <= high and found["brier_ci"][0] <= found["brier"]
    three = calibration_metrics([2], np.array([[0.2, 0.5, 0.3]]))  # multi-class Brier
    assert three["ece"] == pytest.approx(0.5) and three["brier"] == pytest.approx(0.78)
    perfect = calibration_metrics([0, 1], np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert perfect["ece"] == 0 and perfect["brier"] == 0
    assert calibration_metrics([], np.zeros((0, 2)))["ece_ci"] == [0.0, 0.0]
    counts, accuracy, confidence = reliability([0.95, 0.96, 0.7], [True, False, True])
    assert counts[14] == 2 and accuracy[14] == 0.5 and confidence[14] == pytest.approx(0.955)
    assert counts.sum() == 3 and counts[10] == 1


def test_temperature_fit_recovers_a_known_temperature():
    from toolkit.evaluation.calibration import fit_temperature, nll

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, size=(4000, 3))  # labels drawn from softmax(logits / 2.5)
    cumulative = softmax(logits / 2.5).cumsum(-1)
    labels = (rng.random((4000, 1)) > cumulative).sum(-1)
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(2.5, rel=0.1)
    assert nll(logits, labels, temperature) < nll(logits, labels, 1.0)


def plain_logits(model_dir: Path, texts: list[str]) -> np.ndarray:
    """What plain transformers gives for the run's model: no toolkit, no temperature."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, return_tensors="pt")
        return model(**batch).logits.double().numpy()


def test_temperature_scaling_of_an_over_confident_run(calibrated, tmp_path):
    run = calibrated["run"]
    record = json.loads((run / "calibration.json").read_text())
    temperature, validation = record["temperature"], record["validation"]
    assert temperature > 1 and "calibrate" in calibrated["output"]  # over-confident: softened
    assert validation["ece_after"] < validation["ece_before"]
    assert validation["nll_after"] < validation["nll_before"] and validation["rows"] == 40
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert test["calibration"]["temperature"] == temperature
    assert test["ece"] < test["calibration"]["ece_uncalibrated"]  # both recorded, ECE fell
    assert test["brier"] < test["calibration"]["brier_uncalibrated"]
    assert test["ece_ci"][0] <= test["ece"] <= test["ece_ci"][1] and "brier_ci" in test

    records = read_jsonl(run / "predictions" / "test.jsonl")
    names = list(records[0]["probabilities"])
    logits = plain_logits(run / "model", [r["text"] for r in records])
    stored = np.array([[r["probabilities"][n] for n in names] for r in records])
    assert np.allclose(softmax(logits / temperature), stored, atol=1e-5)  # calibrated records
    assert not np.allclose(softmax(logits), stored, atol=1e-2)  # the saved model: uncalibrated
    assert [names[i] for i in logits.argmax(-1)] == [r["prediction"] for r in records]
    gold = np.array([names.index(r["label"]) for r in records])
    assert test["accuracy"] == pytest.approx(float((logits.argmax(-1) == gold).mean()))
    raw = calibration_metrics(gold, softmax(logits))["ece"]
    assert test["calibration"]["ece_uncalibrated"] == pytest.approx(raw, abs=1e-4)

    runner = CliRunner()
    shown = run_ok(runner, ["eval", run, "--split", "test"])
    assert "ece" in shown and "brier" in shown
    evaluated = read_jsonl(run / "eval" / "test_predictions.jsonl")
    again = np.array([[r["probabilities"][n] for n in names] for r in evaluated])
    assert np.allclose(again, stored, atol=1e-5)  # eval applied the stored temperature
    assert json.loads((run / "eval" / "test.json").read_text())["ece"] == pytest.approx(
        test["ece"], abs=1e-4
    )

    explained = tmp_path / "explained.json"
    run_ok(runner, ["explain", run, records[0]["text"], "--method", "gradient-x-input",
                    "--json", explained])  # fmt: skip
    assert json.loads(explained.read_text())["probability"] == pytest.approx(
        records[0]["score"], abs=1e-4
    )

    run_ok(runner, ["report", run, "--no-explain"])
    page = (run / "report.html").read_text(encoding="utf-8")
    assert 'id="reliability-diagram"' in page and 'id="confusion-matrix"' in page
    assert 'data-metric="ece"' in page and 'data-metric="brier"' in page


def test_no_reliability_diagram_without_probabilities(tmp_path):
    from toolkit.report.html import write_report

    (tmp_path / "recipe.yaml").write_text(
        "model: {name: m}\ntask: {name: translation, source_lang: en, target_lang: es}\n"
    )
    (tmp_path / "metrics.json").write_text(json.dumps({"test": {"bleu": 1.0}}))
    records = [{"source": p["translation"]["en"], "reference": p["translation"]["es"],
                "prediction": "x"} for p in toy_pairs(5)]  # fmt: skip
    (tmp_path / "predictions").mkdir()
    write_jsonl(tmp_path / "predictions" / "test.jsonl", records)
    page = write_report(tmp_path, explain=False).read_text(encoding="utf-8")
    assert "reliability-diagram" not in page and "<img" not in page
    assert 'id="confusion"' in page  # the section is there, saying why it is empty


def test_comparison_sorts_ece_and_brier_ascending(monkeypatch):
    from toolkit.evaluation import compare, scoring

    scores = {"a": {"ece": 0.3, "brier": 0.1}, "b": {"ece": 0.1, "brier": 0.4}}
    monkeypatch.setattr(scoring, "evaluate_target", lambda t, *_: (scores[t.name], None))
    for key, best in (("ece", "b"), ("brier", "a")):
        monkeypatch.setattr(compare, "check_plan", lambda *_, key=key: key)
        _, rows = compare.compare_runs([Path("a"), Path("b")], "test", None, None, 8, key)
        assert rows[0][0].name == best


def test_calibration_bad_inputs(calibrated, tiny_models, tmp_path):
    runner = CliRunner()
    root, bert = calibrated["root"], tiny_models["bert"]
    translation = make_recipe(
        tmp_path / "t.yaml", tiny_models["t5"], root / "train.csv", tmp_path / "t",
        task={"name": "translation", "source_lang": "en", "target_lang": "es"},
        eval={"calibrate": "temperature"},
    )  # fmt: skip
    fails_cleanly(runner, ["validate", translation], "eval.calibrate", "classification", lines=1)
    no_validation = make_recipe(
        tmp_path / "s.yaml",
        bert,
        root / "train.csv",
        tmp_path / "s",
        eval={"calibrate": "temperature", "splits": ["test"]},
    )
    fails_cleanly(runner, ["validate", no_validation], "eval.calibrate", "eval.splits", lines=1)
    fails_cleanly(runner, ["validate", no_validation, "--set", "eval.calibrate=platt"],
                  "eval.calibrate", lines=1)  # fmt: skip

    empty = write_csv(tmp_path / "empty.csv", [], fieldnames=["text", "label"])
    zero_rows = make_recipe(
        tmp_path / "z.yaml", bert, root / "train.csv", tmp_path / "z",
        data={"train": str(root / "train.csv"), "validation": str(empty),
              "test": str(root / "test.csv")},
        eval={"calibrate": "temperature"},
    )  # fmt: skip
    fails_cleanly(runner, ["run", zero_rows], "validation", lines=1, absent=[tmp_path / "z"])

    broken = tmp_path / "broken"
    shutil.copytree(calibrated["run"], broken, ignore=shutil.ignore_patterns("eval", "*.html"))
    for content, message in (("{nope", "unreadable"), ('{"temperature": -1}', "positive")):
        (broken / "calibration.json").write_text(content)
        fails_cleanly(runner, ["eval", broken], "calibration.json", message, lines=1)
