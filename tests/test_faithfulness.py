"""`toolkit explain RUN --faithfulness`: deletion/insertion curves against random word orders,
on a toy classifier that keys on one word, with a planted bad attribution, and bad input."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
from conftest import (
    FILLER,
    NEGATIVE,
    POSITIVE,
    fails_cleanly,
    fake_run,
    make_recipe,
    run_ok,
    write_csv,
)

CUE = "superb"
OTHERS = [word for word in FILLER + POSITIVE + NEGATIVE if word != CUE]


def cue_rows(count: int, seed: int = 1) -> list[dict[str, str]]:
    """Label "cue" exactly when the cue word is in the text; the other words are noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        words = rng.choices(OTHERS, k=rng.randint(5, 9))
        if i % 2 == 0:
            words.insert(rng.randrange(len(words) + 1), CUE)
        rows.append({"text": " ".join(words), "label": "cue" if i % 2 == 0 else "none"})
    return rows


@pytest.fixture(scope="module")
def cue_run(tiny_models, tmp_path_factory):
    """A tiny BERT trained (through `toolkit run`) to spot the cue word; 48 test rows."""
    root = tmp_path_factory.mktemp("faithfulness")
    data = write_csv(root / "cue.csv", cue_rows(240))
    recipe = make_recipe(
        root / "r.yaml", tiny_models["bert"], data, root / "run",
        train={"epochs": 4, "learning_rate": 3e-3, "batch_size": 16, "logging_steps": 50},
        regularization={"dropout": 0.0, "weight_decay": 0.0},
        data={"train": str(data), "validation_size": 0.1, "test_size": 0.2},
    )  # fmt: skip
    from typer.testing import CliRunner

    run_ok(CliRunner(), ["run", recipe])
    return root / "run"


def measured(runner, run, *extra) -> tuple[dict, list[dict], str]:
    extra = extra if "--rows" in extra else ("--rows", 40, *extra)
    output = run_ok(runner, ["explain", run, "--faithfulness", *extra])
    found = json.loads((run / "eval" / "faithfulness.json").read_text())
    lines = (run / "eval" / "faithfulness_rows.jsonl").read_text().splitlines()
    return found, [json.loads(line) for line in lines], output


def test_the_cue_matters_and_integrated_gradients_beats_random(cue_run, runner):
    found, rows, output = measured(runner, cue_run)
    assert found["rows"] == len(rows) == 40 and found["sampled"] == 40
    ig, gxi, rand = (found["methods"]["integrated-gradients"],
                     found["methods"]["gradient-x-input"], found["random"])  # fmt: skip
    # the cue word is what the model needs: IG ranks it first, and removing it (k = 1 at 10%
    # of under ten words) flips the prediction, dropping P(cue) far more than random removals
    cued = [r for r in rows if r["prediction"] == "cue" and CUE in r["text"].split()]
    assert len(cued) >= 10
    assert all(r["integrated-gradients"]["top_words"][0] == CUE for r in cued)
    assert all(r["probability"] - r["integrated-gradients"]["deletion"][0] < 0.5 for r in cued)
    first_drop = np.mean([r["integrated-gradients"]["deletion"][0] for r in cued])
    random_drop = np.mean([r["random"]["deletion"][0] for r in cued])
    assert first_drop > random_drop + 0.1, (first_drop, random_drop)
    assert ig["comprehensiveness"] > rand["comprehensiveness"] and ig["better_than_random"]
    assert ig["comprehensiveness_vs_random_ci"][0] > 0
    assert ig["comprehensiveness_vs_random_p"] < 0.01
    assert ig["sufficiency"] < rand["sufficiency"]  # the cue alone keeps the prediction
    for stats in (ig, gxi, rand):  # intervals hold their estimates
        for key in ("comprehensiveness", "sufficiency"):
            low, high = stats[f"{key}_ci"]
            assert low <= stats[key] <= high
    assert len(ig["deletion_curve"]) == len(found["fractions"]) == 5
    assert "integrated-gradients: better than random" in output
    assert "random orders" in output and "written:" in output
    page = run_ok(runner, ["report", cue_run, "--no-explain"])
    html = (cue_run / "report.html").read_text()
    assert "written:" in page and 'id="faithfulness"' in html
    assert "integrated-gradients: better than random" in html
    assert 'data-eval="faithfulness"' not in html  # not taken for a `toolkit eval` result


def test_a_planted_ranking_no_better_than_random_is_flagged(cue_run, runner, monkeypatch):
    """Attributions negated: the cue ranks last, and the curves are worse than random's."""
    import toolkit.explain.faithfulness as faithfulness

    real = faithfulness.word_scores
    monkeypatch.setattr(faithfulness, "word_scores", lambda *args: -real(*args))
    found, _, output = measured(runner, cue_run, "--method", "integrated-gradients", "--seed", 3)
    ig = found["methods"]["integrated-gradients"]
    assert list(found["methods"]) == ["integrated-gradients"] and found["seed"] == 3
    assert not ig["better_than_random"] and ig["comprehensiveness_vs_random_ci"][0] <= 0
    assert "integrated-gradients: NO BETTER THAN RANDOM" in output


def test_too_few_rows_to_conclude(cue_run, runner):
    found, rows, output = measured(runner, cue_run, "--rows", 8, "--method", "gradient-x-input")
    assert found["rows"] == len(rows) == 8
    assert "gradient-x-input: too few rows to conclude (8 < 30)" in output


@pytest.mark.parametrize(
    "family, task",
    [("bert", {"name": "qa"}), ("t5", {"name": "translation", "source_lang": "en",
                                       "target_lang": "fr"})],
)  # fmt: skip
def test_other_tasks_are_refused(family, task, tiny_models, tmp_path, runner):
    run = fake_run(tmp_path, tiny_models[family], **task)
    fails_cleanly(runner, ["explain", run, "--faithfulness"], "classification runs only",
                  lines=1, absent=[run / "eval"])  # fmt: skip


def test_bad_input(cue_run, runner, tmp_path):
    fails_cleanly(runner, ["explain", cue_run, "--faithfulness", "--rows", 0], "--rows", lines=1)
    fails_cleanly(runner, ["explain", cue_run, "--faithfulness", "--method", "x"], "--method")
    fails_cleanly(runner, ["explain", cue_run, "a text", "--faithfulness"], "drop TEXT")
    fails_cleanly(runner, ["explain", cue_run], "give the TEXT")
    fails_cleanly(runner, ["explain", tmp_path / "nope", "--faithfulness"], "no such run")
