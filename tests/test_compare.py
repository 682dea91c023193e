"""`toolkit eval runs/a runs/b`: several runs side by side, sorted by a metric that fits."""

from __future__ import annotations

import json

from conftest import fails_cleanly, make_recipe

from toolkit.cli import app


def train(runner, tmp_path, tiny_models, toy_csv, name, **train):
    out = tmp_path / name
    recipe = make_recipe(tmp_path / f"{name}.yaml", tiny_models["bert"], toy_csv, out, train=train)
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    return out


def test_side_by_side_table_sorted_by_metric(tiny_models, toy_csv, tmp_path, runner):
    weak = train(runner, tmp_path, tiny_models, toy_csv, "weak", max_steps=1, learning_rate=1e-5)
    strong = train(runner, tmp_path, tiny_models, toy_csv, "strong", epochs=3)
    result = runner.invoke(
        app, ["eval", str(weak), str(strong), "--split", "validation", "--metric", "accuracy"]
    )
    assert result.exit_code == 0, result.output
    assert "2 runs on validation (sorted by accuracy" in result.output
    scores = {
        run: json.loads((run / "eval" / "validation.json").read_text())["accuracy"]
        for run in (weak, strong)
    }
    best, other = sorted(scores, key=scores.get, reverse=True)
    table = result.output[result.output.index("sorted by accuracy") :]
    assert table.index(f" {best.name} ") < table.index(f" {other.name} ")
    assert "[" in result.output  # intervals shown


def test_bad_comparisons_fail_cleanly(tiny_models, toy_csv, tmp_path, runner):
    run = train(runner, tmp_path, tiny_models, toy_csv, "run", max_steps=1)
    fails_cleanly(runner, ["eval", str(run), str(run), "--metric", "bleu"],
                  "--metric: classification reports no 'bleu'", "accuracy, f1_macro")  # fmt: skip
    fails_cleanly(runner, ["eval", str(run), str(run), "--perturb", "typo"], "one run at a time")
    fails_cleanly(runner, ["eval", str(run), str(tmp_path / "nope")], "no such run")
    assert not (run / "eval").exists()  # nothing scored before the checks
