"""Every bad input ends in a one- or two-line message naming the culprit, exit code 2, no
traceback, and nothing written (or an earlier run left untouched)."""

from __future__ import annotations

import json

import pytest
from conftest import fails_cleanly, make_recipe, toy_rows, write_csv

from toolkit.cli import app


@pytest.fixture
def recipe_for(tiny_models, toy_csv, tmp_path):
    def build(**sections):
        return make_recipe(
            tmp_path / "r.yaml", tiny_models["bert"], toy_csv, tmp_path / "out", **sections
        )

    return build


def test_missing_recipe_file(runner, tmp_path):
    fails_cleanly(runner, ["run", str(tmp_path / "nope.yaml")], "nope.yaml", "not found")


def test_yaml_syntax_error_names_line(runner, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  name: x\ndata:\n  train: [a, b\noutput: {dir: o}\n")
    fails_cleanly(runner, ["validate", str(path)], "bad.yaml", "line 5", "YAML syntax error")


def test_misspelt_key_suggests_the_right_one(runner, recipe_for):
    recipe = recipe_for(train={"epoch": 2})
    fails_cleanly(
        runner,
        ["validate", str(recipe)],
        "unknown key 'train.epoch'",
        "did you mean 'train.epochs'",
    )


def test_unknown_section_lists_known_keys(runner, recipe_for):
    fails_cleanly(
        runner, ["run", str(recipe_for(trainer={"x": 1}))], "unknown key 'trainer'", "'train'"
    )


def test_misspelt_override_is_caught_too(runner, recipe_for):
    fails_cleanly(
        runner, ["run", str(recipe_for()), "--set", "train.lerning_rate=1"], "train.learning_rate"
    )


@pytest.mark.parametrize(
    ("section", "values", "expected"),
    [
        ("train", {"epochs": "many"}, "'train.epochs'"),
        ("train", {"learning_rate": -1}, "'train.learning_rate'"),
        ("regularization", {"dropout": 1.5}, "'regularization.dropout'"),
        ("train", {"precision": "fp8"}, "'train.precision'"),
        ("data", {"test_size": 0}, "'data.test_size'"),
    ],
)
def test_wrong_type_or_range(runner, recipe_for, section, values, expected):
    fails_cleanly(runner, ["validate", str(recipe_for(**{section: values}))], expected)


def test_missing_required_key(runner, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text("model: {name: x}\ndata: {train: d.csv}\n")
    fails_cleanly(runner, ["validate", str(path)], "missing required key 'output'")


def test_unknown_task_lists_known_ones(runner, recipe_for):
    fails_cleanly(
        runner, ["validate", str(recipe_for(task={"name": "sentimant"}))], "sentimant", "sentiment"
    )


def test_missing_data_file(runner, recipe_for, tmp_path):
    recipe = recipe_for(data={"train": str(tmp_path / "missing.csv")})
    fails_cleanly(runner, ["run", str(recipe)], "data.train", "missing.csv", "not found")
    assert not (tmp_path / "out").exists()


def test_column_not_found_lists_columns(runner, recipe_for, tmp_path):
    recipe = recipe_for(task={"text_column": "review"})
    fails_cleanly(
        runner, ["run", str(recipe)], "'review' not found", "columns present: text, label"
    )
    assert not (tmp_path / "out").exists()


def test_empty_dataset(runner, recipe_for, tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("text,label\n")
    fails_cleanly(
        runner, ["run", str(recipe_for(data={"train": str(empty)}))], "empty.csv", "no rows"
    )


def test_empty_split(runner, recipe_for, tmp_path):
    header_only = tmp_path / "val.jsonl"
    header_only.write_text("")
    fails_cleanly(
        runner, ["run", str(recipe_for(data={"validation": str(header_only)}))], "val.jsonl"
    )


def test_too_few_rows_to_carve(runner, recipe_for, tmp_path):
    tiny = write_csv(tmp_path / "tiny.csv", toy_rows(3))
    fails_cleanly(runner, ["run", str(recipe_for(data={"train": str(tiny)}))], "too few to carve")


def test_held_out_label_never_seen_in_train(runner, recipe_for, tmp_path):
    rows = toy_rows(6)
    rows[4]["label"] = "neutral"
    test = write_csv(tmp_path / "test.csv", rows)
    output = fails_cleanly(
        runner, ["run", str(recipe_for(data={"test": str(test)}))], "test.csv line 6"
    )
    assert "'neutral'" in output and "never seen in train" in output
    assert not (tmp_path / "out").exists()


def test_empty_text_names_the_row(runner, recipe_for, tmp_path):
    rows = toy_rows(60)
    rows[7]["text"] = ""
    data = write_csv(tmp_path / "holes.csv", rows)
    fails_cleanly(
        runner, ["run", str(recipe_for(data={"train": str(data)}))], "row", "empty text", "'text'"
    )


def test_model_path_not_found(runner, recipe_for, tmp_path):
    recipe = recipe_for(model={"name": str(tmp_path / "no-model")})
    fails_cleanly(runner, ["run", str(recipe)], "model.name", "not found")


def test_unsupported_model_family(runner, recipe_for, tmp_path):
    from transformers import ViTConfig

    folder = tmp_path / "vit"
    ViTConfig().save_pretrained(folder)
    fails_cleanly(
        runner,
        ["run", str(recipe_for(model={"name": str(folder)}))],
        "'vit'",
        "not a supported family",
    )


def test_directory_without_checkpoint(runner, recipe_for, tmp_path):
    folder = tmp_path / "empty-model"
    folder.mkdir()
    fails_cleanly(
        runner, ["run", str(recipe_for(model={"name": str(folder)}))], "model.name", "empty-model"
    )


def test_output_dir_holding_a_run_is_kept(runner, recipe_for, tmp_path):
    from toolkit.rundir import RunDir

    out = tmp_path / "out"
    RunDir(out).write_marker()  # a toolkit run wrote it
    (out / "recipe.yaml").write_text("earlier run\n")
    fails_cleanly(runner, ["run", str(recipe_for())], "already holds a run", "--overwrite")
    assert (out / "recipe.yaml").read_text() == "earlier run\n"


def test_bad_override_syntax(runner, recipe_for):
    fails_cleanly(runner, ["run", str(recipe_for()), "--set", "train.epochs"], "KEY=VALUE")


def test_fp16_without_gpu_and_early_stopping_metric(runner, recipe_for):
    fails_cleanly(
        runner, ["run", str(recipe_for(train={"precision": "fp16"}))], "fp16 needs a CUDA GPU"
    )
    recipe = recipe_for(regularization={"early_stopping": {"metric": "bleu"}})
    fails_cleanly(runner, ["run", str(recipe)], "'bleu'", "accuracy, f1_macro")


def test_eval_bad_targets(runner, tmp_path, tiny_models, toy_csv):
    fails_cleanly(runner, ["eval", str(tmp_path / "nowhere")], "no such run")
    (tmp_path / "hollow").mkdir()
    fails_cleanly(runner, ["eval", str(tmp_path / "hollow")], "no model found")
    out = tmp_path / "run"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, out)
    assert runner.invoke(app, ["run", str(recipe)]).exit_code == 0
    wrong = write_csv(tmp_path / "wrong.csv", [{"sentence": "x", "label": "positive"}])
    fails_cleanly(runner, ["eval", str(out), "--data", str(wrong)], "'text' not found", "sentence")
    unseen = write_csv(tmp_path / "unseen.csv", [{"text": "so so", "label": "mixed"}])
    fails_cleanly(runner, ["eval", str(out), "--data", str(unseen)], "unseen.csv line 2", "'mixed'")
    assert json.loads((out / "metrics.json").read_text())["test"]["samples"] == 36


def test_key_of_another_section_is_caught_in_the_task_section(runner, recipe_for):
    recipe = recipe_for(task={"text_colum": "review"})
    fails_cleanly(
        runner, ["validate", str(recipe)], "unknown key 'task.text_colum'", "'task.text_column'"
    )


def test_missing_task_name(runner, tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(
        "model: {name: x}\ntask: {text_column: t}\ndata: {train: d.csv}\noutput: {dir: o}\n"
    )
    fails_cleanly(
        runner, ["validate", str(path)], "missing required key 'task.name'", "known tasks"
    )
