"""CTranslate2 (OpenNMT's C++ inference engine) as a second engine for transformers checkpoints:
converting a checkpoint folder or a model already in memory, caching the conversion, and the
device and compute settings that make it compute like the PyTorch side.

Used by back-translation (augment/seq2seq.py), by generation at evaluation and prediction
(generation_ct2.py) and by `toolkit export --format ctranslate2` (export/ctranslate2.py).
Conversions are cached under `$TOOLKIT_CACHE/ctranslate2/<sha256>` (beside the augmentation
cache), keyed by the CTranslate2 version and what identifies the model: a folder by its files'
names, sizes and mtimes, a model in memory by a digest of its weights, config and vocabulary. So
a trained model converts once, however many splits, evaluations or predictions use it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

FORMAT = 1  # bump when what a cached conversion holds changes
TOKENS = ("bos_token", "eos_token", "unk_token")  # CTranslate2 cannot load a null one


class Unconvertible(ToolkitError):
    """CTranslate2 cannot convert the checkpoint's architecture, or cannot run it here."""


def installed() -> bool:
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        return False
    return True


def first_line(text: str, fallback: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), fallback)


def cache_folder(identity: object) -> Path:
    """Where the conversion of the model that `identity` (JSON-able) names is cached."""
    import ctranslate2

    from toolkit.augment.cache import cache_dir

    key = json.dumps([FORMAT, ctranslate2.__version__, identity], default=str)
    return cache_dir().parent / "ctranslate2" / hashlib.sha256(key.encode()).hexdigest()


def cached(folder: Path, build: Callable[[Path], None], what: str) -> Path:
    """`folder`, converted by `build(staging)` unless already there; written whole or not at all.
    `what` starts the message when the converter refuses: "<what>: <its reason>"."""
    if (folder / "model.bin").is_file():
        return folder
    staging = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
    try:
        build(staging)
        fill_special_tokens(staging)
    except Exception as exc:  # the converter raises many kinds for unsupported models
        shutil.rmtree(staging, ignore_errors=True)
        raise Unconvertible(f"{what}: {first_line(str(exc), type(exc).__name__)}") from None
    with contextlib.suppress(OSError):  # another process may have finished the same conversion
        staging.replace(folder)
    shutil.rmtree(staging, ignore_errors=True)
    return folder


def fill_special_tokens(folder: Path) -> None:
    """A tokenizer without an unknown token (GPT-2's) converts to a null `unk_token`, which
    CTranslate2 then refuses to load; EOS stands in (it is only used to ban unknown tokens)."""
    path = folder / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    missing = [key for key in TOKENS if key in config and config[key] is None]
    if missing and config.get("eos_token"):
        config.update(dict.fromkeys(missing, config["eos_token"]))
        path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def convert_folder(path: str, trust: bool = False) -> Callable[[Path], None]:
    """A `build` for `cached`: TransformersConverter on a checkpoint folder or hub id."""

    def build(out: Path) -> None:
        from ctranslate2.converters import TransformersConverter

        TransformersConverter(path, trust_remote_code=trust).convert(str(out), force=True)

    return build


def convert_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out: Path) -> None:
    """TransformersConverter on a model in memory (fine-tuned weights that were never saved, a
    merged adapter): its hooks hand over our objects instead of loading them from disk. It gets
    a copy: for Llama and others it deletes each layer's modules once converted."""
    import copy

    from ctranslate2.converters import TransformersConverter

    class Loaded(TransformersConverter):
        def load_model(self, model_class: type, name: str, **kwargs: object) -> PreTrainedModel:
            return copy.deepcopy(model)

        def load_tokenizer(self, tokenizer_class: type, name: str, **kwargs: object) -> object:
            return tokenizer

    with tempfile.TemporaryDirectory() as config_dir, dequantized(model.config):
        model.config.save_pretrained(config_dir)  # the converter reads the config from a folder
        Loaded(config_dir).convert(str(out), force=True)


@contextlib.contextmanager
def dequantized(config: PretrainedConfig) -> Iterator[None]:
    """Hide a GGUF `quantization_config` while converting: transformers de-quantised those
    weights to float on load, but the converter would refuse the quantisation method."""
    found = getattr(config, "quantization_config", None)
    method = getattr(found, "quant_method", "")
    if isinstance(found, dict):
        method = found.get("quant_method")
    if str(getattr(method, "value", method)).lower() != "gguf":
        yield
        return
    del config.quantization_config  # None would not do: to_dict() calls its to_dict()
    try:
        yield
    finally:
        config.quantization_config = found


def model_digest(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> str:
    """What identifies a model in memory: its weights, config and vocabulary (a second digest of
    the same weights matches, so the conversion is found again in the cache)."""
    import torch

    digest = hashlib.sha256(model.config.to_json_string().encode())
    vocab = sorted(tokenizer.get_vocab().items())
    digest.update(json.dumps([vocab, tokenizer.all_special_tokens]).encode())
    with torch.no_grad():
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
            raw = tensor.detach().to("cpu").contiguous().reshape(-1).view(torch.uint8)
            digest.update(memoryview(raw.numpy()))
    return digest.hexdigest()


def engine_settings(device: str, dtype: str, int8: bool = False) -> dict[str, object]:
    """Device, compute type and threads for a Generator or Translator: the torch model's device
    and dtype (so both sides compute alike), and torch's thread count on CPU, so that
    OMP_NUM_THREADS / torch.set_num_threads govern both engines."""
    import ctranslate2
    import torch

    cuda = device == "cuda" and ctranslate2.get_cuda_device_count() > 0
    if int8:
        compute = "int8_float16" if cuda else "int8"
    else:
        compute = {"bfloat16": "bfloat16", "float16": "float16"}.get(dtype, "float32")
    threads = 0 if cuda else torch.get_num_threads()
    return {"device": "cuda" if cuda else "cpu", "compute_type": compute, "intra_threads": threads}
