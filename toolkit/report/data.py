"""What `toolkit report` reads from a run directory (no HTML here).

A run directory holds metrics.json and recipe.yaml (else it is refused), and usually log.jsonl,
predictions/test.jsonl and model/config.json; the recipe's task says what its predictions hold
(each task's `report` picks the rows to show).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import ToolkitError
from toolkit.rundir import RunDir
from toolkit.tasks.report_pieces import is_number

if TYPE_CHECKING:
    from toolkit.tasks.base import Task


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ToolkitError(f"{path}:{number}: not a json line ({exc.msg})") from None
    return records


def load_run(run_dir: Path) -> dict[str, Any]:
    import yaml

    run = RunDir(run_dir)
    run.require_finished()
    try:
        metrics = json.loads(run.metrics.read_text(encoding="utf-8"))
        recipe_text = run.recipe.read_text(encoding="utf-8")
        recipe = yaml.safe_load(recipe_text)
        config_file = run.model_config
        config = (
            json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
        )
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ToolkitError(
            f"{run_dir}: unreadable metrics, recipe or model config ({exc})"
        ) from None
    if not isinstance(metrics, dict) or not isinstance(recipe, dict):
        raise ToolkitError(
            f"{run_dir}: {run.metrics.name} and {run.recipe.name} must each hold a mapping"
        )
    predictions = [r for r in read_jsonl(run.predictions("test")) if isinstance(r, dict)]
    return {
        "dir": run_dir, "metrics": metrics, "recipe": recipe, "recipe_text": recipe_text,
        "config": config if isinstance(config, dict) else {},
        "log": [r for r in read_jsonl(run.log) if isinstance(r, dict)],
        "predictions": predictions,
    }  # fmt: skip


def report_task(recipe: dict, config: dict) -> Task | None:
    """The task of a run's recipe, from its `task:` section alone, bound to the head of the
    saved model's family (`config`, its config.json) when known; None when the section names
    no known task or does not validate (the report then leaves the task's sections out)."""
    from pydantic import ValidationError

    from toolkit.models import FAMILIES
    from toolkit.tasks.registry import get_task

    spec = recipe.get("task")
    if not isinstance(spec, dict):
        return None
    try:
        found = get_task(str(spec.get("name")))
        task = found(found.Settings.model_validate(spec))
        family = FAMILIES.get(str(config.get("model_type")))
        if family is not None:
            task.bind(task.head(family))
    except (ToolkitError, ValidationError):
        return None
    return task


def interval(scores: dict, key: str) -> tuple[float, float] | None:
    """A confidence interval recorded as `KEY_ci: [lo, hi]` (or `{low, high}`, or `ci: {KEY}`)."""
    nested = scores.get("ci") if isinstance(scores.get("ci"), dict) else {}
    value = scores.get(f"{key}_ci", nested.get(key))
    if isinstance(value, dict):
        value = [value.get("low", value.get("lo")), value.get("high", value.get("hi"))]
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(map(is_number, value)):
        return float(value[0]), float(value[1])
    return None


def confidences(records: list[dict]) -> tuple[list[float], list[bool]] | None:
    """(confidence, correct) per test record for the reliability diagram, where the records
    carry class probabilities (classification): the confidence is the largest probability.
    None when none does (tasks that write text or spans)."""
    found, correct = [], []
    for record in records:
        probabilities = record.get("probabilities")
        values = list(probabilities.values()) if isinstance(probabilities, dict) else []
        if not values or not all(map(is_number, values)):
            continue  # a hand-edited or foreign record: left out, not fatal
        found.append(float(max(values)))
        correct.append(str(record.get("label")) == str(record.get("prediction")))
    return (found, correct) if found else None
