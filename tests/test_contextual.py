"""Contextual word substitution: fill-mask with a tiny random masked LM, synonym re-ranking with
a tiny random encoder (needs `make augment-assets` for WordNet, which `make test` runs), and a
quality check with the embedded all-MiniLM-L6-v2 when it is there."""

from __future__ import annotations

import random
import re
from collections import Counter
from pathlib import Path

import pytest
from conftest import seeded_init, toy_rows

from toolkit.augment.contextual import Contextual
from toolkit.augment.synonym import WORD_RE, stopwords
from toolkit.errors import ToolkitError

MINILM = Path(__file__).resolve().parents[1] / "assets" / "all-MiniLM-L6-v2"
TEXTS = [
    "The ACME camera has a good film and a superb story, with lovely music.",
    "the acting was terrible and the plot was dull , a boring movie",
    "Wonderful acting; the Story Mode of this film is great and the cast is superb!",
]
PROTECT = ["acme", "story mode"]


@pytest.fixture(scope="module")
def checkpoints(tiny_models, tmp_path_factory) -> dict[str, Path]:
    """The conftest tiny BERT (a BertModel: no MLM head) and the same config saved with heads."""
    import transformers
    from transformers import AutoTokenizer, BertConfig

    source = tiny_models["bert"]
    out = {"BertModel": source}
    for head in ("BertForMaskedLM", "BertForSequenceClassification"):
        folder = tmp_path_factory.mktemp(head)
        seeded_init()
        getattr(transformers, head)(BertConfig.from_pretrained(source)).save_pretrained(folder)
        AutoTokenizer.from_pretrained(source).save_pretrained(folder)
        out[head] = folder
    return out


def make(folder: Path, p: float = 0.5, protect: list[str] = PROTECT, **kw) -> Contextual:
    settings = {"top_k": 10, "batch_size": 64} | kw
    return Contextual(str(folder), p, settings["top_k"], settings["batch_size"], protect)


@pytest.fixture(scope="module")
def augmenters(checkpoints) -> dict[str, Contextual]:
    rerank = make(checkpoints["BertModel"])
    rerank.use_floor = False  # a random encoder has no sense of fit; the floor is tested below
    return {"fill-mask": make(checkpoints["BertForMaskedLM"]), "rerank": rerank}


def protected_spans(text: str) -> list[tuple[int, int]]:
    """The span of "camera" / "cast" where present: those words must survive."""
    spans = []
    for word in ("camera", "cast"):
        if word in text:
            spans.append((text.index(word), text.index(word) + len(word)))
    return spans


def frozen_pattern(text: str, spans: list[tuple[int, int]]) -> re.Pattern:
    """A regex that every variant must fullmatch: separators, stop words, protected words and
    `protect` phrases verbatim; each other word may become any word or phrase."""
    stop, out, start = stopwords(), [], 0
    frozen = spans + [m.span() for w in PROTECT for m in re.finditer(w, text, re.I)]
    for i, part in enumerate(WORD_RE.split(text)):
        end = start + len(part)
        keep = i % 2 == 0 or part.lower() in stop
        keep = keep or any(s < end and start < e for s, e in frozen)
        out.append(re.escape(part) if keep else r"[A-Za-z0-9]+(?:[ '-][A-Za-z0-9]+)*?")
        start = end
    return re.compile("".join(out))


def run(augmenter: Contextual, seed: int, n: int = 4):
    spans = [protected_spans(t) for t in TEXTS]
    return augmenter.augment(TEXTS, n, random.Random(seed), spans)


HEADS = [
    ("BertForMaskedLM", "fill-mask"),
    ("BertModel", "rerank"),
    ("BertForSequenceClassification", "rerank"),
]


@pytest.mark.parametrize("head, mode", HEADS)
def test_mode_follows_the_weights(checkpoints, head, mode):
    assert make(checkpoints[head]).mode == mode


def test_mlm_weights_win_over_the_config_architectures(checkpoints, tmp_path):
    """A masked LM whose config.json names BertModel still has its head in the weights."""
    import shutil

    folder = shutil.copytree(checkpoints["BertForMaskedLM"], tmp_path / "mlm")
    config = (folder / "config.json").read_text().replace("BertForMaskedLM", "BertModel")
    (folder / "config.json").write_text(config)
    assert make(folder).mode == "fill-mask"


@pytest.mark.parametrize("mode", ["fill-mask", "rerank"])
def test_shape_and_seed(augmenters, mode):
    first = run(augmenters[mode], seed=1)
    assert len(first) == len(TEXTS) and all(len(row) == 4 for row in first)
    assert first == run(augmenters[mode], seed=1)
    assert first != run(augmenters[mode], seed=2)


@pytest.mark.parametrize("mode", ["fill-mask", "rerank"])
def test_only_free_words_change(augmenters, mode):
    """Protected spans, `protect` phrases (any case), stop words and separators come through
    byte-identical; and edits do happen, so the check is not vacuous."""
    changed = 0
    for seed in range(5):
        for text, row in zip(TEXTS, run(augmenters[mode], seed)):
            pattern = frozen_pattern(text, protected_spans(text))
            for variant in row:
                assert pattern.fullmatch(variant.text), (text, variant.text)
                changed += variant.text != text
    assert changed > 10


def test_fill_mask_edit_rate_and_whole_words(augmenters):
    """Fill-mask substitutes are single whole-word vocabulary tokens (no `##` pieces, no stop
    words), and edit_rate counts exactly the words that changed."""
    augmenter = augmenters["fill-mask"]
    vocab = augmenter.tokenizer.get_vocab()
    for row, text in zip(run(augmenter, seed=3), TEXTS):
        old = WORD_RE.split(text)
        for variant in row:
            new = WORD_RE.split(variant.text)
            assert len(new) == len(old) and new[0::2] == old[0::2]  # separators untouched
            swaps = [(a, b) for a, b in zip(old[1::2], new[1::2]) if a != b]
            assert variant.edit_rate == pytest.approx(len(swaps) / len(old[1::2]))
            for a, b in swaps:
                assert (
                    b.lower() in vocab and b.lower() not in stopwords() and a.lower() != b.lower()
                )


@pytest.mark.parametrize("mode", ["fill-mask", "rerank"])
def test_all_texts_and_variants_share_forward_passes(augmenters, mode, monkeypatch):
    """40 texts x 3 variants: one forward pass when the batch holds them all."""
    augmenter = augmenters[mode]
    monkeypatch.setattr(augmenter, "batch_size", 10_000)
    calls = []
    handle = augmenter.model.base_model.register_forward_hook(lambda *_: calls.append(1))
    try:
        variants = augmenter.augment([row["text"] for row in toy_rows(40)], 3, random.Random(0))
    finally:
        handle.remove()
    assert len(calls) == 1 and len(variants) == 40


def test_rerank_samples_the_closest_synonyms_above_the_deletion_floor(checkpoints, monkeypatch):
    """With made-up similarities: "awful", "dreadful", "horrendous" are the top 3 of the ten
    synonyms of "terrible" (the rest at 0.6); the sentence without the word scores 0.7."""
    import torch

    text = "the acting was terrible"
    top3 = {f"the acting was {w}" for w in ("awful", "dreadful", "horrendous")}
    sims = {text: 1.0, "the acting was ": 0.7}

    def fake_embed(sentences):
        cos = torch.tensor([sims.get(s, 0.6) for s in sentences])
        return torch.stack([cos, (1 - cos**2).sqrt()], dim=1)

    augmenter = make(checkpoints["BertModel"], p=1.0, protect=["acting"])
    monkeypatch.setattr(augmenter, "embed", fake_embed)

    def outputs() -> set[str]:
        return {v.text for [v] in augmenter.augment([text] * 100, 1, random.Random(0))}

    sims |= dict(zip(sorted(top3), (0.95, 0.945, 0.94)))
    assert outputs() == top3
    sims |= dict(zip(sorted(top3), (0.69, 0.685, 0.68)))  # under the floor: the word stays
    assert outputs() == {text}
    monkeypatch.setattr(augmenter, "use_floor", False)
    assert outputs() == top3


def test_missing_or_broken_model_is_a_toolkit_error(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ToolkitError, match=r"model.*no-such-model.*not found"):
        make(missing)
    with pytest.raises(ToolkitError, match=r"model.*cannot load"):
        make(tmp_path)  # a directory without config.json


def test_rerank_without_wordnet_names_the_make_target(checkpoints, monkeypatch):
    from toolkit.augment import synonym, wordnet_assets

    monkeypatch.setattr(wordnet_assets, "wordnet_works", lambda: False)
    synonym.synonym_table.cache_clear()
    try:
        with pytest.raises(ToolkitError, match="make augment-assets"):
            make(checkpoints["BertModel"])
        assert make(checkpoints["BertForMaskedLM"]).mode == "fill-mask"  # needs no WordNet
    finally:
        synonym.synonym_table.cache_clear()


@pytest.mark.skipif(not MINILM.is_dir(), reason="assets/all-MiniLM-L6-v2 not embedded")
def test_minilm_ranks_out_synonyms_that_do_not_fit():
    """The WordNet table alone offers only "good" -> "full" and "dull" -> "muffled", "muted",
    "softened"; the encoder must drop those, and keep only the closest synonyms of "terrible"
    and "boring" (the table also has "dire", "dread", "fearful", "irksome", "ho-hum" ...)."""
    augmenter = make(MINILM, p=1.0, protect=[])
    assert augmenter.mode == "rerank"
    texts = [
        "it is a good film with a superb story and fine acting",
        "the acting is terrible and the plot is dull",
        "the film is boring",
    ]
    seen: list[list[str]] = [[], [], []]
    for seed in range(6):
        for found, row in zip(seen, augmenter.augment(texts, 3, random.Random(seed))):
            found.extend(v.text for v in row)
    assert all(t.startswith("it is a good ") for t in seen[0])
    slots = [re.fullmatch(r"the (.+) is (.+) and the (.+) is (.+)", t).groups() for t in seen[1]]
    assert {s[3] for s in slots} == {"dull"}  # WordNet's first senses of "dull" are about sound
    assert {"awful", "dreadful"} <= {s[1] for s in slots} <= {"awful", "dreadful", "horrendous"}
    films, ends = zip(*(t.removeprefix("the ").split(" is ") for t in seen[2]))
    assert set(ends) - {"boring"} <= {"dull", "tedious", "tiresome"}
    # Four film synonyms beat the floor; "movie" is by far the closest, "motion picture" 4th.
    assert Counter(films).most_common(1)[0][0] == "movie" and "motion picture" not in films
