"""Ctrl-C during `toolkit run`: one line saying what was published (nothing), what is kept and
how to resume. Exit code 130, as for any interrupted command.

Nothing is published until a run has finished, so an interrupted run leaves `output.dir` as it
was; its hidden staging directory (`.NAME.partial`) keeps what it wrote, checkpoints included,
for `--resume`. The run's lock is released by the `with` blocks the interrupt unwinds.

Under `--num-processes` the relaunching parent prints the line, once, after the processes have
ended; the processes it started print nothing (TOOLKIT_RELAUNCHED tells them apart from
processes a user's own `torchrun` or `accelerate launch` started, whose main one prints it).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from toolkit.checkpoints import newest_complete
from toolkit.console import console
from toolkit.launch import is_main_process, relaunched
from toolkit.rundir import SEED_PREFIX, RunDir

INTERRUPTED = 130  # 128 + SIGINT, what shells report for a command stopped by Ctrl-C


def report_interrupt(run_dir: RunDir, resume_command: list[str]) -> int:
    """Print the line (in the process that owns the terminal) and return the exit code."""
    if is_main_process() and not relaunched():
        console.print(
            interrupted_line(run_dir, shlex.join(resume_command)), markup=False, highlight=False
        )
    return INTERRUPTED


def interrupted_line(run_dir: RunDir, resume: str) -> str:
    head = f"interrupted: nothing was published at {run_dir.path}"
    staging = staging_of(run_dir)
    if staging is None:
        return f"{head}; nothing was kept"
    newest = newest_complete(staging / "checkpoints")
    if newest is None:
        return f"{head}; kept {staging} (no checkpoint was saved yet, so a rerun starts over)"
    return f"{head}; kept {staging} with checkpoint {newest.name}; resume with: {resume}"


def staging_of(run_dir: RunDir) -> Path | None:
    """The staging dir the interrupted run was writing: the run's own, or (for `--seeds`) the
    most recent one of its seed runs; None when there is none."""
    found = [p for p in run_dir.path.glob(f".{SEED_PREFIX}*.partial") if p.is_dir()]
    if run_dir.staging.path.is_dir():
        found.append(run_dir.staging.path)
    return max(found, key=lambda p: p.stat().st_mtime, default=None)
