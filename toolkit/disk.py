"""Disk space for a run: refuse it before anything is written when a checkpoint would not fit.

A Trainer checkpoint holds the weights it saves (all of them; a peft model's trainable ones only)
and the optimizer's two Adam moments for every trainable parameter, each in the parameter's own
dtype; the finished run then saves the model once more. Both go to the staging directory.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, NamedTuple

from toolkit.errors import ToolkitError


class Needs(NamedTuple):
    checkpoint: int  # bytes of one Trainer checkpoint (0 when the run saves none)
    model: int  # bytes of the final model

    @property
    def total(self) -> int:
        return self.checkpoint + self.model


def estimate(loaded: Any, checkpoints: bool) -> Needs:
    """What a run of this LoadedModel writes at its largest: one checkpoint (weights + 2 Adam
    moments) while training, when `checkpoints`, and the final model."""
    parameters = list(loaded.model.parameters())
    trainable = sum(p.numel() * p.element_size() for p in parameters if p.requires_grad)
    peft = hasattr(loaded.model, "peft_config")  # saves its adapter (and head) only
    model = trainable if peft else sum(p.numel() * p.element_size() for p in parameters)
    return Needs(model + 2 * trainable if checkpoints else 0, model)


def check_free_space(staging: Path, loaded: Any, checkpoints: bool) -> None:
    """Refuse in one line, naming the directory and the sizes, a run whose writes would not fit
    on the filesystem of `staging` (which need not exist yet)."""
    needs = estimate(loaded, checkpoints)
    where = existing_parent(staging)
    free = shutil.disk_usage(where).free
    if free >= needs.total:
        return
    parts = f"a checkpoint {size(needs.checkpoint)} (weights + 2 Adam moments) + " * checkpoints
    raise ToolkitError(
        f"not enough disk space in {where}: {size(free)} free, the run needs about "
        f"{size(needs.total)} ({parts}the final model {size(needs.model)}); free some space "
        "or choose another output.dir"
    )


def existing_parent(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def size(count: int) -> str:
    """Bytes as people read them: 517 MB, 1.6 GB (decimal units, as `df -H`)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.3g} {unit}"
    return f"{count} B"
