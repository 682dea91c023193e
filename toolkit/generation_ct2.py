"""Generation through CTranslate2 for the text-to-text tasks (translation, text generation,
generative QA): the same greedy search as transformers' `generate`, without Python work per
generated token.

The torch model is converted in memory (so fine-tuned weights that were never saved convert too)
and cached by a digest of its weights (see ctranslate2_backend.py): a run's model converts once,
then every split, `toolkit eval` and `toolkit predict` reuse it. Decoder-only models run on a
Generator, which takes each prompt's own tokens (no padding), encoder-decoders on a Translator.

Backends: `transformers` always uses `generate`; `ctranslate2` always uses CTranslate2 (an
architecture it cannot convert is an error; beam search and a repetition penalty or
no_repeat_ngram_size are handed over, other generation_config settings are not); `auto` uses
CTranslate2 where it reproduces `generate` token for token (greedy search on a float32 model
whose generation_config sets none of UNMAPPED), else `generate`. The metrics record which one
ran (`generation_backend`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from toolkit import ctranslate2_backend as ct2
from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    import ctranslate2
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

KEY = "task.generation.backend"
# generation_config settings that change what generate() returns and that are not handed to
# CTranslate2: a model with any of them set generates through transformers under `auto`.
UNMAPPED = (
    "repetition_penalty", "encoder_repetition_penalty", "no_repeat_ngram_size",
    "encoder_no_repeat_ngram_size", "min_length", "min_new_tokens", "bad_words_ids",
    "suppress_tokens", "begin_suppress_tokens", "forced_bos_token_id", "forced_decoder_ids",
    "sequence_bias", "exponential_decay_length_penalty", "stop_strings", "max_time",
)  # fmt: skip
_ENGINES: dict[str, ctranslate2.Generator | ctranslate2.Translator] = {}  # by conversion folder


def mismatch(model: PreTrainedModel, num_beams: int) -> str | None:
    """Why CTranslate2 would not return exactly what `generate` returns (None: it would)."""
    from transformers import GenerationConfig

    if num_beams > 1:
        return "beam search (CTranslate2 ranks and ends beams its own way)"
    if str(model.dtype) != "torch.float32":  # half-precision kernels round differently
        return f"the model is in {model.dtype}"
    config, default = model.generation_config, GenerationConfig()
    changed = [k for k in UNMAPPED if getattr(config, k, None) != getattr(default, k, None)]
    return f"generation_config.{changed[0]} is set" if changed else None


def plain_model(model: PreTrainedModel) -> PreTrainedModel:
    """The model without a LoRA wrapper: a merged copy (merging in place would change the
    adapter the run saves)."""
    if not hasattr(model, "merge_and_unload"):
        return model
    import copy

    return copy.deepcopy(model).merge_and_unload()


def engine_for(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase
) -> ctranslate2.Generator | ctranslate2.Translator:
    """The model converted (or found in the cache) and loaded in CTranslate2; raises
    Unconvertible when it cannot be."""
    import ctranslate2

    model = plain_model(model)
    folder = ct2.cache_folder(["model", ct2.model_digest(model, tokenizer)])
    what = f"{KEY}: CTranslate2 cannot convert this {model.config.model_type} model"
    folder = ct2.cached(folder, lambda out: ct2.convert_model(model, tokenizer, out), what)
    settings = ct2.engine_settings(model.device.type, str(model.dtype).removeprefix("torch."))
    key = f"{folder}|{sorted(settings.items())}"
    if key not in _ENGINES:
        kind = ctranslate2.Translator if model.config.is_encoder_decoder else ctranslate2.Generator
        try:
            _ENGINES.clear()  # one loaded model at a time: no memory held for finished runs
            _ENGINES[key] = kind(str(folder), **settings)
        except (RuntimeError, OSError, ValueError) as exc:  # e.g. CUDA libraries missing
            problem = ct2.first_line(str(exc), type(exc).__name__)
            message = f"{KEY}: CTranslate2 cannot run this model: {problem}"
            raise ct2.Unconvertible(message) from None
    return _ENGINES[key]


def choose(backend: str, model: PreTrainedModel, num_beams: int) -> str:
    """The backend that runs: `auto` resolved (see the module docstring)."""
    if backend == "transformers":
        return backend
    if not ct2.installed():
        if backend == "ctranslate2":
            raise ToolkitError(f"{KEY}: ctranslate2 is not installed (pip install ctranslate2)")
        return "transformers"
    if backend == "auto" and mismatch(model, num_beams):
        return "transformers"
    return "ctranslate2"


def end_tokens(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The ids `generate` stops at: the generation config's EOS (one or several), else the
    tokenizer's."""
    eos = getattr(model.generation_config, "eos_token_id", None)
    eos = tokenizer.eos_token_id if eos is None else eos
    return [e for e in (eos if isinstance(eos, Sequence) else [eos]) if e is not None]


def batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Length-sorted batches (longest first). One-token prompts get batches of their own: in a
    batch with longer ones, CTranslate2's Generator returns prompt tokens as if generated."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    groups = [[i for i in order if lengths[i] > 1], [i for i in order if lengths[i] <= 1]]
    return [g[s : s + batch_size] for g in groups for s in range(0, len(g), batch_size)]


def decoding_options(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, num_beams: int
) -> dict[str, object]:
    """CTranslate2's names for the search: beams, the EOS ids, and the generation_config settings
    it has an equivalent of (under `auto`, a model with those set never gets here)."""
    config = model.generation_config
    return {
        "beam_size": num_beams,
        "end_token": end_tokens(model, tokenizer) or None,  # None: the converted model's EOS
        "return_end_token": True,  # to tell a stop at EOS from one at max_new_tokens
        "repetition_penalty": config.repetition_penalty or 1.0,
        "no_repeat_ngram_size": config.no_repeat_ngram_size or 0,
    }


def run_batch(
    engine: ctranslate2.Generator | ctranslate2.Translator, tokenizer: PreTrainedTokenizerBase,
    tokens: list[list[str]], max_new_tokens: int, forced_eos: bool, options: dict[str, object],
) -> list[list[int]]:  # fmt: skip
    """Generated ids per prompt, without the prompt and the decoder start token, EOS included.

    Both engines count max_new_tokens as `generate` does (EOS included); a forced EOS
    (Marian's forced_eos_token_id) takes the last place, so one text token fewer.
    """
    if hasattr(engine, "translate_batch"):
        results = engine.translate_batch(
            tokens, max_decoding_length=max_new_tokens - forced_eos, min_decoding_length=0,
            max_input_length=0, **options,
        )  # fmt: skip
        return [tokenizer.convert_tokens_to_ids(r.hypotheses[0]) for r in results]
    results = engine.generate_batch(
        tokens, max_length=max_new_tokens, min_length=0, include_prompt_in_result=False, **options
    )
    return [list(r.sequences_ids[0]) for r in results]


def split_end(row: list[int], ends: set[int]) -> tuple[list[int], bool]:
    """The ids before the first end token, and whether there was one (a stop at EOS)."""
    for position, token in enumerate(row):
        if token in ends:
            return row[:position], True
    return row, False


def generate_ct2(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, ids: list[list[int]],
    max_new_tokens: int, num_beams: int, batch_size: int,
) -> tuple[list[str], list[bool]]:  # fmt: skip
    """Decoded completions of the prompts' token ids, in their order, and whether each ended
    with EOS (rather than at max_new_tokens)."""
    engine = engine_for(model, tokenizer)
    options = decoding_options(model, tokenizer, num_beams)
    ends = set(options["end_token"] or [tokenizer.eos_token_id])
    forced_eos = model.generation_config.forced_eos_token_id is not None
    texts, ended = [""] * len(ids), [False] * len(ids)
    for chunk in batches([len(row) for row in ids], batch_size):
        tokens = [tokenizer.convert_ids_to_tokens(ids[i]) for i in chunk]
        rows = run_batch(engine, tokenizer, tokens, max_new_tokens, forced_eos, options)
        for index, row in zip(chunk, rows):
            kept, ended[index] = split_end(row, ends)
            texts[index] = tokenizer.decode(kept, skip_special_tokens=True).strip()
    return texts, ended
