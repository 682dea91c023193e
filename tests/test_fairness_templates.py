"""The templated counterfactual probe of `toolkit eval --fairness`, and the intervals and
permutation tests of every fairness and robustness figure, through the CLI on the tiny planted
biased ("she" means positive) and label-blind BERT runs of test_robustness_fairness.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import fails_cleanly, write_csv
from test_robustness_fairness import eval_ok, gendered_rows, train

from toolkit.metrics import MIN_PAIRS, conclusive, mean_ci, sign_flip_p

HE_SHE = {"gender": {"sides": ["male", "female"], "pairs": [["he", "she"]]}}
BARE = {"persons": {"gender": {"form": "{term}"}}}  # "he"/"she" as they are


@pytest.fixture(scope="module")
def runs(tiny_models, tmp_path_factory):
    root = tmp_path_factory.mktemp("templated")
    made = {}
    for biased in (True, False):
        (root / str(biased)).mkdir()
        made[biased] = train(root / str(biased), tiny_models["bert"], biased)
    return made


def files(tmp_path, templates: dict) -> list[str]:
    terms, found = tmp_path / "terms.json", tmp_path / "templates.json"
    terms.write_text(json.dumps(HE_SHE))
    found.write_text(json.dumps(templates))
    return ["--terms", str(terms), "--templates", str(found)]


def templated(run, runner, *extra, name: str = "test") -> tuple[dict, str]:
    output = eval_ok(runner, run, "--fairness", *extra)
    return json.loads((run / "eval" / f"{name}.json").read_text())["fairness"], output


def test_templated_probe_flags_the_biased_model_only(runs, runner, tmp_path):
    found, output = templated(runs[True], runner, *files(tmp_path, BARE))
    assert "templated probe" in output
    gender = found["templated"]["groups"]["gender"]
    assert gender["pairs"] == 114 and gender["conclusive"]  # shipped templates × 1 pair
    assert gender["signed_gap_p"] < 0.01 and gender["signed_gap"] > 0.3
    assert gender["signed_gap_ci"][0] <= gender["signed_gap"] <= gender["signed_gap_ci"][1]
    lines = Path(found["templated"]["file"]).read_text().splitlines()
    flipped = [json.loads(line) for line in lines]
    assert len(flipped) == gender["flipped"] + sum(
        found["templated"]["groups"][g]["flipped"] for g in ("names_gender", "names_race")
    )
    for name in ("names_gender", "names_race"):  # the shipped groups: ≥ 1,000 pairs each
        assert found["templated"]["groups"][name]["pairs"] == 1000

    blind, _ = templated(runs[False], runner, *files(tmp_path, BARE))
    gender = blind["templated"]["groups"]["gender"]
    assert gender["pairs"] == 114 and gender["signed_gap_p"] >= 0.01
    assert abs(gender["signed_gap"]) < 0.05


def test_too_few_pairs_say_so(runs, runner, tmp_path):
    rows = write_csv(tmp_path / "few.csv", gendered_rows(6, biased=True))
    few = {**BARE, "max_pairs": 5}
    found, output = templated(runs[True], runner, "--data", rows, *files(tmp_path, few), name="few")
    assert "too few pairs" in output and "to conclude" in output
    for stats in (found["groups"]["gender"], found["templated"]["groups"]["gender"]):
        assert stats["pairs"] < MIN_PAIRS
        assert stats["conclusive"] is False and stats["note"] == "too few pairs to conclude"
    report = tmp_path / "report.html"
    from toolkit.cli import app

    result = runner.invoke(app, ["report", str(runs[True]), "--out", str(report), "--no-explain"])
    assert result.exit_code == 0, result.output
    assert "too few pairs to conclude" in report.read_text()


def test_perturb_figures_have_intervals(runs, runner):
    eval_ok(runner, runs[False], "--perturb", "typo", "--perturb-p", "0.3")
    entry = json.loads((runs[False] / "eval" / "test.json").read_text())["perturb"]["typo"]
    for key in ("flip_rate", "mean_abs_gap", "signed_gap"):
        low, high = entry[f"{key}_ci"]
        assert low <= entry[key] <= high
    low, high = entry["intervals"]["accuracy"]
    assert low <= entry["metrics"]["accuracy"] <= high
    assert entry["conclusive"] and 0 < entry["signed_gap_p"] <= 1


def test_intervals_contain_the_estimate_and_narrow_with_more_pairs():
    rng = np.random.default_rng(1)
    widths = []
    for count in (40, 400, 4000):
        values = rng.normal(0.1, 0.5, count)
        low, high = mean_ci(values)
        assert low <= values.mean() <= high
        widths.append(high - low)
    assert widths[0] > 2 * widths[1] > 4 * widths[2]
    shifted, centred = rng.normal(0.2, 0.5, 200), rng.normal(0.0, 0.5, 200)
    assert sign_flip_p(shifted) < 0.01 < sign_flip_p(centred - centred.mean())
    assert not conclusive(MIN_PAIRS - 1, [([0.0, 0.1], 1.0)])
    assert not conclusive(100, [([0.02, 0.97], 1.0)])  # spans the whole range
    assert conclusive(100, [([0.4, 0.6], 1.0), ([-0.1, 0.1], 2.0)])


def test_bad_templates_fail_cleanly(runs, runner, tmp_path):
    run = str(runs[False])
    bad = tmp_path / "bad.json"
    for content, expected in [
        ("{not json", "not JSON"),
        ('{"templates": "x"}', "key 'templates'"),
        ('{"templates": ["no slot here"]}', "has no {person} slot"),
        ('{"templates": ["{person} is {mood}."]}', "slot {mood} has no words"),
        ('{"templates": ["{person} is {"]}', "key 'templates'[16]"),
        ('{"words": {"mood": []}}', "key 'words'"),
        ('{"persons": {"nobody": {"form": "{term}"}}}', "unknown term group 'nobody'"),
        ('{"persons": {"gender": {"only": ["queen"]}}}', "'queen' is not a side-A term"),
        ('{"max_pairs": 0}', "key 'max_pairs'"),
        ('{"colour": 1}', "expected an object with keys"),
    ]:
        bad.write_text(content)
        fails_cleanly(runner, ["eval", run, "--fairness", "--templates", str(bad)],
                      f"--templates {bad}", expected, lines=1)  # fmt: skip
    fails_cleanly(runner, ["eval", run, "--templates", str(bad)], "--templates", "--fairness")
