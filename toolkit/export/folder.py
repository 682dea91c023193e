"""An export folder: what `toolkit export` writes, how it is recognised, and the rules for
writing one.

The folder holds the engine's files (model.onnx, or CTranslate2's model.bin and vocabularies),
the run's config.json and tokenizer files, a copy of the run's recipe as recipe.yaml, and
toolkit_export.json naming the format and the run. It is written in `.<name>.partial` beside
the target and renamed into place whole; an existing folder is replaced only with `overwrite`,
and only when it holds toolkit_export.json: a folder of someone else's files is never deleted.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from toolkit.atomic import write_text_atomically
from toolkit.errors import ToolkitError
from toolkit.rundir import MARKER, RunDir, protected
from toolkit.runlock import exclusive

RECORD = "toolkit_export.json"
FORMATS = ("onnx", "ctranslate2")
# Files of a run's model/ that are weights (the engine writes its own) or not the model's.
SKIPPED_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".h5", ".onnx")
SKIPPED_NAMES = ("README.md",)


@dataclass(frozen=True)
class ExportInfo:
    """An export folder's record: its format, where it is, and the run it was made from."""

    format: str
    folder: Path
    run: Path


def read_export(folder: Path) -> ExportInfo | None:
    """The record of the export in `folder`; None when `folder` is not an export folder."""
    record_file = Path(folder) / RECORD
    if not record_file.is_file():
        return None
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolkitError(f"{record_file}: unreadable ({exc}); export the run again") from None
    fmt = record.get("format") if isinstance(record, dict) else None
    run = record.get("run") if isinstance(record, dict) else None
    if fmt not in FORMATS or not isinstance(run, str):
        raise ToolkitError(
            f"{record_file}: needs a 'format' ({' or '.join(FORMATS)}) and a 'run' path; "
            "export the run again"
        )
    return ExportInfo(fmt, Path(folder), Path(run))


def default_folder(run_dir: Path, fmt: str) -> Path:
    """Where an export goes without --out: RUN/exports/<format>."""
    return RunDir(run_dir).export_folder(fmt)


def open_run(run_dir: Path) -> tuple[RunDir, Path, Path]:
    """(run, its model dir, its recipe file) of a finished run; anything else is refused."""
    run = RunDir(run_dir, key="RUN")
    if not run.path.is_dir() or not run.is_run():
        raise ToolkitError(
            f"RUN: {run_dir} is not a run directory (no {MARKER}, nor recipe.yaml, metrics.json "
            "and model/config.json)"
        )
    model_dir, recipe_file = run.open()
    return run, model_dir, recipe_file


def check_target(target: Path, run: Path, overwrite: bool) -> None:
    """Refuse, before anything is written or loaded, a folder the export must not replace."""
    where = target.resolve()
    reason = protected(where)
    if reason is not None:
        raise ToolkitError(f"--out: {target} is {reason}; choose a folder of its own")
    if where == run.resolve() or where in run.resolve().parents:
        raise ToolkitError(f"--out: {target} holds the run {run}; choose another --out")
    if not target.exists():
        return
    if not target.is_dir():
        raise ToolkitError(f"--out: {target} exists and is not a folder")
    if not any(target.iterdir()):
        return
    if read_export(target) is None:
        raise ToolkitError(
            f"--out: {target} holds files no toolkit export wrote (no {RECORD}); choose a new "
            "or empty folder"
        )
    if not overwrite:
        raise ToolkitError(
            f"--out: {target} already holds an export; pass --overwrite to replace it"
        )


def write_export_folder(
    run_dir: Path, out: Path | None, fmt: str, write_engine_files: Callable[[Path], None],
    overwrite: bool = False,
) -> Path:  # fmt: skip
    """Write the export of the run in `run_dir` to `out` (default RUN/exports/<fmt>): the run's
    files first, then `write_engine_files(staging)` (which may replace config.json: a merged
    adapter's config), then the record; the folder appears whole or not at all."""
    run, model_dir, recipe_file = open_run(run_dir)
    target = Path(os.path.normpath(os.path.expanduser(str(out or default_folder(run.path, fmt)))))
    check_target(target, run.path, overwrite)
    staging = target.parent / f".{target.name}.partial"
    with exclusive(
        target.parent / f".{target.name}.lock", f"--out: {target}", "choose another --out"
    ):
        check_target(target, run.path, overwrite)  # another export may have finished meanwhile
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        try:
            copy_run_files(model_dir, recipe_file, staging)
            write_engine_files(staging)
            write_record(staging, fmt, run.path)
            publish(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def copy_run_files(model_dir: Path, recipe_file: Path, staging: Path) -> None:
    """The model's config and tokenizer files (all but weights and the card), and the recipe."""
    for file in sorted(model_dir.iterdir()):
        keep = file.is_file() and file.suffix not in SKIPPED_SUFFIXES
        if keep and file.name not in SKIPPED_NAMES and not file.name.startswith("adapter_"):
            shutil.copy2(file, staging / file.name)
    shutil.copy2(recipe_file, staging / "recipe.yaml")


def write_record(staging: Path, fmt: str, run: Path) -> None:
    from toolkit import __version__

    record = {"format": fmt, "run": str(run.resolve()), "toolkit_version": __version__}
    write_text_atomically(staging / RECORD, json.dumps(record, indent=1) + "\n")


def publish(staging: Path, target: Path) -> None:
    """Move the finished staging folder to `target`; an old export goes aside first and is
    removed only after the swap."""
    old = target.parent / f".{target.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
