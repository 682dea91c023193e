"""Which Trainer checkpoint a `--resume` may continue from.

The Trainer writes a checkpoint's files one after another and `trainer_state.json` last, so a
run killed while saving leaves a newest `checkpoint-N` without a readable state file. Such a
folder is never resumed from (and is removed, so the Trainer's own rotation never counts it);
the one before it is.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def is_complete(folder: Path) -> bool:
    state = folder / "trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    has_weights = any(folder.glob("*.safetensors")) or any(folder.glob("*.bin"))
    return has_weights and (folder / "optimizer.pt").is_file()


def step_of(folder: Path) -> int:
    suffix = folder.name.removeprefix("checkpoint-")
    return int(suffix) if suffix.isdigit() else -1


def newest_complete(root: Path, remove_incomplete: bool = False) -> Path | None:
    """The complete checkpoint with the highest step under `root`, or None."""
    folders = sorted((p for p in root.glob("checkpoint-*") if step_of(p) >= 0), key=step_of)
    for folder in reversed(folders):
        if is_complete(folder):
            return folder
        if remove_incomplete:
            shutil.rmtree(folder, ignore_errors=True)
    return None
