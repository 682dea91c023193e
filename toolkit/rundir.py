"""The run directory: its layout, the staging beside it, its marker, the overwrite policy, its lock,
and opening a finished run. No other module spells a path inside (or beside) a run directory.

A run trains in `.<name>.partial` beside `<name>` and is moved into place only when it has
finished: the old directory goes aside to `.<name>.old` and is removed after the swap. A
`.toolkit-run` file says that toolkit wrote a directory; `--overwrite` replaces nothing else.
While a run is under way its process holds `.<name>.lock` beside the directory (see runlock.py).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import NamedTuple

from toolkit.atomic import write_text_atomically
from toolkit.checkpoints import newest_complete
from toolkit.errors import ToolkitError, shorten
from toolkit.runlock import exclusive

MARKER = ".toolkit-run"
LAYOUT = 1  # the marker's "layout" field: bumped when the files a run writes change meaning
SEED_PREFIX, SEEDS_SUMMARY = "seed-", "seeds.json"
NOUNS = {"run": "a run", "seeds": "seed runs", "merge": "a merged model"}
# A split or eval output name becomes a file name inside the run: no separators, no `..`.
NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


def checked_name(name: str, key: str = "--split") -> str:
    """`name` if it can name a file inside a run directory; else a ToolkitError naming `key`."""
    if not NAME.fullmatch(name) or ".." in name:
        raise ToolkitError(
            f"{key}: {shorten(name)} cannot name a file in the run (letters, digits, '_', '.' "
            "and '-' only; no path separators, no '..')"
        )
    return name


def output_name(file: str) -> str:
    """The eval output name for `--data FILE`: its stem, odd characters made '_'."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(file).stem)
    stem = re.sub(r"\.{2,}", ".", stem).lstrip(".-")[:100]
    return stem or "data"


class OpenRun(NamedTuple):
    """A finished run (or a bare model directory plus a recipe) opened for eval, explain, merge."""

    model_dir: Path
    recipe_file: Path


class Inside:
    """A path inside the run directory, read as an attribute: `run.metrics`."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __get__(self, run: RunDir, owner: type | None = None) -> Path:
        return run.path.joinpath(*self.parts)


class RunDir:
    """One run directory, which need not exist yet: where each file of a run goes, and the rules
    for writing it. `key` names the setting it came from in messages (`output.dir`, `--out`)."""

    def __init__(self, path: str | Path, key: str = "output.dir") -> None:
        self.path = Path(os.path.normpath(os.path.expanduser(str(path))))
        self.key = key

    # -- layout: what a run holds (`staging` holds the same while it is written) ----------------
    model = Inside("model")
    model_config = Inside("model", "config.json")
    card = Inside("model", "README.md")  # the model card (toolkit/share/card.py)
    recipe = Inside("recipe.yaml")
    metrics = Inside("metrics.json")
    log = Inside("log.jsonl")
    checkpoints = Inside("checkpoints")
    tensorboard = Inside("tensorboard")
    splits_record = Inside("splits.json")
    eval_dir = Inside("eval")
    report = Inside("report.html")
    marker = Inside(MARKER)
    seeds_summary = Inside(SEEDS_SUMMARY)  # a `--seeds` root: mean ± std over its seed runs
    calibration = Inside("calibration.json")  # `eval.calibrate`: the fitted temperature
    faithfulness = Inside("eval", "faithfulness.json")  # `toolkit explain --faithfulness`

    def split_file(self, split: str) -> Path:
        """The held-out rows the run recorded (`splits/<split>.jsonl`)."""
        return self.path / "splits" / f"{checked_name(split)}.jsonl"

    def predictions(self, split: str) -> Path:
        return self.path / "predictions" / f"{checked_name(split)}.jsonl"

    def eval_rows(self, name: str, what: str) -> Path:
        """Rows `toolkit eval` (or one of its probes) writes: `eval/<name>_<what>.jsonl`."""
        return self.eval_dir / f"{checked_name(name, 'eval output')}_{what}.jsonl"

    def eval_results(self) -> list[Path]:
        """`toolkit eval`'s results (not explain's faithfulness.json beside them)."""
        return sorted(p for p in self.eval_dir.glob("*.json") if p != self.faithfulness)

    def seed_run(self, seed: int) -> RunDir:
        """One run of a `--seeds` root."""
        return RunDir(self.path / f"{SEED_PREFIX}{seed}", self.key)

    def export_folder(self, fmt: str) -> Path:
        """Where `toolkit export --format FMT` writes without --out (toolkit/export/folder.py)."""
        return self.path / "exports" / fmt

    # -- beside it ------------------------------------------------------------------------------
    def sibling(self, suffix: str) -> Path:
        return self.path.parent / f".{self.path.name}.{suffix}"

    @property
    def staging(self) -> RunDir:
        """Where the run is written until it has finished (and where `--resume` looks)."""
        return RunDir(self.sibling("partial"), self.key)

    @property
    def scratch(self) -> Path:
        """A model built from scratch for this run (`model.scratch`)."""
        return self.sibling("scratch")

    @property
    def mlruns(self) -> Path:
        """MLflow's file store: one beside all the runs of a project."""
        return self.path.resolve().parent / "mlruns"

    # -- what is there --------------------------------------------------------------------------
    def is_run(self) -> bool:
        """The marker, or the three things every finished run wrote before the marker existed.

        Runs older than the marker are accepted so that `--overwrite` keeps working on them; a
        folder of someone's own files is very unlikely to hold recipe.yaml, metrics.json and
        model/config.json all at once. Nothing else is ever replaced."""
        if self.marker.is_file():
            return True
        return self.recipe.is_file() and self.metrics.is_file() and self.model_config.is_file()

    def written_by_toolkit(self) -> bool:
        """A run (see `is_run`), or what `toolkit merge` and `--seeds` wrote before the marker."""
        if self.is_run():
            return True
        if (self.path / "config.json").is_file() and RunDir(self.path.parent).is_run():
            return True  # a merged model inside its run (`toolkit merge`'s default place)
        names = [p.name for p in self.path.iterdir()] if self.path.is_dir() else []
        seeds = [RunDir(self.path / n) for n in names if n.startswith(SEED_PREFIX)]
        return bool(seeds) and all(  # a `--seeds` root: seed-K runs, their siblings, seeds.json
            n == SEEDS_SUMMARY or n.lstrip(".").startswith(SEED_PREFIX) for n in names
        ) and any(s.is_run() for s in seeds)  # fmt: skip

    def require_finished(self) -> None:
        """Refuse anything but a finished run (for `toolkit report`)."""
        missing = [p.name for p in (self.metrics, self.recipe) if not p.is_file()]
        if not self.path.is_dir() or missing:
            lacks = (
                "is not a directory" if not self.path.is_dir() else f"has no {', '.join(missing)}"
            )
            raise ToolkitError(f"{self.path}: not a run directory ({lacks})")

    def open(self, recipe_path: str | Path | None = None) -> OpenRun:
        """The model dir and recipe file of a finished run, or of a bare model directory plus
        `recipe_path` (for eval, explain, merge and compare)."""
        if not self.path.exists():
            raise ToolkitError(f"{self.path}: no such run or model directory")
        model_dir = self.model if self.model_config.is_file() else self.path
        if not (model_dir / "config.json").is_file():
            raise ToolkitError(f"{self.path}: no model found (expected {self.model_config})")
        recipe_file = Path(recipe_path) if recipe_path else self.recipe
        if not recipe_file.is_file():
            raise ToolkitError(
                f"{recipe_file}: recipe not found; pass --recipe for a bare model directory"
            )
        return OpenRun(model_dir, recipe_file)

    # -- the overwrite policy -------------------------------------------------------------------
    def check_target(self, inputs: Mapping[str, Path], replace: bool, kind: str = "run") -> None:
        """Refuse, before anything is written, a directory this run must not write: see
        `check_place` and `check_contents`."""
        self.check_place(inputs)
        self.check_contents(replace, kind)

    def check_place(self, inputs: Mapping[str, Path]) -> None:
        """Never `/`, the home directory, the current directory or a parent of it, nor a
        directory holding one of `inputs` (label → the recipe file, data, base model)."""
        where = self.path.resolve()
        shown = f"{self.path}" if where == self.path else f"{self.path} ({where})"
        reason = protected(where)
        if reason is not None:
            raise ToolkitError(
                f"{self.key}: {shown} is {reason}; a run needs a directory of its own, "
                "e.g. runs/NAME"
            )
        for label, path in inputs.items():
            held = Path(path).expanduser().resolve()
            if held == where or where in held.parents:
                raise ToolkitError(
                    f"{self.key}: {shown} holds {label} ({path}); replacing the directory would "
                    f"delete it, so choose another {self.key}"
                )

    def check_contents(self, replace: bool, kind: str = "run") -> None:
        """A new or empty directory is fine; one toolkit wrote needs `replace`; else refused."""
        if not self.path.exists():
            return
        if not self.path.is_dir():
            raise ToolkitError(f"{self.key}: {self.path} exists and is not a directory")
        if not any(self.path.iterdir()):
            return
        if not self.written_by_toolkit():
            raise ToolkitError(
                f"{self.key}: {self.path} holds files no toolkit run wrote (no {MARKER} in it); "
                f"--overwrite replaces only a run directory, so choose a new or empty {self.key}"
            )
        if not replace:
            raise ToolkitError(
                f"{self.key}: {self.path} already holds {NOUNS[kind]}; pass --overwrite to "
                "replace it"
            )

    # -- the lock: `.<name>.lock` beside the directory -----------------------------------------
    @contextmanager
    def claim(
        self, inputs: Mapping[str, Path], replace: bool, kind: str = "run", hold: bool = True
    ) -> Iterator[RunDir]:
        """`check_target`, then hold the lock for the block (`hold` False: check only; the main
        process of a multi-process run holds it), checking the contents again under it."""
        self.check_target(inputs, replace, kind)
        if not hold:
            yield self
            return
        with self.locked():
            self.check_contents(replace, kind)  # another run may have finished in between
            yield self

    def precheck(self, inputs: Mapping[str, Path], replace: bool, kind: str = "run") -> None:
        """Refuse now what `claim` would refuse (the parent of a multi-process run does, before
        it starts the processes whose main one then claims the directory)."""
        with self.claim(inputs, replace, kind):
            pass

    def locked(self) -> AbstractContextManager[None]:
        """Hold the lock for the block; while another process holds it this fails at once."""
        return exclusive(
            self.sibling("lock"), f"{self.key}: {self.path}", f"choose another {self.key}"
        )

    # -- writing --------------------------------------------------------------------------------
    def write_marker(self, kind: str = "run") -> None:
        from toolkit import __version__

        self.path.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        mark = {"layout": LAYOUT, "kind": kind, "toolkit": __version__, "created": stamp}
        write_text_atomically(self.marker, json.dumps(mark) + "\n")

    def start_staging(self, recipe_yaml: str | None, kind: str = "run") -> RunDir:
        """A fresh staging dir holding the marker and the recipe (so `--resume` can tell it is
        the same run); what an earlier interrupted run left there is removed."""
        staging = self.staging
        shutil.rmtree(staging.path, ignore_errors=True)
        staging.write_marker(kind)
        if recipe_yaml is not None:
            staging.recipe.write_text(recipe_yaml, encoding="utf-8")
        return staging

    def resume_point(self, recipe_yaml: str, remove_incomplete: bool) -> Path:
        """The newest complete checkpoint of the interrupted run of this same recipe."""
        saved = self.staging.recipe
        if not saved.is_file():
            raise ToolkitError(f"--resume: no interrupted run of {self.path} to resume")
        if saved.read_text(encoding="utf-8") != recipe_yaml:
            raise ToolkitError(
                f"--resume: the recipe changed since the interrupted run ({saved}); run again "
                "without --resume (with --overwrite) to start over"
            )
        found = newest_complete(self.staging.checkpoints, remove_incomplete=remove_incomplete)
        if found is None:
            raise ToolkitError(
                f"--resume: the interrupted run left no complete checkpoint in {self.staging.path}"
            )
        return found

    def write_results(
        self, recipe_yaml: str, metrics: dict, predictions: Mapping[str, list[dict]]
    ) -> None:
        """recipe.yaml, metrics.json and predictions/<split>.jsonl."""
        self.recipe.write_text(recipe_yaml, encoding="utf-8")
        for split, records in predictions.items():
            write_jsonl(self.predictions(split), records)
        self.metrics.write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")

    def write_calibration(self, record: dict) -> None:
        """calibration.json: what `eval.calibrate` fitted (toolkit/evaluation/calibration.py)."""
        write_text_atomically(self.calibration, json.dumps(record, indent=1) + "\n")

    def read_calibration(self) -> dict | None:
        """The run's calibration.json, or None when it has none (not calibrated)."""
        if not self.calibration.is_file():
            return None
        try:
            record = json.loads(self.calibration.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ToolkitError(f"{self.calibration}: unreadable ({exc}); rerun the run") from None
        if not isinstance(record, dict):
            raise ToolkitError(f"{self.calibration}: must hold a mapping; rerun the run")
        return record

    def drop_checkpoints(self) -> None:
        shutil.rmtree(self.checkpoints, ignore_errors=True)

    def write_eval(self, name: str, metrics: dict, records: list[dict], source: str) -> Path:
        """`toolkit eval`'s scores (eval/<name>.json) and rows; returns the json file."""
        out_file = self.eval_dir / f"{checked_name(name, 'eval output')}.json"
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(json.dumps({"source": source, **metrics}, indent=1) + "\n")
        write_jsonl(self.eval_rows(name, "predictions"), records)
        return out_file

    def publish(self) -> None:
        """Replace the directory by its finished staging dir; the old one goes aside first and
        is removed only after the swap. What is there is checked again: it was checked at the
        start, but a person may have put files there since."""
        self.check_contents(replace=True)
        old = self.sibling("old")
        shutil.rmtree(old, ignore_errors=True)
        if self.path.exists():
            self.path.rename(old)
        self.staging.path.rename(self.path)
        shutil.rmtree(old, ignore_errors=True)


def protected(where: Path) -> str | None:
    """Why the (resolved) directory `where` may never be replaced by a run, or None."""
    cwd = Path.cwd().resolve()
    if where == Path(where.anchor):
        return "the filesystem root"
    if where == Path.home().resolve():
        return "the home directory"
    if where == cwd:
        return "the current directory"
    if where in cwd.parents:
        return "a parent of the current directory"
    return None


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
