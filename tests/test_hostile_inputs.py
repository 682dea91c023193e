"""Hostile and broken inputs, through the CLI: resource bombs in recipes, recipes that are not
text, paths that escape the run, broken saved datasets, labels of mixed type, row numbers as
the user counts them, and relative data paths that are not there. Each ends with exit 2 and a
one- or two-line `error:` naming the file, key, row or line, and leaves input and outputs alone."""

from __future__ import annotations

import json
import resource
import time

import pytest
import yaml
from conftest import fails_cleanly, make_recipe, run_ok, toy_rows, write_csv, write_jsonl

from toolkit.cli import app


def bomb_yaml(levels: int = 9) -> str:
    """The "billion laughs": nine levels of nine aliases, 9**9 strings once written out."""
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, levels + 1)]
    return "anchors:\n" + "".join(f"  {line}\n" for line in lines)


def small_recipe(tmp_path, **task) -> dict:
    return {
        "model": {"name": "bert-base-uncased"},
        "task": {"name": "sentiment", **task},
        "data": {"train": str(tmp_path / "train.csv")},
        "output": {"dir": str(tmp_path / "out")},
    }


# --- resource bombs ----------------------------------------------------------------------------


def test_alias_bomb_is_refused_quickly_with_bounded_memory(runner, tmp_path):
    text = bomb_yaml() + yaml.safe_dump(small_recipe(tmp_path)).replace(
        "name: sentiment", "name: sentiment\n  text_column: *a9"
    )
    recipe = tmp_path / "bomb.yaml"
    recipe.write_text(text)
    before, started = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.monotonic()
    fails_cleanly(runner, ["validate", recipe], "bomb.yaml", "alias", absent=[tmp_path / "out"])
    assert time.monotonic() - started < 5
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB
    assert recipe.read_text() == text


def test_alias_bomb_in_a_set_override_is_refused(runner, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump(small_recipe(tmp_path)))
    value = bomb_yaml(8).replace("anchors:\n", "{").replace("\n  ", ", ").rstrip("\n") + "}"
    value = value.replace("{  ", "{")
    fails_cleanly(runner, ["validate", recipe, "--set", f"task.text_column={value}"], "alias")


def test_huge_values_and_keys_give_short_messages(runner, tmp_path):
    recipe = tmp_path / "r.yaml"
    raw = small_recipe(tmp_path)
    raw["task"]["text_column"] = ["x" * 1_000_000]
    recipe.write_text(yaml.safe_dump(raw, width=2**31))
    out = fails_cleanly(runner, ["validate", recipe], "'task.text_column'", "(got [")
    assert len(out) < 400
    raw["task"]["text_column"] = "text"
    raw["train"] = {"y" * 100_000: 1}
    recipe.write_text(yaml.safe_dump(raw, width=2**31))
    assert len(fails_cleanly(runner, ["validate", recipe], "unknown key 'train.yyy")) < 600
    long_set = f"train.epochs={'9' * 100_000}"
    assert len(fails_cleanly(runner, ["validate", recipe, "--set", long_set], "train")) < 600
    assert len(fails_cleanly(runner, ["validate", recipe, "--set", "z" * 100_000])) < 300


# --- recipes that are not (one) mapping of text ------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (bytes(range(256)), "not a text recipe"),
        ("model: {name: caf\u00e9}\n".encode("latin-1"), "not UTF-8"),
        (b"", "the recipe is empty"),
        (b"# only\n# comments\n", "the recipe is empty"),
        (b"model: {name: a}\n---\nmodel: {name: b}\n", "several YAML documents"),
        (b"- model\n- data\n", "not a list"),
        (b"just a string\n", "not a str"),
        (b"a: " + b"[" * 3000 + b"]" * 3000 + b"\n", "nested too deeply"),
        (b"model: {name: a\x00}\n", "YAML syntax error"),
    ],
)
def test_recipe_that_is_not_a_text_mapping(runner, tmp_path, content, expected):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_bytes(content)
    fails_cleanly(runner, ["validate", recipe], "recipe.yaml", expected)
    fails_cleanly(runner, ["run", recipe], "recipe.yaml", expected)
    assert recipe.read_bytes() == content


def test_directory_given_as_recipe(runner, tmp_path):
    fails_cleanly(runner, ["validate", tmp_path], str(tmp_path), "is a directory")


# --- data that is broken or not there -----------------------------------------------------------


def saved_dataset(folder):
    import datasets

    datasets.Dataset.from_list(toy_rows(20)).save_to_disk(str(folder))
    return folder


@pytest.mark.parametrize("damage", ["dataset_info.json", "state.json", "arrow", "not-json"])
def test_broken_saved_dataset_directory(runner, tmp_path, tiny_models, damage):
    folder = saved_dataset(tmp_path / "saved")
    if damage == "arrow":
        for file in folder.glob("*.arrow"):
            file.unlink()
    elif damage == "not-json":
        (folder / "state.json").write_bytes(b"\xff\xfe\x00")
    else:
        (folder / damage).write_text("{broken")
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], folder, tmp_path / "out")
    fails_cleanly(
        runner, ["run", recipe], "data.train", "saved", str(folder), absent=[tmp_path / "out"]
    )


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("data/train.csv", "data file 'data/train.csv' not found"),
        ("data/train.txt", "no file or directory 'data/train.txt' here"),
        ("./nowhere", "not found"),
        ("a/b/c", "no file or directory 'a/b/c' here"),
        ("x" * 5000 + ".csv", "not found"),
    ],
)
def test_relative_data_path_that_is_not_there(runner, tmp_path, tiny_models, spec, expected):
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], spec, tmp_path / "out")
    out = fails_cleanly(runner, ["run", recipe], "data.train", expected)
    assert "Traceback" not in out and "huggingface.co" not in out


# --- labels of mixed type ----------------------------------------------------------------------


def dry_run_labels(runner, tmp_path, tiny_models, data) -> list[str]:
    """The class names a run would train, from `--dry-run` (which prepares and tokenizes)."""
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], data, tmp_path / "out")
    run_ok(runner, ["run", recipe, "--dry-run"])
    from toolkit.recipe.load import load_recipe
    from toolkit.tasks.registry import task_for

    task = task_for(load_recipe(recipe))
    from toolkit.data import build_splits

    task.prepare(build_splits(load_recipe(recipe).data, task.columns))
    return task.label_names


def mixed_rows(labels: list) -> list[dict]:
    rows = toy_rows(60)
    for i, row in enumerate(rows):
        row["label"] = labels[i % len(labels)]
    return rows


def test_mixed_labels_are_one_class_per_string_form(runner, tmp_path, tiny_models):
    jsonl = write_jsonl(tmp_path / "mixed.jsonl", mixed_rows([1, "1", "pos", 1.0, " pos"]))
    assert dry_run_labels(runner, tmp_path, tiny_models, jsonl) == ["1", "pos"]
    csv = write_csv(tmp_path / "mixed.csv", mixed_rows([1, "1", "pos", "1.0", " pos"]))
    assert dry_run_labels(runner, tmp_path, tiny_models, csv) == ["1", "pos"]
    floats = write_csv(tmp_path / "floats.csv", mixed_rows([1.0, 2.0, 10.0]))  # a float column
    assert dry_run_labels(runner, tmp_path, tiny_models, floats) == ["1", "2", "10"]
    flags = write_jsonl(tmp_path / "flags.jsonl", mixed_rows([True, False, "True"]))
    assert dry_run_labels(runner, tmp_path, tiny_models, flags) == ["False", "True"]


@pytest.mark.parametrize(("bad", "shown"), [(1.5, "1.5"), ([1], "[1]"), ({"a": 1}, "{'a': 1}")])
def test_label_that_is_no_class_is_refused_naming_the_line(
    runner, tmp_path, tiny_models, bad, shown
):
    rows = mixed_rows(["pos", "neg"])
    rows[6]["label"] = bad
    data = write_jsonl(tmp_path / "bad.jsonl", rows)
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], data, tmp_path / "out")
    fails_cleanly(
        runner, ["run", recipe], "bad.jsonl line 7", shown, "not a class label",
        absent=[tmp_path / "out"],
    )  # fmt: skip


# --- row numbers as the user counts them -------------------------------------------------------


@pytest.mark.parametrize("index", [0, 6, 17, 59])
def test_rows_are_named_by_line_of_the_original_file(runner, tmp_path, tiny_models, index):
    """Wherever the bad row lands (train, or a held-out split carved out of it), the message
    names its line in the file: jsonl line = row + 1, csv line = row + 2 (the header)."""
    rows = toy_rows(60)
    rows[index]["text"] = "   "
    for data, line in (
        (write_jsonl(tmp_path / "t.jsonl", rows), index + 1),
        (write_csv(tmp_path / "t.csv", rows), index + 2),
    ):
        recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], data, tmp_path / "out")
        fails_cleanly(runner, ["run", recipe], f"{data.name} line {line})", "empty text")


def test_rows_of_sources_without_lines_are_counted_from_one(runner, tmp_path, tiny_models):
    import datasets

    rows = toy_rows(60)
    rows[4]["text"] = ""
    parquet = tmp_path / "t.parquet"
    datasets.Dataset.from_list(rows).to_parquet(str(parquet))
    array = tmp_path / "t.json"
    array.write_text(json.dumps(rows))
    for data in (parquet, array):
        recipe = make_recipe(
            tmp_path / "r.yaml", tiny_models["bert"], data, tmp_path / "out",
            data={"validation": str(data), "test": str(data)},
        )  # fmt: skip
        fails_cleanly(runner, ["run", recipe], "data.train row 5", "empty text")


# --- paths that escape the run -----------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_models):
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("escape")
    data = write_csv(root / "toy.csv", toy_rows(80))
    recipe = make_recipe(root / "r.yaml", tiny_models["bert"], data, root / "runs" / "run")
    run_ok(CliRunner(), ["run", recipe])
    return root / "runs" / "run"


def tree(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("split", ["../../outside", "..", "a/b", "/etc/passwd", "x\\y", ".hidden"])
def test_eval_split_that_escapes_is_refused(runner, trained, split):
    root = trained.parent.parent
    before = tree(root)
    fails_cleanly(runner, ["eval", trained, "--split", split], "--split", "cannot name a file")
    assert tree(root) == before


@pytest.mark.parametrize(
    ("name", "written"), [("..jsonl", "data.json"), ("we ird$name.jsonl", "we_ird_name.json")]
)
def test_eval_data_file_names_stay_inside_the_run(runner, trained, tmp_path, name, written):
    data = write_jsonl(tmp_path / name, toy_rows(8))
    root = trained.parent.parent
    outside = tree(root) - {p for p in tree(root) if p.startswith("runs/run/")}
    result = runner.invoke(app, ["eval", str(trained), "--data", str(data)])
    assert result.exit_code == 0, result.output
    assert (trained / "eval" / written).is_file()
    assert tree(root) - {p for p in tree(root) if p.startswith("runs/run/")} == outside
