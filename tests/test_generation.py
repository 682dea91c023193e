"""Batched generation against one-prompt-at-a-time `generate`, and text metrics against values
that can be checked by hand or come from the libraries' own documentation."""

from __future__ import annotations

import math

import pytest

from toolkit import generation
from toolkit.generation import generate_batched, length_order, smollm2_gguf_path
from toolkit.metrics import perplexity, rouge_metrics, translation_metrics

# Lengths from 1 to 13 words, deliberately unsorted, with a duplicate, so that sorting, padding
# and restoring the order are all exercised.
PROMPTS = [
    "the film was good",
    "a dull plot",
    "the acting and the music were truly wonderful in this movie with its lovely cast",
    "boring",
    "the story of the film was rather terrible and the ending was awful",
    "a dull plot",
    "the director and the script",
]


def load(folder, kind: str, seed: int = 0):
    """The fixture's tokenizer with a model re-initialised from its config under a fixed seed,
    so the test does not depend on the session's random weights."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    auto = AutoModelForCausalLM if kind == "gpt2" else AutoModelForSeq2SeqLM
    torch.manual_seed(seed)
    model = auto.from_config(AutoConfig.from_pretrained(folder)).eval()
    return model, AutoTokenizer.from_pretrained(folder)


def one_by_one(model, tokenizer, prompts: list, max_new_tokens: int, **kwargs) -> list[str]:
    """Plain per-prompt `generate` with no padding at all: the reference for batched output.
    Prompts are strings or lists of token ids."""
    import torch

    texts = []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    for prompt in prompts:
        ids = tokenizer(prompt)["input_ids"] if isinstance(prompt, str) else prompt
        with torch.inference_mode():
            out = model.generate(
                input_ids=torch.tensor([ids]),
                attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                pad_token_id=pad,
                **kwargs,
            )
        if not model.config.is_encoder_decoder:
            out = out[:, len(ids) :]
        texts.append(tokenizer.decode(out[0], skip_special_tokens=True).strip())
    return texts


@pytest.mark.parametrize("kind", ["gpt2", "t5"])
def test_batched_matches_one_by_one(tiny_models, kind):
    model, tokenizer = load(tiny_models[kind], kind)
    expected = one_by_one(model, tokenizer, PROMPTS, max_new_tokens=8)
    got = generate_batched(model, tokenizer, PROMPTS, max_new_tokens=8, batch_size=3)
    assert got == expected
    assert len(set(got)) > 1  # a model that said the same thing everywhere would hide reordering


def test_beam_search_matches_one_by_one(tiny_models):
    model, tokenizer = load(tiny_models["t5"], "t5")
    expected = one_by_one(model, tokenizer, PROMPTS, max_new_tokens=6, num_beams=3)
    assert generate_batched(model, tokenizer, PROMPTS, max_new_tokens=6, num_beams=3) == expected


def test_decoder_only_returns_continuation_and_restores_tokenizer(tiny_models):
    model, tokenizer = load(tiny_models["gpt2"], "gpt2")
    assert tokenizer.pad_token is None  # like GPT-2's: generate_batched must supply one
    got = generate_batched(model, tokenizer, PROMPTS, max_new_tokens=5, batch_size=4)
    assert all(text and not text.startswith(prompt) for prompt, text in zip(PROMPTS, got))
    assert (tokenizer.padding_side, tokenizer.truncation_side) == ("right", "right")
    assert tokenizer.pad_token is None


def test_train_mode_is_restored(tiny_models):
    model, tokenizer = load(tiny_models["t5"], "t5")
    model.train()
    generate_batched(model, tokenizer, PROMPTS[:2], max_new_tokens=2)
    assert model.training


def test_max_input_length_keeps_the_end_of_decoder_only_prompts(tiny_models):
    model, tokenizer = load(tiny_models["gpt2"], "gpt2")
    tail = tokenizer(PROMPTS[2])["input_ids"][-4:]
    got = generate_batched(model, tokenizer, PROMPTS[2:4], max_new_tokens=6, max_input_length=4)
    assert got[0] == one_by_one(model, tokenizer, [tail], max_new_tokens=6)[0]


def test_empty_prompts_and_bad_batch_size(tiny_models):
    model, tokenizer = load(tiny_models["t5"], "t5")
    assert generate_batched(model, tokenizer, []) == []
    with pytest.raises(ValueError, match="batch_size"):
        generate_batched(model, tokenizer, ["a"], batch_size=0)


def test_length_order_is_longest_first_and_stable():
    assert length_order([3, 7, 3, 1, 7]) == [1, 4, 0, 2, 3]


def test_smollm2_gguf_path(tmp_path, monkeypatch):
    package = tmp_path / "fake_smollm2"
    package.mkdir()
    (package / "__init__.py").write_text("raise ImportError('must not be imported')\n")
    (package / "Model.Q4_1.gguf").write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(generation, "SMOLLM2_PACKAGE", "fake_smollm2")
    assert smollm2_gguf_path() == (str(package), "Model.Q4_1.gguf")
    monkeypatch.setattr(generation, "SMOLLM2_PACKAGE", "no_such_package_here")
    assert smollm2_gguf_path() is None


def test_bleu_hand_checked():
    # 4 of 5 unigrams, 3/4 bigrams, 2/3 trigrams, 1/2 four-grams match, no brevity penalty:
    # BLEU = (4/5 · 3/4 · 2/3 · 1/2) ** (1/4) = 0.2 ** 0.25.
    result = translation_metrics(["a b c d x"], ["a b c d e"])
    assert result["bleu"] == pytest.approx(100 * 0.2**0.25)
    # All n-grams match but the hypothesis is 5 tokens against 6: BP = exp(1 - 6/5).
    assert translation_metrics(["a b c d e"], ["a b c d e f"])["bleu"] == pytest.approx(
        100 * math.exp(-0.2)
    )


def test_translation_metrics_identical_and_signatures():
    sentences = ["The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."]
    result = translation_metrics(sentences, sentences)
    assert result["bleu"] == pytest.approx(100.0)
    assert result["chrf"] == pytest.approx(100.0)
    assert result["samples"] == 3
    assert "nrefs:1" in result["bleu_signature"] and "tok:13a" in result["bleu_signature"]
    assert "nrefs:1" in result["chrf_signature"] and "nc:6" in result["chrf_signature"]


def test_rouge_documented_example_and_identity():
    # rouge-score's README pair. Stemmed, 6 of 8 predicted and 9 reference unigrams are shared:
    # F1 = 2·(6/8)(6/9)/(6/8 + 6/9) = 12/17. Bigrams: 2 of 7 and 8 -> 4/15. The longest common
    # subsequence is "the quick brown jump the", 5 tokens -> 10/17.
    result = rouge_metrics(
        ["The quick brown dog jumps on the log."], ["The quick brown fox jumps over the lazy dog"]
    )
    assert result["rouge1"] == pytest.approx(100 * 12 / 17)
    assert result["rouge2"] == pytest.approx(100 * 4 / 15)
    assert result["rougeL"] == pytest.approx(100 * 10 / 17)
    same = rouge_metrics(["a cat sat on the mat", "hello"], ["a cat sat on the mat", "hello"])
    assert same["rouge1"] == same["rougeL"] == pytest.approx(100.0)
    assert same["samples"] == 2


def test_metrics_reject_mismatched_lengths():
    with pytest.raises(ValueError, match="pair up"):
        translation_metrics(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="pair up"):
        rouge_metrics(["a", "b"], ["a"])


def test_perplexity():
    assert perplexity(math.log(10)) == pytest.approx(10.0)
    assert perplexity(0.0) == 1.0
    assert perplexity(1e6) == math.inf
