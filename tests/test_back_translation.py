"""Back-translation: the neural engine on tiny random Marian pairs, the apertium engine for real
when installed (else skipped), and both engines' bad input."""

from __future__ import annotations

import random
import shutil

import pytest
from conftest import (
    build_seq2seq,
    fails_cleanly,
    read_jsonl,
    recipe_file,
    run_ok,
    seeded_init,
    toy_rows,
    write_csv,
)

from toolkit.augment import get_method
from toolkit.augment.back_translation import Apertium, BackTranslation, edit_rate
from toolkit.errors import ToolkitError
from toolkit.recipe.augment import BackTranslationStep

TEXTS = [
    "the film was good",
    "a very long and rather dull story about the cast and the director of this movie",
    "music",
    "the acting is truly wonderful , and the ending is quite lovely",
    "boring plot",
]
needs_apertium = pytest.mark.skipif(
    shutil.which("apertium") is None or "eng-spa" not in Apertium.modes(),
    reason="needs Debian apertium + apertium-eng-spa",
)


@pytest.fixture(scope="module")
def marian_pair(tmp_path_factory) -> tuple[str, str]:
    root = tmp_path_factory.mktemp("bt")
    seeded_init()
    return str(build_seq2seq(root / "fwd", "marian")), str(build_seq2seq(root / "bwd", "marian"))


def neural(pair: tuple[str, str], **settings) -> BackTranslation:
    step = BackTranslationStep(
        method="back_translation", engine="neural", forward_model=pair[0], backward_model=pair[1],
        max_length=16, **settings,
    )  # fmt: skip
    return get_method(step)


def test_edit_rate_is_word_levenshtein():
    assert edit_rate("The film is good", "the film is good") == 0
    assert edit_rate("the film is good", "the movie is good") == pytest.approx(0.25)
    assert edit_rate("the film is good", "film is good") == pytest.approx(0.25)  # one deletion
    assert edit_rate("good", "a very good film indeed") == 1.0  # capped
    assert edit_rate("", "") == 0.0


BACKENDS = ["ctranslate2", "transformers"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [1, 3])
def test_neural_shape(marian_pair, n, backend):
    out = neural(marian_pair, backend=backend).augment(TEXTS, n, random.Random(0))
    assert len(out) == len(TEXTS)
    for variants in out:
        assert len(variants) == n
        assert all(isinstance(v.text, str) and 0 <= v.edit_rate <= 1 for v in variants)


@pytest.mark.parametrize("backend", BACKENDS)
def test_neural_seed_fixes_output(marian_pair, backend):
    import torch

    aug = neural(marian_pair, backend=backend)
    assert aug.augment(TEXTS, 1, random.Random(0)) == aug.augment(TEXTS, 1, random.Random(9))
    state = torch.random.get_rng_state()
    first = aug.augment(TEXTS, 3, random.Random(0))
    assert torch.equal(state, torch.random.get_rng_state())  # torch's global RNG untouched
    assert first == aug.augment(TEXTS, 3, random.Random(0))
    assert first != aug.augment(TEXTS, 3, random.Random(1))
    assert any(len({v.text for v in variants}) > 1 for variants in first)  # sampled, not copies


@pytest.mark.parametrize("backend", BACKENDS)
def test_neural_length_sorting_restores_order(marian_pair, backend):
    batched = neural(marian_pair, batch_size=2, backend=backend).engine
    alone = neural(marian_pair, batch_size=1, backend=backend).engine
    for which in ("forward", "backward"):
        expected = [alone.translate([text], which)[0] for text in TEXTS]
        assert batched.translate(TEXTS, which) == expected


def test_neural_missing_or_unloadable_model(marian_pair, tmp_path):
    with pytest.raises(ToolkitError, match=r"back_translation\.forward_model: .*nope.* not a dir"):
        neural((str(tmp_path / "nope"), marian_pair[1]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ToolkitError, match=r"back_translation\.backward_model: cannot load") as e:
        neural((marian_pair[0], str(tmp_path / "empty")))
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("num_beams", [1, 3])
def test_ctranslate2_translates_as_transformers(marian_pair, num_beams):
    """The same checkpoint, the same search: the same translations, length bounds included."""
    fast = neural(marian_pair, backend="ctranslate2", num_beams=num_beams).engine
    slow = neural(marian_pair, backend="transformers", num_beams=num_beams).engine
    assert fast.models["forward"].backend == "ctranslate2"
    assert slow.models["forward"].backend == "transformers"
    for which in ("forward", "backward"):
        expected = slow.translate(TEXTS, which)
        assert fast.translate(TEXTS, which) == expected
        assert any(len(text) > 10 for [text] in expected)  # real outputs, not empty strings


def test_ctranslate2_is_the_default_and_converts_once(marian_pair, private_augment_cache):
    import ctranslate2.converters

    first = neural(marian_pair).engine
    assert first.models["backward"].backend == "ctranslate2"
    converted = list((private_augment_cache / "ctranslate2").iterdir())
    assert len(converted) == 2 and all((f / "model.bin").is_file() for f in converted)

    class Refuse(ctranslate2.converters.TransformersConverter):
        def convert(self, *args, **kwargs):
            raise AssertionError("converted again instead of reading the cache")

    original = ctranslate2.converters.TransformersConverter
    ctranslate2.converters.TransformersConverter = Refuse
    try:
        again = neural(marian_pair).engine
    finally:
        ctranslate2.converters.TransformersConverter = original
    assert again.translate(TEXTS, "forward") == first.translate(TEXTS, "forward")


def test_ctranslate2_int8(marian_pair):
    aug = neural(marian_pair, int8=True)
    assert aug.engine.models["forward"].translator.compute_type.startswith("int8")
    out = aug.augment(TEXTS, 1, random.Random(0))
    assert len(out) == len(TEXTS) and all(isinstance(v.text, str) for [v] in out)
    with pytest.raises(ValueError, match="int8 needs backend: ctranslate2"):
        neural(marian_pair, int8=True, backend="transformers")


@pytest.fixture(scope="module")
def unconvertible_pair(tmp_path_factory) -> tuple[str, str]:
    """A seq2seq architecture CTranslate2 has no converter for (BlenderbotSmall)."""
    import json

    from transformers import BlenderbotSmallConfig, BlenderbotSmallForConditionalGeneration

    root = tmp_path_factory.mktemp("blenderbot")
    folder = build_seq2seq(root / "model", "bart")
    config = BlenderbotSmallConfig.from_dict(
        {k: v for k, v in json.loads((folder / "config.json").read_text()).items()
         if k not in ("architectures", "model_type", "transformers_version")}
    )  # fmt: skip
    seeded_init()
    BlenderbotSmallForConditionalGeneration(config).save_pretrained(folder)
    return str(folder), str(folder)


def test_unconvertible_model_falls_back_or_fails(unconvertible_pair, capsys):
    aug = neural(unconvertible_pair)
    assert aug.engine.models["forward"].backend == "transformers"
    assert "CTranslate2 cannot convert" in capsys.readouterr().err
    assert len(aug.augment(TEXTS, 1, random.Random(0))) == len(TEXTS)
    with pytest.raises(ToolkitError, match=r"^back_translation\.forward_model: CTranslate2 cannot"):
        neural(unconvertible_pair, backend="ctranslate2")


def test_ctranslate2_not_installed(marian_pair, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ctranslate2", None)  # import ctranslate2 -> ImportError
    with pytest.raises(ToolkitError, match=r"pip install ctranslate2"):
        neural(marian_pair, backend="ctranslate2")
    assert neural(marian_pair).engine.models["forward"].backend == "transformers"


def apertium_step(**settings) -> BackTranslationStep:
    return BackTranslationStep(method="back_translation", engine="apertium", **settings)


# Punctuation, quotes, no final period, abbreviations, stream-format characters of apertium
# (^ $ [ ] / < > @ # * \), numbers, a line that would reorder across a newline ("the big" +
# "red dog"), and texts with their own newlines.
TRICKY = [
    "the film is good",
    'he said "no" to it .',
    "no final period",
    "what?",
    "I saw the big",
    "red dog",
    "a [bracketed] word and ^caret$ dollar",
    "back\\slash and /slash/ and <angle> & amp",
    "e-mail me @ home #hashtag *star",
    "...",
    '"',
    "3.5 stars out of 5 , 100% fun",
    "Mr. Smith went to Washington. He liked it.",
    "two\nlines",
    "blank\n\nline inside",
    "  padded  ",
    "it's the director's best work , isn't it ?",
    "the end.",
]


@needs_apertium
def test_apertium_round_trip_keeps_alignment():
    aug = get_method(apertium_step())
    filler = [f"the {w} was {a} ." for w in ("film", "plot", "cast") for a in ("good", "bad")]
    texts = (TRICKY + filler * 6)[:54]
    out = aug.augment(texts, 2, random.Random(0))
    assert len(out) == len(texts)
    for variants in out:
        assert len(variants) == 2 and variants[0] == variants[1]  # deterministic engine
        assert 0 <= variants[0].edit_rate <= 1 and "\n" not in variants[0].text
    assert out[0][0].text.startswith("the film")  # English again, first-letter case kept
    assert not {"el", "la", "es", "película"} & set(out[0][0].text.lower().split())
    assert out[-1][0].text.endswith(".")
    engine = aug.engine
    forward = engine.modes_used[0]
    one_by_one = [engine.translate([text], forward)[0] for text in texts[:20]]
    assert engine.translate(texts, forward)[:20] == one_by_one
    assert engine.translate(["big", "", "dog"], forward)[1] == ""


@needs_apertium
def test_apertium_pair_not_installed():
    with pytest.raises(ToolkitError, match=r"eng-fra.*installed: .*eng-spa.*apt-get install"):
        get_method(apertium_step(pivot="fr"))


def test_apertium_binary_missing(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolkitError, match=r"apt-get install apertium apertium-eng-spa"):
        get_method(apertium_step())


def test_apertium_failure_shows_its_stderr(tmp_path, monkeypatch):
    fake = tmp_path / "apertium"
    fake.write_text(
        '#!/bin/sh\nif [ "$1" = "-l" ]; then printf "  eng-spa\\n  spa-eng\\n"; exit 0; fi\n'
        'echo "Error: mode file is broken" >&2\necho "more detail" >&2\nexit 1\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    aug = get_method(apertium_step())
    with pytest.raises(ToolkitError, match=r"apertium eng-spa failed: Error: mode file is broken$"):
        aug.augment(["the film"], 1, random.Random(0))


@pytest.mark.parametrize(
    ("args", "path", "expected"),
    [
        (["--step", "pivot=es"], "/nonexistent", "apt-get install apertium apertium-eng-spa"),
        (["--step", "pivot=fr"], None, "eng-fra"),
    ],
)
def test_cli_engine_errors_leave_no_output(tmp_path, runner, monkeypatch, args, path, expected):
    if path is None and shutil.which("apertium") is None:
        pytest.skip("needs Debian apertium")
    source = write_csv(tmp_path / "toy.csv", toy_rows(5))
    before, out = source.read_bytes(), tmp_path / "out.csv"
    if path:
        monkeypatch.setenv("PATH", path)
    command = ["augment", str(source), "--out", str(out), "--method", "back_translation", *args]
    fails_cleanly(runner, command, expected)
    assert source.read_bytes() == before and not out.exists()


def test_cli_neural_round_trip_writes_variants(marian_pair, tmp_path, runner):
    source = write_csv(tmp_path / "toy.csv", toy_rows(12))
    out = tmp_path / "out.jsonl"
    command = ["augment", str(source), "--out", str(out), "--method", "back_translation",
               "--step", "engine=neural", "--step", f"forward_model={marian_pair[0]}",
               "--step", f"backward_model={marian_pair[1]}", "-n", "2"]  # fmt: skip
    assert "back_translation: accepted" in run_ok(runner, command)
    rows = read_jsonl(out)
    assert {r["method"] for r in rows} == {"original", "back_translation"}
    assert all(r["label"] == toy_rows(12)[r["orig_id"]]["label"] for r in rows)


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ({"backend": "transformers", "int8": True}, "int8 needs backend: ctranslate2"),
        ({"backend": "ctranslate"}, "backend"),
    ],
)
def test_recipe_backend_settings_fail_cleanly(tmp_path, runner, marian_pair, step, expected):
    source = write_csv(tmp_path / "toy.csv", toy_rows(5))
    forward, backward = marian_pair
    neural_step = {"method": "back_translation", "engine": "neural", "forward_model": forward,
                   "backward_model": backward, **step}  # fmt: skip
    recipe = recipe_file(tmp_path, {"name": "sentiment"}, [neural_step])
    fails_cleanly(runner, ["augment", str(source), "--recipe", str(recipe)], expected)
    assert not list(tmp_path.glob("toy.augmented*"))


def test_ctranslate2_that_cannot_run_here_falls_back(marian_pair, monkeypatch, capsys):
    """E.g. a CUDA machine whose CUDA libraries CTranslate2 cannot load."""
    import ctranslate2

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA failed with error 35\nmore detail")

    monkeypatch.setattr(ctranslate2, "Translator", broken)
    assert neural(marian_pair).engine.models["forward"].backend == "transformers"
    assert "CTranslate2 cannot run" in capsys.readouterr().err
    with pytest.raises(ToolkitError, match=r"cannot run .* on cpu: CUDA failed with error 35$"):
        neural(marian_pair, backend="ctranslate2")
