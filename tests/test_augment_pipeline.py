"""The augmentation pipeline: task views (QA re-anchoring, translation source side, generation
input side), the on-disk cache, near-duplicate rejection, the label-flip filter, bad input."""

from __future__ import annotations

import json

import pytest
from conftest import (
    fails_cleanly,
    make_recipe,
    qa_rows,
    read_jsonl,
    recipe_file,
    run_ok,
    toy_rows,
    write_csv,
    write_jsonl,
)

from toolkit.augment.near_duplicates import HeldOutIndex
from toolkit.augment.synonym import Variant
from toolkit.augment.views import Slot, View

LONG40 = (
    "the film opens with a quiet scene in a small town where the old baker and his young "
    "daughter prepare bread for the morning market while the rain falls on the empty streets "
    "and the church bells ring"
)


def test_qa_answers_are_reanchored(tmp_path, runner):
    source = write_jsonl(tmp_path / "qa.jsonl", qa_rows(40))
    recipe = recipe_file(tmp_path, {"name": "qa"}, [{"method": "swap", "p": 0.3, "n": 2}])
    out = tmp_path / "out.jsonl"
    run_ok(runner, ["augment", str(source), "--recipe", str(recipe), "--out", str(out)])
    rows = read_jsonl(out)
    variants = [r for r in rows if r["method"] == "swap"]
    assert len(variants) > 40  # words moved, answers kept
    moved = 0
    for row in rows:
        [text], [start] = row["answers"]["text"], row["answers"]["answer_start"]
        assert row["context"][start : start + len(text)] == text
        original = qa_rows(40)[row["orig_id"]]
        assert row["question"] == original["question"]  # only the context is edited
        moved += start != original["answers"]["answer_start"][0]
    assert moved > 0  # some answers really had to be found again


def test_qa_rows_whose_answer_is_lost_are_dropped(monkeypatch):
    from toolkit.augment import pipeline
    from toolkit.recipe.augment import WordStep

    class DropsCities:  # a method that cannot protect spans and deletes the answer
        protects_spans = False

        def augment(self, texts, n, rng, protected=None):
            return [[Variant(t.replace("paris", "somewhere"), 0.1)] * n for t in texts]

    monkeypatch.setattr(pipeline, "get_method", lambda step: DropsCities())
    rows = qa_rows(30)
    view = view_of({"name": "qa"})
    out, summary = pipeline.augment_rows(rows, view, [WordStep(method="swap")], 0, use_cache=False)
    lost = sum("paris" in row["answers"]["text"] for row in rows)
    assert lost > 0
    assert summary.steps[0].dropped["answer lost"] == lost
    assert all(r["method"] == "original" or "paris" not in r["answers"]["text"] for r in out)


def view_of(raw: dict) -> View:
    """The augmentation view of the task a recipe's `task:` section describes."""
    from toolkit.tasks.registry import get_task

    task = get_task(raw["name"])
    return task(task.Settings.model_validate(raw)).augment_view()


def test_translation_edits_the_source_side_only(tmp_path, runner):
    pairs = [
        {"translation": {"en": f"the good film number {i} had a superb story", "es": f"e {i}"}}
        for i in range(20)
    ]
    source = write_jsonl(tmp_path / "pairs.jsonl", pairs)
    task = {"name": "translation", "source_lang": "en", "target_lang": "es"}
    recipe = recipe_file(tmp_path, task, [{"method": "synonym", "p": 0.3}])
    out = tmp_path / "out.jsonl"
    run_ok(runner, ["augment", str(source), "--recipe", str(recipe), "--out", str(out)])
    rows = read_jsonl(out)
    changed = [r for r in rows if r["method"] == "synonym"]
    assert changed
    for row in changed:
        original = pairs[row["orig_id"]]["translation"]
        assert row["translation"]["es"] == original["es"]
        assert row["translation"]["en"] != original["en"]


def test_generation_targets_are_kept_unless_the_step_says_so():
    view = view_of({"name": "generation", "mode": "prompt-completion"})
    rows = [{"prompt": "the good film", "completion": "had a superb story"}] * 3
    from toolkit.augment.pipeline import augment_rows
    from toolkit.recipe.augment import WordStep

    kept, _ = augment_rows(rows, view, [WordStep(method="synonym", p=0.5)], 0, use_cache=False)
    assert {r["completion"] for r in kept} == {"had a superb story"}
    both, _ = augment_rows(
        rows, view, [WordStep(method="synonym", p=0.5, targets=True)], 0, use_cache=False
    )
    assert len({r["completion"] for r in both}) > 1
    assert view_of({"name": "translation", "source_lang": "en", "target_lang": "es"}).slots(
        WordStep(method="synonym", targets=True)
    ) == [Slot("translation", "en")]  # translation targets are never edited


def test_repeated_augment_is_a_cache_hit_and_any_change_misses(tmp_path, runner):
    source = write_csv(tmp_path / "toy.csv", toy_rows(30))
    out = tmp_path / "a.jsonl"
    args = ["augment", str(source), "--out", str(out), "--step", "p=0.3"]
    first = run_ok(runner, args)
    assert "cache hit" not in first
    written = out.read_bytes()
    second = run_ok(runner, args)
    assert "cache hit" in second and out.read_bytes() == written
    assert "cache hit" not in run_ok(runner, [*args, "--seed", "5"])
    assert "cache hit" not in run_ok(runner, [*args[:-1], "p=0.2"])
    rows = toy_rows(30)
    rows[3]["text"] += " again"
    write_csv(source, rows)
    assert "cache hit" not in run_ok(runner, args)
    assert "cache hit" not in run_ok(runner, [*args, "--no-cache"])


def test_seed_fixes_the_output_file(tmp_path, runner):
    source = write_csv(tmp_path / "toy.csv", toy_rows(30))
    outputs = []
    for name in ("a.csv", "b.csv"):
        run_ok(runner, ["augment", str(source), "--out", str(tmp_path / name), "--no-cache"])
        outputs.append((tmp_path / name).read_bytes())
    assert outputs[0] == outputs[1]


def test_held_out_index_finds_near_duplicates_only():
    index = HeldOutIndex([LONG40, "a short one"])
    words = LONG40.split()
    one_word = " ".join(["movie" if w == "film" else w for w in words])
    assert index.is_near(one_word) and index.is_near(LONG40.upper())
    assert index.is_near("A short one!")
    assert not index.is_near(" ".join(words[: len(words) // 2]))
    assert not index.is_near("an entirely different sentence about cats and their owners")


def test_variants_near_held_out_rows_are_rejected(tmp_path, runner):
    source = write_csv(tmp_path / "train.csv", [{"text": LONG40, "label": "a"}] * 2)
    held = write_csv(tmp_path / "test.csv", [{"text": LONG40, "label": "a"}])
    out = tmp_path / "out.jsonl"
    args = ["augment", str(source), "--out", str(out), "--step", "p=0.03", "-n", "5"]
    output = run_ok(runner, [*args, "--held-out", str(held)])
    assert "near-duplicate of held-out text" in output
    index = HeldOutIndex([LONG40])
    assert not [
        r for r in read_jsonl(out) if r["method"] != "original" and index.is_near(r["text"])
    ]
    run_ok(runner, args)  # without the held-out file the same variants are kept
    assert any(r["method"] != "original" for r in read_jsonl(out))


def test_recipe_run_rejects_held_out_near_duplicates_and_hits_the_cache(
    tiny_models, toy_csv, tmp_path, runner
):
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, tmp_path / "run")
    recipe.write_text(recipe.read_text() + "augment:\n  - {method: delete, p: 0.1, n: 2}\n")
    first = run_ok(runner, ["run", str(recipe), "--set", "train.epochs=1"])
    assert "augment delete: accepted" in first and "cache hit" not in first
    second = run_ok(runner, ["run", str(recipe), "--set", "train.epochs=1", "--overwrite"])
    assert "cache hit" in second
    record = json.loads((tmp_path / "run" / "splits.json").read_text())["train_augmentation"]
    assert record["rows_out"] > record["rows_in"]


def test_label_filter_keeps_only_variants_the_classifier_agrees_with(
    tiny_models, toy_csv, tmp_path, runner
):
    run_dir = tmp_path / "clf"
    recipe = make_recipe(tmp_path / "r.yaml", tiny_models["bert"], toy_csv, run_dir)
    run_ok(runner, ["run", str(recipe), "--set", "train.epochs=1"])
    out = tmp_path / "out.jsonl"
    args = ["augment", str(toy_csv), "--out", str(out), "--method", "delete", "--step", "p=0.5"]
    output = run_ok(runner, [*args, "-n", "3", "--step", f"filter_model={run_dir}"])
    assert "label flipped" in output
    from toolkit.augment.label_filter import LabelFilter

    variants = [r for r in read_jsonl(out) if r["method"] == "delete"]
    judge = LabelFilter(str(run_dir), "test")
    assert variants and all(
        judge.agrees([r["text"] for r in variants], [r["label"] for r in variants])
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--step", "pivot=fr"], ["unknown key 'pivot' for method 'synonym'", "back_translation"]),
        (["--method", "back_translation", "--step", "engine=neural"], ["needs forward_model"]),
        (["--step", "p=1.5"], ["--step: 'p':", "less than or equal to 1"]),
        (["--step", "filter_model=x", "--label-column", "stars"], ["no label column 'stars'"]),
        (["--held-out", "missing.csv"], ["missing.csv"]),
    ],
)
def test_bad_step_options_fail_cleanly(tmp_path, runner, args, expected):
    source = write_csv(tmp_path / "toy.csv", toy_rows(10))
    before, out = source.read_bytes(), tmp_path / "out.csv"
    fails_cleanly(runner, ["augment", str(source), "--out", str(out), *args], *expected)
    assert source.read_bytes() == before and not out.exists()


def test_recipe_mode_bad_input(tmp_path, runner):
    source = write_csv(tmp_path / "toy.csv", toy_rows(10))
    with_steps = recipe_file(tmp_path, {"name": "sentiment"}, [{"method": "swap"}])
    fails_cleanly(
        runner, ["augment", str(source), "--recipe", str(with_steps), "--method", "swap"],
        "drop the method options",
    )  # fmt: skip
    no_steps = recipe_file(tmp_path, {"name": "sentiment"}, [])
    fails_cleanly(runner, ["augment", str(source), "--recipe", str(no_steps)], "no augment section")
    qa = recipe_file(tmp_path, {"name": "qa"}, [{"method": "swap"}])
    fails_cleanly(runner, ["augment", str(source), "--recipe", str(qa)], "'context' not found")
    assert not list(tmp_path.glob("toy.augmented*"))


def test_default_output_path_sits_next_to_the_input(tmp_path, runner):
    source = write_csv(tmp_path / "toy.csv", toy_rows(10))
    output = run_ok(runner, ["augment", str(source), "--method", "swap"])
    assert (tmp_path / "toy.augmented.csv").is_file() and "toy.augmented.csv" in output


def test_view_reanchor_picks_the_same_occurrence():
    view = View([Slot("context")], [], answers_column="answers")
    old = {"context": "rome and rome", "answers": {"text": ["rome"], "answer_start": [9]}}
    new = {"context": "rome , rome", "answers": old["answers"]}
    assert view.reanchor(dict(new), old)["answers"]["answer_start"] == [7]
    assert view.reanchor({"context": "nowhere", "answers": old["answers"]}, old) is None
