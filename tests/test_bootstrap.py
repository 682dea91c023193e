"""Metric values against hand-computed cases, and bootstrap confidence intervals."""

from __future__ import annotations

import numpy as np
import pytest

from toolkit import metrics


def test_hand_computed_classification_and_macro_f1():
    labels, predicted = [0, 0, 1, 1, 2], [0, 1, 1, 1, 0]
    result = metrics.classification_metrics(labels, predicted, ["a", "b", "c"])
    assert result["accuracy"] == pytest.approx(3 / 5)
    # per class F1: a 2·1/(2+2)=0.5, b 2·2/(2+3)=0.8, c 0 → macro 0.4333
    assert result["f1_macro"] == pytest.approx((0.5 + 0.8 + 0.0) / 3)
    y, p = np.asarray(labels), np.asarray(predicted)
    assert metrics.macro_f1(y, p, 3) == pytest.approx(result["f1_macro"])


def test_hand_computed_squad_and_rouge():
    squad = metrics.squad_metrics(["Paris!", "the rome", "x"], [["paris"], ["Rome"], ["y z"]])
    assert squad["exact_match"] == pytest.approx(200 / 3)
    rouge = metrics.rouge_metrics(["a b c d"], ["a b c e"])  # 3 of 4 unigrams on each side
    assert rouge["rouge1"] == pytest.approx(75.0)


def intervals(size: int, seed: int = 0) -> tuple[float, list[float]]:
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 2, size)
    predicted = np.where(rng.random(size) < 0.8, gold, 1 - gold)
    result = metrics.classification_metrics(gold, predicted, ["neg", "pos"])
    return result["accuracy"], result["accuracy_ci"]


def test_bootstrap_interval_contains_the_estimate_and_narrows_with_more_data():
    small_acc, small = intervals(100)
    large_acc, large = intervals(2000)
    assert small[0] <= small_acc <= small[1] and large[0] <= large_acc <= large[1]
    assert (large[1] - large[0]) < 0.5 * (small[1] - small[0])
    # about ±1.96·sqrt(p(1-p)/n): 0.8 on 2,000 rows → half-width ≈ 0.0175
    assert (large[1] - large[0]) / 2 == pytest.approx(0.0175, abs=0.004)
    assert intervals(100) == (small_acc, small)  # seeded: reproducible


def test_every_headline_metric_gets_an_interval():
    squad = metrics.squad_metrics(["a"] * 30 + ["b"] * 10, [["a"]] * 40)
    assert squad["exact_match_ci"][0] <= squad["exact_match"] <= squad["exact_match_ci"][1]
    bleu = metrics.translation_metrics(
        ["the cat sat on the mat"] * 20, ["the cat sat on a mat"] * 20
    )
    assert len(bleu["bleu_ci"]) == 2 and len(bleu["chrf_ci"]) == 2
    rouge = metrics.rouge_metrics(["a b"] * 10, ["a c"] * 10)
    assert rouge["rougeL_ci"][0] <= rouge["rougeL"] <= rouge["rougeL_ci"][1]


def test_corpus_interval_falls_back_when_sacrebleu_bootstrap_fails(monkeypatch):
    import sacrebleu.metrics.base as base

    hyps = ["the cat sat on the mat"] * 20
    refs = ["the cat sat on a mat"] * 19 + ["x"]
    fast = metrics.translation_metrics(hyps, refs)

    def broken(self, scores):
        raise TypeError("don't know how to coerce float and float32")

    monkeypatch.setattr(base.Score, "estimate_ci", broken)
    slow = metrics.translation_metrics(hyps, refs)
    assert slow["bleu"] == fast["bleu"]
    assert slow["bleu_ci"][0] <= slow["bleu"] <= slow["bleu_ci"][1]
    assert slow["bleu_ci"] != fast["bleu_ci"]  # really the other path
