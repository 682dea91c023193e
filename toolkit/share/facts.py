"""What a model card says about a run, read from the run directory alone: the card `toolkit run`
writes and the one `toolkit push` regenerates (with the evaluations made since) come from the
same files.

Recipe paths are relative to the directory the run was trained from; that directory is found
again from `output.dir` and where the run now lies, so a push from elsewhere still tells a local
checkpoint or data file from a Hub id. Local paths never reach the card: a local file is named
by its file name only.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import ToolkitError
from toolkit.rundir import RunDir

if TYPE_CHECKING:
    from toolkit.models import Family
    from toolkit.recipe.schema import Recipe
    from toolkit.tasks.base import Head, Task

SPLITS = ("train", "validation", "test")


@dataclass
class RunFacts:
    """A finished run as its card describes it."""

    run: RunDir  # where the files are read (the staging dir while a run is written)
    home: Path  # the run directory as published: its name, and the place it was trained from
    recipe: Recipe
    task: Task
    family: Family
    head: Head
    config: dict  # model/config.json
    metrics: dict  # metrics.json
    splits: dict  # splits.json
    evals: dict[str, dict]  # eval/<name>.json, by name
    calibration: dict | None  # calibration.json (`eval.calibrate`)
    adapter: dict | None  # model/adapter_config.json of a peft run

    @property
    def pipeline_tag(self) -> str:
        return self.task.pipeline_tag or self.head.kind.pipeline_tag()

    @property
    def origin(self) -> Path:
        """The directory the run was trained from (its recipe's relative paths start there)."""
        out = Path(os.path.normpath(os.path.expanduser(self.recipe.output.dir)))
        here = self.home.resolve()
        if out.is_absolute() or ".." in out.parts:
            return Path.cwd()
        parts = len(out.parts)
        return Path(*here.parts[:-parts]) if here.parts[-parts:] == out.parts else Path.cwd()

    def local(self, spec: str) -> Path | None:
        """The local file or folder `spec` names, if it is one (None: a Hub id)."""
        path = Path(spec).expanduser()
        path = path if path.is_absolute() else self.origin / path
        if path.exists() or not is_hub_id(spec):
            return path
        return None

    def base_model(self) -> str | None:
        """The Hub id the run started from: `model.name`, or for a local checkpoint the id its
        config was saved from (`_name_or_path`) unless the recipe names it (`model.hub_id`);
        None when unknown (or built from scratch)."""
        name = self.recipe.model.name
        if self.recipe.model.hub_id is not None:
            return self.recipe.model.hub_id
        folder = self.local(name)
        if folder is None:
            return name
        recorded = read_json(folder / "config.json", missing={}).get("_name_or_path")
        if isinstance(recorded, str) and is_hub_id(recorded) and not Path(recorded).exists():
            return recorded
        return None

    def datasets(self) -> list[str]:
        """The recipe's data sources that are Hub dataset ids."""
        data = self.recipe.data
        specs = [data.train, data.validation, data.test]
        return list(dict.fromkeys(s for s in specs if s and self.local(s) is None))

    def source(self, split: str) -> str:
        """Where a split's rows came from, for people: a Hub id or a file name."""
        record = self.splits.get(split)
        spec = record.get("file") if isinstance(record, dict) else None
        spec = spec or self.recipe.data.train
        shown = spec if self.local(spec) is None else Path(spec).name
        if isinstance(record, dict) and "carved_from_train" in record:
            return f"{shown} (carved from train, split seed {self.recipe.data.split_seed})"
        if isinstance(record, dict) and "source_split" in record:
            return f"{shown} ({record['source_split']} split)"
        return shown

    def sizes(self) -> dict[str, int | None]:
        """Rows per split: recorded by the run, else the held-out rows it kept (train unknown)."""
        recorded = self.splits.get("sizes")
        if isinstance(recorded, dict):
            return {s: recorded.get(s) for s in SPLITS}
        counts: dict[str, int | None] = {"train": None}
        for split in SPLITS[1:]:
            path = self.run.split_file(split)
            counts[split] = count_lines(path) if path.is_file() else None
        return counts


def read_facts(run: RunDir, home: Path | None = None) -> RunFacts:
    """The facts of the finished run in `run` (`home`: where it is published, if elsewhere)."""
    from toolkit.models import family_of, load_config
    from toolkit.recipe.load import load_recipe
    from toolkit.tasks.registry import task_for

    run.require_finished()
    if not run.model_config.is_file():
        raise ToolkitError(f"{run.path}: no model found (expected {run.model_config})")
    recipe = load_recipe(run.recipe)
    task = task_for(recipe)
    config = load_config(str(run.model), trust_remote_code=recipe.model.trust_remote_code)
    family = family_of(config, str(run.model))
    head = task.head(family)
    task.bind(head)
    adapter = run.model / "adapter_config.json"
    return RunFacts(
        run=run, home=home or run.path, recipe=recipe, task=task, family=family, head=head,
        config=read_json(run.model_config), metrics=read_json(run.metrics),
        splits=read_json(run.splits_record, missing={}),
        evals={p.stem: read_json(p) for p in run.eval_results()},
        calibration=run.read_calibration(),
        adapter=read_json(adapter) if adapter.is_file() else None,
    )  # fmt: skip


def read_json(path: Path, missing: dict[str, Any] | None = None) -> dict[str, Any]:
    """A json mapping; `missing` when there is no such file (None: the file must exist)."""
    if missing is not None and not path.is_file():
        return missing
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ToolkitError(f"{path}: unreadable ({exc})") from None
    if not isinstance(found, dict):
        raise ToolkitError(f"{path}: must hold a json mapping")
    return found


def is_hub_id(spec: str) -> bool:
    """Whether `spec` reads as a Hub repo id (`name` or `owner/name`), not as a path."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    from toolkit.data import FILE_BUILDERS

    if spec.startswith((".", "/", "~")) or Path(spec).suffix.lower() in FILE_BUILDERS:
        return False
    try:
        validate_repo_id(spec)
    except HFValidationError:
        return False
    return True


def count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for line in handle if line.strip())
