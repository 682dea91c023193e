"""On-disk cache of augmentation steps, so a repeated `toolkit run` does not redo the work.

A step's result is stored under a sha256 of everything that can change it: the rows it reads,
the step's settings, the seed, the held-out texts it was checked against, the task view, and the
models it uses (a local model folder by its files' names, sizes and mtimes; a hub id by name).
Any change is a miss. Entries are written atomically, so an interrupted run leaves no torn file.
Location: $TOOLKIT_CACHE, else $XDG_CACHE_HOME/toolkit, else ~/.cache/toolkit.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from toolkit.atomic import write_text_atomically

FORMAT = 1  # bump when the stored layout or any method's output changes


def cache_dir() -> Path:
    if os.environ.get("TOOLKIT_CACHE"):
        return Path(os.environ["TOOLKIT_CACHE"]) / "augment"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "toolkit" / "augment"


def model_fingerprint(name: str | None) -> Any:
    """What identifies a model: its files (local folder) or its id (hub)."""
    if not name:
        return None
    path = Path(name)
    if not path.exists():
        return name
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return [(str(p.relative_to(path) if path.is_dir() else p.name), p.stat().st_size,
             p.stat().st_mtime_ns) for p in files]  # fmt: skip


def data_digest(rows: list[dict], held_out: list[str], view: Any) -> str:
    """What every step of one run shares: the rows, the held-out texts, the task view."""
    digest = hashlib.sha256(json.dumps([FORMAT, repr(view)]).encode())
    for row in rows:  # row by row: no second copy of a large table in memory
        digest.update(json.dumps(row, sort_keys=True, default=str).encode())
    digest.update(json.dumps(held_out).encode())
    return digest.hexdigest()


def step_key(data: str, step: Any, seed: int) -> str:
    """The cache key of one step over the data of `data_digest`."""
    settings = step.model_dump(mode="json")
    models = {k: model_fingerprint(settings.get(k)) for k in ("model", "forward_model",
              "backward_model", "filter_model")}  # fmt: skip
    parts = [data, settings, seed, models]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def load(key: str) -> dict | None:
    path = cache_dir() / f"{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # missing or unreadable: recompute


def store(key: str, entry: dict) -> None:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_text_atomically(folder / f"{key}.json", json.dumps(entry, default=str))
    except OSError:
        pass  # a read-only or full cache only costs speed next time
