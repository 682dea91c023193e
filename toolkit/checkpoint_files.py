"""A local checkpoint directory's files, checked before transformers reads them, and one-line
errors for those it cannot read.

* custom code: an `auto_map` in config.json or tokenizer_config.json names Python modules that
  transformers would import (run) on load; without trust they are refused before transformers is
  asked, and transformers always gets `trust_remote_code` explicitly, so it never prompts.
* JSON files that are not UTF-8 JSON objects (config, tokenizer, index files).
* weights: a folder without any; a safetensors file whose header is cut or corrupt (checked
  cheaply: no tensor is read); a pickle checkpoint (`pytorch_model.bin`) torch refuses or cannot
  read. transformers loads those weights-only, so no payload runs, but the error was a traceback.
"""

from __future__ import annotations

import contextlib
import json
import pickle
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError

JSON_FILES = (
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "vocab.json", "adapter_config.json",
    "model.safetensors.index.json", "pytorch_model.bin.index.json",
)  # fmt: skip
CODE_FILES = ("config.json", "tokenizer_config.json")
WEIGHT_PATTERNS = ("model*.safetensors", "pytorch_model*.bin")
ADAPTER_PATTERNS = ("adapter_model*.safetensors", "adapter_model*.bin")
MODEL_KEY = "model.trust_remote_code: true"
STEP_KEY = (
    "trust_remote_code: true on the augment step (toolkit augment: --step trust_remote_code=true)"
)
PREFER = "safetensors (model.safetensors, save_pretrained's default) is preferred"


class CustomCode(ToolkitError):
    """A checkpoint ships code that loading it would run, and it is not trusted."""


def short(value: Any, size: int = 60) -> str:
    text = str(value)
    return text if len(text) <= size else text[: size - 1] + "…"


def local_folder(name: str) -> Path | None:
    path = Path(name).expanduser()
    return path if path.is_dir() else None


def local_checkpoint(name: str) -> Path | None:
    """The directory `name` names, None for a hub id; a path-like name that is not a directory
    (./x, /x, ~/x, a/b/c: no hub id has two slashes) is an error."""
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ToolkitError(f"model.name: {name!r} is a file; give the checkpoint's directory")
    if name.startswith((".", "/", "~")) or name.count("/") > 1 or "\\" in name:
        raise ToolkitError(f"model.name: {name!r} not found (no such directory: {path.resolve()})")
    return None


def config_error(name: str, folder: Path | None, exc: Exception) -> ToolkitError:
    first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    if "trust_remote_code" in str(exc):  # a hub checkpoint with custom code only
        return custom_code_error(f"model.name: {name!r}", "an auto_map in config.json", MODEL_KEY)
    if folder is None:
        return ToolkitError(
            f"model.name: {name!r} not found locally (no such directory: "
            f"{Path(name).expanduser().resolve()}); as a hub id it could not be loaded either: "
            f"{first}"
        )
    return ToolkitError(
        f"model.name: cannot load {name!r} as a checkpoint ({first}). Give a local directory "
        "with config.json, or a hub id while online."
    )


def tokenizer_error(name: str, exc: Exception) -> ToolkitError:
    return ToolkitError(
        f"model.name: cannot load the tokenizer of {name!r} ({first_line(exc)}); its tokenizer "
        "files are damaged or missing"
    )


def read_json(path: Path) -> dict:
    """A JSON object file, or a one-line error naming it."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ToolkitError(f"{path}: not a text file; the checkpoint file is damaged") from None
    except json.JSONDecodeError as exc:
        raise ToolkitError(
            f"{path}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno}); the "
            "checkpoint file is damaged"
        ) from None
    if not isinstance(data, dict):
        raise ToolkitError(f"{path}: not a JSON object; the checkpoint file is damaged")
    return data


def check_json_files(folder: Path) -> None:
    for name in JSON_FILES:
        if (folder / name).is_file():
            read_json(folder / name)


def auto_map_text(file: str, auto_map: Any) -> str:
    """'config.json auto_map: AutoConfig -> evil.EvilConfig' (the first entry, cut short)."""
    if isinstance(auto_map, dict) and auto_map:
        key, value = next(iter(auto_map.items()))
        return f"{file} auto_map: {short(key, 40)} -> {short(value, 60)}"
    return f"{file} auto_map: {short(auto_map)}"


def custom_code_error(what: str, found: str, key: str) -> CustomCode:
    return CustomCode(
        f"{what} ships its own code ({found}), which loading it would run; set {key} only if "
        "you trust that code"
    )


def refuse_custom_code(folder: Path, what: str, key: str) -> None:
    """Raise CustomCode when config.json or tokenizer_config.json has an auto_map."""
    for file in CODE_FILES:
        auto_map = read_json(folder / file).get("auto_map") if (folder / file).is_file() else None
        if auto_map:
            raise custom_code_error(what, auto_map_text(file, auto_map), key)


def refuse_auto_map(config: Any, what: str, key: str = MODEL_KEY) -> None:
    """After AutoConfig (trust_remote_code=False, so no code ran): a hub config's auto_map."""
    auto_map = getattr(config, "auto_map", None)
    if auto_map:
        raise custom_code_error(what, auto_map_text("config.json", auto_map), key)


def check_folder(folder: Path, what: str, trust: bool, key: str = MODEL_KEY):
    """Before transformers reads a local checkpoint: JSON files readable, custom code trusted."""
    check_json_files(folder)
    if not trust:
        refuse_custom_code(folder, what, key)


def weight_files(folder: Path, patterns: tuple[str, ...] = WEIGHT_PATTERNS) -> list[Path]:
    return sorted(path for pattern in patterns for path in folder.glob(pattern))


def check_weights(folder: Path, patterns: tuple[str, ...] = WEIGHT_PATTERNS) -> None:
    """A weights file is there, and every safetensors file's header is whole."""
    files = weight_files(folder, patterns)
    if not files:
        wanted = " or ".join(p.replace("*", "") for p in patterns)
        raise ToolkitError(f"{folder}: no weights file ({wanted}) in the checkpoint directory")
    for path in files:
        if path.suffix == ".safetensors":
            check_safetensors(path)


def check_safetensors(path: Path) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), "pt") as handle:
            handle.keys()
    except (SafetensorError, OSError) as exc:
        raise ToolkitError(
            f"{path}: not a readable safetensors file ({first_line(exc)}); it is truncated or "
            "corrupt: save or download it again"
        ) from None


def first_line(exc: BaseException) -> str:
    text = str(exc)
    if "WeightsUnpickler error:" in text:  # torch's advice above it is to load unsafely
        text = text.split("WeightsUnpickler error:", 1)[1]
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return short(f"{type(exc).__name__}: {line}" if line else type(exc).__name__, 120)


@contextlib.contextmanager
def reading_weights(folder: Path | None, patterns: tuple[str, ...] = WEIGHT_PATTERNS) -> Iterator:
    """Around a from_pretrained that reads `folder`'s weights (None: a hub id): the errors of a
    file torch or safetensors cannot read become one line naming it."""
    from safetensors import SafetensorError

    if folder is not None:
        check_weights(folder, patterns)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol")
        try:
            yield
        except (pickle.UnpicklingError, EOFError, SafetensorError, OSError, RuntimeError) as exc:
            files = weight_files(folder, patterns) if folder is not None else []
            if not isinstance(exc, SafetensorError):
                files = [p for p in files if p.suffix == ".bin"]
            if not files or isinstance(exc, ToolkitError):
                raise
            note = (
                f"a pickle checkpoint is read weights-only, so nothing in it ran; {PREFER}"
                if files[0].suffix == ".bin"
                else "it is truncated or corrupt: save or download it again"
            )
            where = ", ".join(str(p) for p in files[:2])
            raise ToolkitError(
                f"{where}: cannot load the weights ({first_line(exc)}); {note}"
            ) from None
