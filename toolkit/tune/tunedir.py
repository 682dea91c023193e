"""The tune directory: one run directory per trial, the study database (by default), the best
recipe, the trials table, the plots and the report. A `.toolkit-tune` marker says that toolkit
wrote it; a directory holding anything else is never written into."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from toolkit.atomic import write_text_atomically
from toolkit.errors import ToolkitError
from toolkit.rundir import RunDir

MARKER = ".toolkit-tune"


class TuneDir:
    """A tune directory, which need not exist yet; `key` names where it came from in messages."""

    def __init__(self, path: str | Path, key: str = "--out") -> None:
        self.path = Path(os.path.normpath(os.path.expanduser(str(path))))
        self.key = key

    @property
    def marker(self) -> Path:
        return self.path / MARKER

    @property
    def database(self) -> Path:
        return self.path / "study.db"

    @property
    def default_storage(self) -> str:
        return f"sqlite:///{self.database.resolve()}"

    @property
    def best_recipe(self) -> Path:
        return self.path / "best_recipe.yaml"

    @property
    def trials_csv(self) -> Path:
        return self.path / "trials.csv"

    @property
    def report(self) -> Path:
        return self.path / "tune_report.html"

    def trial(self, number: int) -> RunDir:
        """The run directory of trial `number`."""
        return RunDir(self.path / f"trial_{number:03d}", self.key)

    def check(self, inputs: Mapping[str, Path]) -> None:
        """Refuse, before anything is written, a place no run may use (see RunDir.check_place)
        and a directory holding files that are not a tune directory's."""
        RunDir(self.path, self.key).check_place(inputs)
        if not self.path.exists():
            return
        if not self.path.is_dir():
            raise ToolkitError(f"{self.key}: {self.path} exists and is not a directory")
        if any(self.path.iterdir()) and not self.marker.is_file():
            raise ToolkitError(
                f"{self.key}: {self.path} holds files toolkit tune did not write (no {MARKER} "
                "in it); choose a new or empty directory"
            )

    def create(self) -> None:
        """The directory and its marker (kept if there: several workers may share one)."""
        from toolkit import __version__

        self.path.mkdir(parents=True, exist_ok=True)
        if not self.marker.is_file():
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            mark = {"kind": "tune", "toolkit": __version__, "created": stamp}
            write_text_atomically(self.marker, json.dumps(mark) + "\n")

    def drop_staging(self, number: int) -> None:
        """What an unfinished trial left beside its run directory (pruned, failed, killed)."""
        shutil.rmtree(self.trial(number).staging.path, ignore_errors=True)
