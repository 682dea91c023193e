"""The two ways neural back-translation runs a seq2seq checkpoint: transformers' `generate`, or
CTranslate2 (OpenNMT's C++ inference engine) on the same checkpoint converted once.

Both hold the checkpoint's tokenizer, take batches of token ids and return, per input, n rows of
generated token ids without the decoder start token, so `back_translation.Neural` sorts,
batches, bounds and decodes the same way whichever runs. CTranslate2 runs Marian, BART, T5,
M2M100, NLLB... checkpoints with the same weights (float32 on CPU, fp16/bf16 on CUDA; int8 when
asked) and the same greedy or beam search, with no Python work per generated token, which is
most of transformers' cost on small models. Converted models are cached under the augmentation
cache, keyed by the checkpoint's files and the CTranslate2 version. Sampling (n > 1) draws from
CTranslate2's own seeded generator, so its variants differ from transformers' for the same seed
(both are deterministic for a seed).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from toolkit.augment.cache import model_fingerprint
from toolkit.checkpoint_files import STEP_KEY, check_folder, local_folder, reading_weights
from toolkit.ctranslate2_backend import (
    Unconvertible,
    cache_folder,
    cached,
    convert_folder,
    engine_settings,
    first_line,
    installed,
)
from toolkit.errors import ToolkitError

TOP_P = 0.9


@dataclass(frozen=True)
class Decoding:
    """n == 1: greedy or beam search; n > 1: n nucleus samples (top_p)."""

    n: int = 1
    num_beams: int = 1


def checkpoint_path(key: str, name: str, trust: bool = False) -> str:
    """A local folder as a path (checked: its files readable, custom code only when trusted), a
    hub id as given."""
    local = name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).exists()
    if local and not Path(name).expanduser().is_dir():
        raise ToolkitError(f"back_translation.{key}: {name!r} is not a directory")
    if local:
        check_folder(Path(name).expanduser(), f"back_translation.{key}: {name!r}", trust, STEP_KEY)
    return str(Path(name).expanduser()) if local else name


def cannot_load(key: str, name: str, exc: Exception) -> ToolkitError:
    problem = first_line(str(exc), type(exc).__name__)
    return ToolkitError(f"back_translation.{key}: cannot load {name!r}: {problem}")


def load_tokenizer(key: str, name: str, path: str, trust: bool = False) -> Any:
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(path, trust_remote_code=trust)
    except Exception as exc:  # tokenizers raises bare Exceptions for a malformed tokenizer.json
        raise cannot_load(key, name, exc) from None


class TransformersSeq2Seq:
    """`model.generate` on a transformers seq2seq checkpoint (CUDA in bf16/fp16 when present)."""

    backend = "transformers"

    def __init__(self, key: str, name: str, trust: bool = False) -> None:
        import torch
        from transformers import AutoModelForSeq2SeqLM

        path = checkpoint_path(key, name, trust)
        self.tokenizer = load_tokenizer(key, name, path, trust)
        self.device, dtype = "cpu", torch.float32
        if torch.cuda.is_available():
            self.device = "cuda"
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        try:
            with reading_weights(local_folder(path)):
                model = AutoModelForSeq2SeqLM.from_pretrained(path, trust_remote_code=trust)
        except ToolkitError as exc:
            raise ToolkitError(f"back_translation.{key}: {exc}") from None
        except (OSError, ValueError, KeyError) as exc:
            raise cannot_load(key, name, exc) from None
        self.model = model.to(self.device, dtype).eval()
        self.config, self.generation_config = model.config, model.generation_config

    @contextlib.contextmanager
    def seeded(self, seed: int) -> Iterator[None]:
        """Sampling from `seed`, in a private RNG stream: torch's global state does not move."""
        import torch

        devices = [torch.cuda.current_device()] if self.device == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            yield

    def generate(self, ids: list[list[int]], max_text: int, decoding: Decoding) -> list[list[int]]:
        """Rows of at most `max_text` text tokens (plus EOS where the model ended)."""
        import torch

        # A forced EOS (Marian's forced_eos_token_id) takes the last of max_new_tokens.
        max_new = max_text + (self.generation_config.forced_eos_token_id is not None)
        batch = self.tokenizer.pad({"input_ids": ids}, return_tensors="pt")
        if decoding.n == 1:
            options = {"do_sample": False, "num_beams": decoding.num_beams}
        else:  # top_k=0: nucleus sampling only, not the generation config's default top-k of 50
            options = {"do_sample": True, "top_p": TOP_P, "top_k": 0, "num_beams": 1,
                       "num_return_sequences": decoding.n}  # fmt: skip
        with torch.inference_mode():
            out = self.model.generate(**batch.to(self.device), max_new_tokens=max_new, **options)
        return [row[1:].tolist() for row in out]  # [1:]: the decoder start token


class CTranslate2Seq2Seq:
    """CTranslate2's translator on the checkpoint, converted once into the cache."""

    backend = "ctranslate2"

    def __init__(self, key: str, name: str, int8: bool = False, trust: bool = False) -> None:
        import ctranslate2
        import torch
        from transformers import AutoConfig, GenerationConfig

        path = checkpoint_path(key, name, trust)
        self.tokenizer = load_tokenizer(key, name, path, trust)
        try:
            self.config = AutoConfig.from_pretrained(path, trust_remote_code=trust)
        except (OSError, ValueError, KeyError) as exc:
            raise cannot_load(key, name, exc) from None
        try:
            self.generation_config = GenerationConfig.from_pretrained(path)
        except OSError:  # no generation_config.json: the model config's defaults
            self.generation_config = GenerationConfig.from_model_config(self.config)
        cuda = torch.cuda.is_available() and ctranslate2.get_cuda_device_count() > 0
        device = "cuda" if cuda else "cpu"
        kinds = ctranslate2.get_supported_compute_types(device)
        half = "bfloat16" if "bfloat16" in kinds else "float16"
        self.settings = engine_settings(device, half if cuda else "float32", int8)
        self.folder = str(converted(key, path, trust))
        try:
            self.translator = ctranslate2.Translator(self.folder, **self.settings)
        except (RuntimeError, OSError, ValueError) as exc:  # e.g. CUDA libraries it cannot load
            problem = first_line(str(exc), type(exc).__name__)
            message = f"back_translation.{key}: CTranslate2 cannot run {path!r} on {device}"
            raise Unconvertible(f"{message}: {problem}") from None

    @contextlib.contextmanager
    def seeded(self, seed: int) -> Iterator[None]:
        """Sampling from `seed`. Each CTranslate2 worker thread seeds its generator from the
        global seed once, when it first samples: a fresh translator (new threads) makes it count."""
        import ctranslate2

        ctranslate2.set_random_seed(seed % 2**32)
        self.translator = ctranslate2.Translator(self.folder, **self.settings)
        yield

    def generate(self, ids: list[list[int]], max_text: int, decoding: Decoding) -> list[list[int]]:
        """Rows of at most `max_text` text tokens (CTranslate2 leaves EOS out)."""
        source = [self.tokenizer.convert_ids_to_tokens(row) for row in ids]
        if decoding.n == 1:
            options = {"beam_size": decoding.num_beams}
        else:  # topk 0: the whole distribution, cut by top_p only (as the transformers backend)
            options = {"beam_size": 1, "sampling_topk": 0, "sampling_topp": TOP_P,
                       "num_hypotheses": decoding.n}  # fmt: skip
        # min_decoding_length 0: transformers' default.
        results = self.translator.translate_batch(
            source, max_decoding_length=max_text, min_decoding_length=0, max_input_length=0,
            **options,
        )  # fmt: skip
        return [self.tokenizer.convert_tokens_to_ids(h) for r in results for h in r.hypotheses]


def converted(key: str, path: str, trust: bool = False) -> Path:
    """The CTranslate2 conversion of a checkpoint, made once and cached by its files."""
    folder = cache_folder([path, model_fingerprint(path)])
    what = f"back_translation.{key}: CTranslate2 cannot convert {path!r}"
    return cached(folder, convert_folder(path, trust), what)


def load_seq2seq(key: str, name: str, backend: str, int8: bool = False, trust=False) -> Any:
    """The step's backend; `auto` is CTranslate2 when installed and able to convert the model
    (`trust`: the step's trust_remote_code)."""
    if backend == "transformers":
        return TransformersSeq2Seq(key, name, trust)
    if not installed():
        if backend == "ctranslate2":
            raise ToolkitError(
                f"back_translation.backend: ctranslate2 is not installed (pip install ctranslate2)"
                f" or use backend: transformers for {key}"
            )
        return TransformersSeq2Seq(key, name, trust)
    try:
        return CTranslate2Seq2Seq(key, name, int8, trust)
    except Unconvertible as exc:
        if backend == "ctranslate2":
            raise
        print(f"note: {exc}; using transformers", file=sys.stderr)
        return TransformersSeq2Seq(key, name, trust)
