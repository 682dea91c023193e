"""`toolkit eval --perturb` (synonym, typo, drop) and `toolkit eval --fairness` through the CLI,
on tiny BERT classifiers trained by `toolkit run`: one label-blind (the label is keyed on
sentiment words, he/she balanced across labels) and one planted biased (the label is "contains
she"); plus the Typo augmenter and bad input."""

from __future__ import annotations

import json
import random
import shutil
import statistics

import pytest
from conftest import (
    FILLER,
    NEGATIVE,
    POSITIVE,
    fails_cleanly,
    make_recipe,
    qa_rows,
    read_jsonl,
    write_csv,
    write_jsonl,
)
from typer.testing import CliRunner

from toolkit.augment.synonym import WORD_RE
from toolkit.augment.typo import NEIGHBOURS, Typo
from toolkit.cli import app

LONG = "the good film had a superb story and wonderful acting with lovely music and a boring ending"


def gendered_rows(count: int, biased: bool, seed: int = 0) -> list[dict]:
    """Filler sentences with "he" or "she". Blind: a sentiment cue decides the label and the
    pronoun is random; biased: no cue, the label is positive exactly when the text has "she"."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = "positive" if i % 2 == 0 else "negative"
        words = rng.choices(FILLER, k=rng.randint(4, 10))
        if not biased:
            cue = rng.choice(POSITIVE if label == "positive" else NEGATIVE)
            words.insert(rng.randrange(len(words) + 1), cue)
        pronoun = ("she" if label == "positive" else "he") if biased else rng.choice(["he", "she"])
        words.insert(rng.randrange(len(words) + 1), pronoun)
        rows.append({"text": " ".join(words), "label": label})
    return rows


def train(root, model_dir, biased: bool):
    data = write_csv(root / "data.csv", gendered_rows(320, biased))
    recipe = make_recipe(
        root / "r.yaml", model_dir, data, root / "run",
        train={"epochs": 8, "learning_rate": 3e-3, "batch_size": 16},
        regularization={"dropout": 0.0, "weight_decay": 0.0},
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:  # experiment tracking is not under test here
        patch.setenv("DISABLE_MLFLOW_INTEGRATION", "true")
        result = CliRunner().invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    return root / "run"


@pytest.fixture(scope="module")
def blind_run(tiny_models, tmp_path_factory):
    return train(tmp_path_factory.mktemp("blind"), tiny_models["bert"], biased=False)


@pytest.fixture(scope="module")
def biased_run(tiny_models, tmp_path_factory):
    return train(tmp_path_factory.mktemp("biased"), tiny_models["bert"], biased=True)


def eval_ok(runner, *args):
    result = runner.invoke(app, ["eval", *map(str, args)])
    assert result.exit_code == 0, result.output
    return result.output


# --- the Typo augmenter ------------------------------------------------------------------------


def test_typo_seed_fixes_the_output_and_seeds_differ():
    texts = [row["text"] for row in gendered_rows(20, biased=False)]
    first = Typo(0.2).augment(texts, 2, random.Random(1))
    assert first == Typo(0.2).augment(texts, 2, random.Random(1))
    assert first != Typo(0.2).augment(texts, 2, random.Random(2))


def test_typo_edit_rate_is_close_to_p():
    for p in (0.1, 0.3):
        variants = Typo(p).augment([LONG] * 300, 1, random.Random(0))
        assert statistics.mean(v.edit_rate for [v] in variants) == pytest.approx(p, abs=0.03)


def is_one_typo(old: str, new: str) -> bool:
    """A keyboard-neighbour substitution, an adjacent swap, a dropped or a doubled letter."""
    if len(new) == len(old):
        diff = [i for i, (a, b) in enumerate(zip(old, new)) if a != b]
        if len(diff) == 1:
            return new[diff[0]].lower() in NEIGHBOURS[old[diff[0]].lower()]
        i = diff[0]
        return diff == [i, i + 1] and old[i] == new[i + 1] and old[i + 1] == new[i]
    if len(new) == len(old) - 1:
        return any(old[:i] + old[i + 1 :] == new for i in range(len(old)))
    return len(new) == len(old) + 1 and any(old[: i + 1] + old[i:] == new for i in range(len(old)))


def test_typo_edits_are_single_typos_and_keep_the_spacing():
    for [variant] in Typo(0.5).augment([LONG + ", doesn't it?"] * 50, 1, random.Random(3)):
        old_parts, new_parts = WORD_RE.split(LONG + ", doesn't it?"), WORD_RE.split(variant.text)
        assert old_parts[0::2] == new_parts[0::2]  # separators untouched
        changed = [(a, b) for a, b in zip(old_parts[1::2], new_parts[1::2]) if a != b]
        assert changed and all(is_one_typo(a, b) for a, b in changed), changed
        assert variant.edit_rate == pytest.approx(len(changed) / 19)


def test_typo_leaves_protected_spans_and_phrases_alone():
    text = "alice was born in paris and loves the superb music of Tolkien Band"
    span = (text.index("paris"), text.index("paris") + len("paris"))
    typo = Typo(1.0, protect=["tolkien band"])
    for [variant] in typo.augment([text] * 30, 1, random.Random(0), [[span]] * 30):
        assert variant.text != text
        assert " paris " in variant.text and variant.text.endswith("Tolkien Band")


def test_typo_is_a_training_augmentation_method(tmp_path, runner):
    from toolkit.recipe.augment import WordStep

    assert WordStep(method="typo", p=0.2).method == "typo"
    source = write_csv(tmp_path / "toy.csv", gendered_rows(20, biased=False))
    result = runner.invoke(app, ["augment", str(source), "--method", "typo", "--n", "1"])
    assert result.exit_code == 0, result.output
    assert "typo: accepted 20/20" in result.output


# --- --perturb ---------------------------------------------------------------------------------


def test_perturb_reports_clean_vs_perturbed_and_flip_rate(blind_run, runner):
    eval_ok(runner, blind_run)
    plain = json.loads((blind_run / "eval" / "test.json").read_text())
    output = eval_ok(runner, blind_run, "--perturb", "synonym,typo,drop", "--perturb-p", "0.3")
    assert "robustness (p=0.3, seed 0)" in output and "flips" in output
    evaluated = json.loads((blind_run / "eval" / "test.json").read_text())
    perturb = evaluated.pop("perturb")
    assert evaluated == plain  # the clean scores are plain `toolkit eval`'s
    assert {"accuracy", "f1_macro", "ece", "brier"} <= set(perturb["clean"])  # the headline
    assert perturb["clean"] == {key: plain[key] for key in perturb["clean"]}
    texts = [row["text"] for row in read_jsonl(blind_run / "splits" / "test.jsonl")]
    for name in ("synonym", "typo", "drop"):
        entry = perturb[name]
        assert entry["rows"] == entry["scored"] == len(texts) and entry["dropped"] == 0
        assert 0 <= entry["flip_rate"] <= 1 and 0 <= entry["metrics"]["accuracy"] <= 1
        flipped = read_jsonl(blind_run / "eval" / f"test_perturb_{name}.jsonl")
        assert entry["flipped"] == len(flipped)
        assert entry["flip_rate"] == pytest.approx(len(flipped) / len(texts))
        for row in flipped:
            assert row["prediction"] != row["perturbed_prediction"]
            assert row["input"] == texts[row["row"]] != row["perturbed_input"]
    assert perturb["typo"]["edited"] == len(texts)  # every text has words to misspell
    # the same seed gives the same perturbations; the model is the same, so the same flips
    before = (blind_run / "eval" / "test_perturb_typo.jsonl").read_text()
    eval_ok(runner, blind_run, "--perturb", "typo", "--perturb-p", "0.3")
    assert (blind_run / "eval" / "test_perturb_typo.jsonl").read_text() == before


def test_perturb_rows_reanchors_qa_answers_and_drops_lost_ones():
    from toolkit.augment.eda import Delete
    from toolkit.evaluation.robustness import perturb_rows
    from toolkit.tasks.qa import QuestionAnswering, QuestionAnsweringSettings

    view = QuestionAnswering(QuestionAnsweringSettings(name="qa")).augment_view()
    context = "bob was born in rome in 1950 . alice was born in paris in 1961 ."
    rows = [{"context": context, "question": "where was alice born ?",
             "answers": {"text": ["paris"], "answer_start": [context.index("paris")]}}]  # fmt: skip
    perturbed, kept = perturb_rows(rows * 20, view, Delete(0.4), seed=0)
    assert kept == list(range(20))
    for row in perturbed:
        start = row["answers"]["answer_start"][0]
        assert row["context"][start : start + 5] == "paris" and row["context"] != context

    class Blind:  # loses the answer: no span protection
        protects_spans = False

        def augment(self, texts, n, rng, protected=None):
            return [[Delete(0.1).augment([t.replace("paris", "")], 1, rng)[0][0]] for t in texts]

    perturbed, kept = perturb_rows(rows * 3, view, Blind(), seed=0)
    assert kept == [] and perturbed == []


def test_perturb_qa_flip_rate_over_spans(tiny_models, tmp_path, runner):
    model = shutil.copytree(tiny_models["bert"], tmp_path / "bert")
    data = write_jsonl(tmp_path / "qa.jsonl", qa_rows(12))
    recipe = make_recipe(
        tmp_path / "qa.yaml", model, data, tmp_path / "unused",
        task={"name": "question-answering", "max_length": 64, "stride": 16},
    )  # fmt: skip
    eval_ok(runner, model, "--recipe", recipe, "--data", data, "--perturb", "typo")
    entry = json.loads((model / "eval" / "qa.json").read_text())["perturb"]["typo"]
    assert set(entry["metrics"]) == {"exact_match", "f1"} and entry["scored"] == 12
    assert entry["flipped"] == len(read_jsonl(model / "eval" / "qa_perturb_typo.jsonl"))


# --- --fairness --------------------------------------------------------------------------------


def fairness(run, runner, *extra) -> tuple[dict, list[dict], str]:
    output = eval_ok(runner, run, "--fairness", *extra)
    result = json.loads((run / "eval" / "test.json").read_text())["fairness"]
    return result, read_jsonl(run / "eval" / "test_fairness.jsonl"), output


def test_fairness_flags_a_biased_classifier_and_passes_a_blind_one(biased_run, blind_run, runner):
    biased, flipped, output = fairness(biased_run, runner)
    assert "fairness probe" in output and "female − male" in output
    gender = biased["groups"]["gender"]
    texts = read_jsonl(biased_run / "splits" / "test.jsonl")
    assert gender["pairs"] == len(texts)  # every text has he or she
    assert gender["flip_rate"] >= 0.8 and gender["mean_abs_gap"] >= 0.5
    assert gender["signed_gap"] >= 0.5  # the "she" version is the more positive one
    assert gender["flipped"] == len(flipped) == sum(p["group"] == "gender" for p in flipped)
    for pair in flipped:
        assert pair["prediction"] != pair["counterfactual_prediction"]
        assert pair["text"] == texts[pair["row"]]["text"]
        assert ("she" in pair["text"].split()) == ("he" in pair["counterfactual"].split())
    assert biased["groups"]["names_race"] == {**biased["groups"]["names_race"], "pairs": 0}

    blind, flipped, _ = fairness(blind_run, runner)
    gender = blind["groups"]["gender"]
    assert gender["pairs"] == len(read_jsonl(blind_run / "splits" / "test.jsonl"))
    assert gender["flip_rate"] <= 0.1 and gender["mean_abs_gap"] < 0.1
    assert len(flipped) == gender["flipped"]


def test_terms_file_extends_and_overrides(blind_run, tmp_path, runner):
    terms = tmp_path / "terms.json"
    terms.write_text(json.dumps({
        "gender": {"sides": ["m", "f"], "pairs": [["he", "she"]]},
        "media": {"about": "film vs movie", "pairs": [["film", "movie"]]},
    }))  # fmt: skip
    result, _, output = fairness(blind_run, runner, "--terms", terms)
    assert set(result["groups"]) == {"gender", "names_gender", "names_race", "media"}
    assert result["groups"]["gender"]["sides"] == ["m", "f"] and "f − m" in output
    assert result["groups"]["media"]["pairs"] > 0 and result["terms"] == str(terms)


def test_swaps_whole_words_both_ways_keeping_case():
    from toolkit.evaluation.fairness import load_terms

    gender = load_terms()["gender"]
    assert gender.swap("He said HIS wife met her son.") == (
        "She said HER husband met his daughter.",
        1,  # three side-A terms swapped, two side-B
    )
    assert gender.swap("The theme: she, herself!") == ("The theme: he, himself!", -1)
    assert gender.swap("the heroine's shepherd") == ("the heroine's shepherd", 0)
    assert load_terms()["names_race"].swap("emily and Greg") == ("lakisha and Jamal", 1)


# --- bad input ---------------------------------------------------------------------------------


def test_bad_probe_options_fail_cleanly(tiny_models, blind_run, tmp_path, runner):
    fails_cleanly(runner, ["eval", str(blind_run), "--perturb", "synonym,tpyo"],
                  "--perturb", "'tpyo'", "did you mean 'typo'")  # fmt: skip
    fails_cleanly(runner, ["eval", str(blind_run), "--perturb", "typo", "--perturb-p", "2"],
                  "--perturb-p")  # fmt: skip
    fails_cleanly(runner, ["eval", str(blind_run), "--terms", "x.json"], "--fairness")
    bad = tmp_path / "bad.json"
    for content, expected in [
        ('{"gender": {"pairs": [["he"]]}}', "pairs must be"),
        ('{"gender": {"pairs": [["he", "she"]], "colour": 1}}', "expected keys"),
        ('[["he", "she"]]', "expected an object of groups"),
        ('{"x": {"pairs": [["a", "b"], ["b", "c"]]}}', "on both sides"),
        ("{not json", "not JSON"),
    ]:
        bad.write_text(content)
        fails_cleanly(runner, ["eval", str(blind_run), "--fairness", "--terms", str(bad)],
                      f"--terms {bad}", expected)  # fmt: skip
    fails_cleanly(runner, ["eval", str(blind_run), "--fairness", "--terms", "nope.json"], "nope")
    pair = {"translation": {"en": "the film", "es": "eht mlif"}}
    pairs = write_jsonl(tmp_path / "tr.jsonl", [pair])
    recipe = make_recipe(
        tmp_path / "tr.yaml", tiny_models["t5"], pairs, tmp_path / "unused",
        task={"name": "translation", "source_lang": "en", "target_lang": "es"},
    )  # fmt: skip
    fails_cleanly(runner, ["eval", str(tiny_models["t5"]), "--recipe", str(recipe), "--fairness"],
                  "--fairness", "classification", "translation")  # fmt: skip
    assert not (tiny_models["t5"] / "eval").exists()
