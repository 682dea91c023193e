"""`toolkit augment`: WordNet synonym swap and EDA operations, offline (needs
`make augment-assets`, which `make test` runs)."""

from __future__ import annotations

import json
import random
import statistics

import pytest
from conftest import fails_cleanly, read_jsonl, run_ok, toy_rows, write_csv

from toolkit.augment import get_method
from toolkit.augment.synonym import WORD_RE
from toolkit.cli import app
from toolkit.recipe.augment import WordStep

LONG = "the good film had a superb story and wonderful acting with lovely music and a boring ending"


def make(method: str, p: float, **settings):
    return get_method(WordStep(method=method, p=p, **settings))


@pytest.fixture
def toy_file(tmp_path):
    return write_csv(tmp_path / "toy.csv", toy_rows(30))


@pytest.mark.parametrize("method", ["synonym", "swap", "delete", "insert"])
def test_seed_fixes_the_output_and_seeds_differ(method):
    texts = [row["text"] for row in toy_rows(20)]
    augment = make(method, 0.15).augment
    first = augment(texts, 2, random.Random(1))
    assert first == augment(texts, 2, random.Random(1))
    assert first != augment(texts, 2, random.Random(2))


def test_synonym_edit_rate_is_close_to_p():
    variants = make("synonym", 0.2).augment([LONG] * 300, 1, random.Random(0))
    assert statistics.mean(v.edit_rate for [v] in variants) == pytest.approx(0.2, abs=0.03)


def test_synonyms_are_wordnet_synonyms():
    from nltk.corpus import wordnet

    swaps = set()
    for [variant] in make("synonym", 0.5).augment(["good"] * 50, 1, random.Random(0)):
        swaps.add(variant.text)
    known = {
        lemma.name().replace("_", " ") for s in wordnet.synsets("good") for lemma in s.lemmas()
    }
    assert swaps and swaps <= known - {"good"}


def test_delete_and_insert_change_word_counts():
    text = LONG
    [[deleted]] = make("delete", 0.2).augment([text], 1, random.Random(0))
    [[inserted]] = make("insert", 0.2).augment([text], 1, random.Random(0))
    assert len(WORD_RE.findall(deleted.text)) < len(WORD_RE.findall(text))
    assert len(WORD_RE.findall(inserted.text)) > len(WORD_RE.findall(text))


def test_cli_keeps_labels_ids_and_originals(runner, toy_file, tmp_path):
    out = tmp_path / "aug.jsonl"
    output = run_ok(runner, ["augment", str(toy_file), "--out", str(out), "--n", "2"])
    assert "rows in: 30" in output and "variants/s" in output
    rows, source = read_jsonl(out), toy_rows(30)
    originals = [r for r in rows if r["method"] == "original"]
    assert [r["orig_id"] for r in originals] == list(range(30))
    for row in rows:
        assert row["label"] == source[row["orig_id"]]["label"]
        assert row["method"] == "original" or row["text"] != source[row["orig_id"]]["text"]
    assert any(r["method"] == "synonym" for r in rows)


def test_cli_no_originals_and_formats(runner, toy_file, tmp_path):
    for suffix in (".csv", ".json", ".parquet"):
        out = tmp_path / f"aug{suffix}"
        run_ok(runner, ["augment", str(toy_file), "--out", str(out), "--no-originals"])
        from toolkit.data import load_table

        table = load_table(str(out), "out")
        assert "original" not in set(table["method"]) and len(table) > 0


@pytest.mark.parametrize(
    ("rows", "args", "expected"),
    [
        (None, ["--method", "synonim"], ["unknown method 'synonim'", "did you mean 'synonym'"]),
        (None, ["--column", "body"], ["'body' not found", "text, label"]),
        ([{"text": "fine", "label": "a"}, {"text": "", "label": "b"}], [], ["csv line 3", "empty"]),
        ([{"text": "1", "label": "a"}, {"text": "2", "label": "b"}], [], ["line 2", "non-text"]),
    ],
)
def test_bad_input_fails_cleanly(runner, toy_file, tmp_path, rows, args, expected):
    source = write_csv(tmp_path / "in.csv", rows) if rows else toy_file
    before = source.read_bytes()
    out = tmp_path / "out.csv"
    fails_cleanly(runner, ["augment", str(source), "--out", str(out), *args], *expected)
    assert source.read_bytes() == before and not out.exists()


def test_output_equal_to_input_is_refused(runner, toy_file):
    before = toy_file.read_bytes()
    fails_cleanly(runner, ["augment", str(toy_file), "--out", str(toy_file)], "is the input")
    assert toy_file.read_bytes() == before


def test_missing_wordnet_names_the_make_target(runner, toy_file, tmp_path, monkeypatch):
    from toolkit.augment import synonym, wordnet_assets

    monkeypatch.setattr(wordnet_assets, "wordnet_works", lambda: False)
    synonym.synonym_table.cache_clear()
    out = tmp_path / "out.csv"
    fails_cleanly(runner, ["augment", str(toy_file), "--out", str(out)], "make augment-assets")
    synonym.synonym_table.cache_clear()
    assert not out.exists()


def test_recipe_augment_section_grows_train_only(tiny_models, toy_csv, tmp_path, runner):
    from conftest import make_recipe

    out = tmp_path / "run"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, out)
    text = (
        recipe.read_text() + "augment:\n  - {method: synonym, p: 0.2, n: 1}\n  - {method: swap}\n"
    )
    recipe.write_text(text)
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    assert "augment synonym: accepted" in result.output
    record = json.loads((out / "splits.json").read_text())["train_augmentation"]
    assert record["rows_in"] == 168 and record["rows_out"] > 168 * 2  # originals + 2 steps
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["samples"] == 36  # held-out splits untouched
    assert metrics["train"]["train_samples_per_second"] > 0


def test_recipe_augment_bad_method(tiny_models, toy_csv, tmp_path, runner):
    from conftest import make_recipe

    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, tmp_path / "run")
    recipe.write_text(recipe.read_text() + "augment:\n  - {method: synonim}\n")
    result = runner.invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 2 and "did you mean 'synonym'" in result.output
