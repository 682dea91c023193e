"""`task.class_weights`: weighted cross-entropy (with label smoothing) through the Trainer."""

from __future__ import annotations

import json
import math
import random

import pytest
from conftest import FILLER, NEGATIVE, POSITIVE, fails_cleanly, make_recipe, run_ok, write_csv

from toolkit.tasks.class_weights import WeightedLoss, class_weights


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_loss_is_the_hand_computed_weighted_cross_entropy(smoothing):
    import torch

    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0], [0.0, 0.0, 3.0]])
    labels = torch.tensor([0, 1, 1])
    weights = [0.5, 2.0, 1.0]
    rows = []  # torch's definition: (1 - eps) w_y nll_y + eps / C sum_c w_c nll_c, per row
    for row, label in zip(logits.tolist(), labels.tolist()):
        total = sum(math.exp(v) for v in row)
        nll = [-math.log(math.exp(v) / total) for v in row]
        smooth = sum(w * n for w, n in zip(weights, nll)) / 3
        rows.append((1 - smoothing) * weights[label] * nll[label] + smoothing * smooth)
    mean = sum(rows) / sum(weights[y] for y in labels.tolist())  # evaluation: weighted mean
    loss = WeightedLoss(weights, smoothing)
    assert loss({"logits": logits}, labels).item() == pytest.approx(mean, rel=1e-5)
    # training: the sum over the batch over the rows of every accumulated batch (here 6)
    summed = loss({"logits": logits}, labels, num_items_in_batch=torch.tensor(6)).item()
    assert summed == pytest.approx(sum(rows) / 6, rel=1e-5)


def test_balanced_weights_are_sklearns():
    labels = ["a"] * 6 + ["b"] * 3 + ["c"]
    assert class_weights("balanced", labels, ["a", "b", "c"]) == pytest.approx(
        [10 / (3 * 6), 10 / (3 * 3), 10 / 3]
    )


def imbalanced(count: int) -> list[dict[str, str]]:
    """Nine positive rows to one negative: a cue word and one filler word (quick to learn)."""
    rng = random.Random(3)
    rows = []
    for i in range(count):
        label = "negative" if i % 10 == 9 else "positive"
        cue = rng.choice(NEGATIVE if label == "negative" else POSITIVE)
        rows.append({"text": f"{cue} {rng.choice(FILLER)}", "label": label})
    return rows


def test_balanced_weights_find_the_minority_class(tmp_path, tiny_models, runner):
    """Unweighted, the tiny model's short budget goes to the majority class alone."""
    data = write_csv(tmp_path / "imbalanced.csv", imbalanced(300))
    scores = {}
    for weights in (None, "balanced"):
        out = tmp_path / str(weights)
        task = {"max_length": 8, **({"class_weights": weights} if weights else {})}
        recipe = make_recipe(
            tmp_path / "r.yaml", tiny_models["bert"], data, out, task=task,
            data={"validation_size": 0.1, "test_size": 0.25},
            train={"epochs": 3, "batch_size": 16, "learning_rate": 3e-3},
            regularization={"dropout": 0.0},
        )  # fmt: skip
        output = run_ok(runner, ["run", recipe])
        assert "long texts" not in output  # nothing longer than max_length: no count line
        metrics = json.loads((out / "metrics.json").read_text())
        scores[weights] = metrics["test"]["f1_macro"]
        assert metrics["train"]["long_texts"]["train"]["longer"] == 0
    assert metrics["test"]["confusion_matrix"][0][0] > 0  # negatives found
    weights = metrics["train"]["class_weights"]  # train holds about 1 negative in 10
    assert weights[0] > 4 * weights[1] and sum(weights) == pytest.approx(5.0 + 5 / 9, rel=0.2)
    assert scores["balanced"] > scores[None] + 0.3, scores


def test_bad_weights_name_the_key(tmp_path, tiny_models, toy_csv, runner):
    for weights, expected in (([1, -1], "must not be negative"), ([0, 0], "all zero")):
        task = {"class_weights": weights}
        recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, tmp_path / "o",
                             task=task)  # fmt: skip
        fails_cleanly(runner, ["validate", recipe], "task.class_weights", expected, lines=1)
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, tmp_path / "o",
                         task={"class_weights": [1, 2, 3]})  # fmt: skip
    fails_cleanly(runner, ["run", recipe, "--dry-run"], "task.class_weights", "3 weights for 2 "
                  "labels", banner=True)  # fmt: skip
