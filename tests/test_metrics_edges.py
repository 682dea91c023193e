"""Every metric function on the edges: no rows, one row, and predictions that are all empty.
Each must return finite numbers of the documented shape (0 for no rows), never raise."""

from __future__ import annotations

import math

import numpy as np
import pytest

from toolkit import metrics


def finite(result: dict) -> None:
    for key, value in result.items():
        if isinstance(value, float):
            assert math.isfinite(value), (key, value)
        if key.endswith("_ci"):
            assert len(value) == 2 and all(math.isfinite(v) for v in value), (key, value)
            assert value[0] <= value[1], (key, value)


TEXT_METRICS = [
    (metrics.translation_metrics, ("bleu", "chrf")),
    (metrics.rouge_metrics, metrics.ROUGE_TYPES),
]


@pytest.mark.parametrize("metric, keys", TEXT_METRICS)
def test_text_metrics_on_no_rows(metric, keys):
    result = metric([], [])
    finite(result)
    assert all(result[key] == 0.0 for key in keys) and result["samples"] == 0


@pytest.mark.parametrize("metric, keys", TEXT_METRICS)
def test_text_metrics_on_one_row(metric, keys):
    same = metric(["the cat sat on the mat"], ["the cat sat on the mat"])
    finite(same)
    assert all(same[key] == pytest.approx(100.0) for key in keys) and same["samples"] == 1


@pytest.mark.parametrize("metric, keys", TEXT_METRICS)
def test_text_metrics_on_empty_predictions(metric, keys):
    result = metric(["", ""], ["a reference", "another one"])
    finite(result)
    assert all(result[key] == 0.0 for key in keys)


@pytest.mark.parametrize("metric", [m for m, _ in TEXT_METRICS])
def test_text_metrics_refuse_unpaired_rows(metric):
    with pytest.raises(ValueError, match="pair up"):
        metric(["one"], [])


def test_squad_metrics_edges():
    empty = metrics.squad_metrics([], [])
    finite(empty)
    assert empty["exact_match"] == empty["f1"] == 0.0 and empty["samples"] == 0
    one = metrics.squad_metrics(["Paris"], [["paris"]])
    assert one["exact_match"] == one["f1"] == 100.0 and one["exact_match_ci"] == [100.0, 100.0]
    blank = metrics.squad_metrics(["", ""], [["paris"], ["rome"]])
    finite(blank)
    assert blank["exact_match"] == blank["f1"] == 0.0
    no_answer = metrics.squad_metrics([""], [[]])  # SQuAD v2: "no answer" predicted right
    assert no_answer["exact_match"] == 100.0


def test_classification_metrics_edges():
    names = ["neg", "pos"]
    empty = metrics.classification_metrics([], [], names)
    finite(empty)
    assert empty["accuracy"] == empty["f1_macro"] == 0.0 and empty["samples"] == 0
    assert empty["confusion_matrix"] == [[0, 0], [0, 0]]
    one = metrics.classification_metrics([1], [1], names)
    finite(one)
    assert one["accuracy"] == 1.0 and one["per_class"]["pos"]["support"] == 1
    short = metrics.classification_metrics([0], [1], names, full=False)
    assert set(short) == {"accuracy", "f1_macro"} and short["accuracy"] == 0.0


def test_small_helpers_edges():
    assert metrics.perplexity(0.0) == 1.0 and metrics.perplexity(1e6) == math.inf
    assert metrics.macro_f1(np.array([], int), np.array([], int), 2) == 0.0
    assert metrics.bootstrap_ci(0, lambda rows: 1.0) == [0.0, 0.0]
    assert metrics.bootstrap_ci(1, lambda rows: 0.5) == [0.5, 0.5]
    assert metrics.softmax(np.zeros((0, 3))).shape == (0, 3)
    assert metrics.softmax(np.array([[0.0, 0.0]])).tolist() == [[0.5, 0.5]]
    assert metrics.normalize_answer("") == "" and metrics.normalize_answer("The, a!") == ""
