"""The recipe's `tune:` section, for `toolkit tune`: the search space over other recipe keys, the
metric to optimise and the pruner. `toolkit run` ignores it.

Each `space` entry names a recipe key and one kind, `{uniform: [low, high]}`,
`{log_uniform: [low, high]}`, `{int: [low, high]}` or `{choice: [a, b, ...]}`. The section is
validated against the rest of the recipe: every key must exist and every candidate value (low,
high, a value between, each choice) must be a valid value of that key.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    Field,
    PlainSerializer,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core import ValidationError as CoreValidationError

from toolkit.errors import shorten
from toolkit.recipe.section import Section
from toolkit.tasks.registry import get_task

KINDS = ("uniform", "log_uniform", "int", "choice")
Scalar = bool | int | float | str | None  # what Optuna's suggest_categorical takes
# A trial is written to its own output.dir, and the tune section is the search itself.
UNTUNABLE = ("output", "tune")


@dataclass(frozen=True)
class Dimension:
    """One searched key: its kind and values ([low, high] for a range, the choices otherwise)."""

    kind: Literal["uniform", "log_uniform", "int", "choice"]
    values: tuple[Scalar, ...]

    def candidates(self) -> list[Scalar]:
        """Values that must all be valid for the key: both ends and one between (not a whole
        number, so a float range over an integer key is caught), or every choice."""
        if self.kind == "choice" or self.kind == "int":
            return list(self.values)
        low, high = self.values
        if self.kind == "log_uniform":
            return [low, high, math.exp(0.63 * math.log(low) + 0.37 * math.log(high))]
        return [low, high, low + 0.37 * (high - low)]


def parse_dimension(value: object) -> Dimension:
    """`{kind: values}` as written in the recipe (or a Dimension) into a checked Dimension."""
    if isinstance(value, Dimension):
        return value
    if not isinstance(value, dict) or len(value) != 1:
        raise ValueError(
            "give one kind: {uniform: [low, high]}, {log_uniform: [low, high]}, "
            "{int: [low, high]} or {choice: [a, b, ...]}"
        )
    [(kind, values)] = value.items()
    if kind not in KINDS:
        hint = difflib.get_close_matches(str(kind)[:40], KINDS, n=1, cutoff=0.6)
        guess = f"did you mean {hint[0]!r}? " if hint else ""
        raise ValueError(f"unknown kind {shorten(kind)}; {guess}(kinds: {', '.join(KINDS)})")
    if not isinstance(values, list) or not values:
        raise ValueError(f"{kind}: give a non-empty list (got {shorten(values)})")
    if kind == "choice":
        return Dimension(kind, tuple(check_choices(values)))
    return Dimension(kind, check_range(kind, values))


def check_choices(values: list) -> list[Scalar]:
    bad = [v for v in values if isinstance(v, (dict, list))]
    if bad:
        raise ValueError(f"choice: each choice must be a single value (got {shorten(bad[0])})")
    if len(set(map(repr, values))) != len(values):
        raise ValueError(f"choice: a value is listed twice (got {shorten(values)})")
    return values


def check_range(kind: str, values: list) -> tuple[float, float]:
    """[low, high] with low < high; whole numbers for `int`, low > 0 for `log_uniform`."""
    number = int if kind == "int" else (int, float)
    if len(values) != 2 or any(isinstance(v, bool) or not isinstance(v, number) for v in values):
        what = "whole numbers" if kind == "int" else "numbers"
        raise ValueError(f"{kind}: give [low, high], two {what} (got {shorten(values)})")
    low, high = values
    if not low < high:
        raise ValueError(f"{kind}: the range is empty, low must be below high (got {values})")
    if kind == "log_uniform" and low <= 0:
        raise ValueError(f"log_uniform: low must be above 0 (got {values})")
    return low, high


def written(dimension: Dimension) -> dict[str, list[Scalar]]:
    return {dimension.kind: list(dimension.values)}


SpaceEntry = Annotated[Dimension, PlainValidator(parse_dimension), PlainSerializer(written)]


class TuneSection(Section):
    """Hyper-parameter search for `toolkit tune` (Optuna); `toolkit run` ignores it."""

    space: dict[str, SpaceEntry] = Field(
        min_length=1,
        description="Recipe key -> {uniform|log_uniform|int: [low, high]} or {choice: [...]}, "
        "e.g. train.learning_rate: {log_uniform: [1.0e-5, 3.0e-4]}.",
    )
    metric: str | None = Field(
        None,
        description="Validation metric to optimise; default: the task's first validation metric "
        "(loss when it has none). `loss` is minimised, every other metric maximised.",
    )
    pruner: Literal["median", "threshold", "none"] = Field(
        "median",
        description="Stop unpromising trials at an evaluation (needs train.eval_every): median "
        "(worse than the median of earlier trials at the same step), threshold, or none.",
    )
    startup_trials: int = Field(
        5, ge=0, description="median: trials that finish before any trial is pruned."
    )
    warmup_steps: int = Field(
        0, ge=0, description="median: training steps of a trial before it may be pruned."
    )
    threshold: float | None = Field(
        None,
        description="threshold: prune a trial whose metric at an evaluation is worse than this "
        "(below it, or above it for loss).",
    )
    heartbeat: int = Field(
        60,
        ge=1,
        description="Seconds between a running trial's heartbeats; a trial not heard from for "
        "twice this long (its worker was killed) is marked failed and run again.",
    )

    @model_validator(mode="after")
    def _threshold_given(self) -> TuneSection:
        if (self.pruner == "threshold") != (self.threshold is not None):
            raise ValueError("pruner: threshold needs tune.threshold, and only it uses one")
        return self

    @model_validator(mode="wrap")
    @classmethod
    def _against_recipe(cls, value: object, handler, info: ValidationInfo) -> TuneSection:
        """Check the keys and metric against the recipe's other sections. `tune` is the recipe's
        last field, so pydantic has validated those already and hands them over as `info.data`
        (None when the section is validated on its own; a section that failed is absent)."""
        section = handler(value)
        if info.data:
            errors = [*space_errors(section.space, info.data), *metric_errors(section, info.data)]
            if errors:
                raise CoreValidationError.from_exception_data("tune", errors)
        return section

    def objective_metric(self, task_metrics: tuple[str, ...]) -> str:
        """The metric trials are compared on."""
        return self.metric or (task_metrics[0] if task_metrics else "loss")

    def maximise(self, task_metrics: tuple[str, ...]) -> bool:
        return self.objective_metric(task_metrics) != "loss"


def error(loc: tuple[str, ...], message: str) -> InitErrorDetails:
    """A pydantic error at `tune.<loc>` whose message is `message` as is (no formatting)."""
    return {"type": PydanticCustomError("tune", "{reason}", {"reason": message}), "loc": loc,
            "input": None}  # fmt: skip


def space_errors(space: Mapping[str, Dimension], recipe: Mapping[str, object]) -> list:
    found = []
    for key, dimension in space.items():
        place = locate(key, recipe)
        problem = place if isinstance(place, str) else first_invalid(key, dimension, *place)
        if problem is not None:
            found.append(error(("space", key), problem))
    return found


def locate(key: str, recipe: Mapping[str, object]) -> tuple[BaseModel, str] | str:
    """The section that holds `key` and the key's last part; or why there is none."""
    *path, leaf = key.split(".")
    if not path or path[0] in UNTUNABLE:
        return f"{key!r} cannot be tuned: name a key inside a section, e.g. train.learning_rate"
    node: object = recipe
    for depth, part in enumerate(path):
        node = child(node, part, ".".join(path[: depth + 1]))
        if isinstance(node, str):
            return node
    known = list(type(node).model_fields)
    return (node, leaf) if leaf in known else unknown(key, leaf, known)


def child(node: object, part: str, where: str) -> object:
    """The section `part` of `node` (the recipe or a section), or a message saying why not."""
    fields = list(node) if isinstance(node, Mapping) else list(type(node).model_fields)
    if part not in fields:
        return unknown(where, part, fields)
    found = node[part] if isinstance(node, Mapping) else getattr(node, part)
    if found is None:
        return f"{where} is not set in the recipe; set it there to tune a key inside it"
    if not isinstance(found, BaseModel):
        return f"{where} is not a section"
    return found


def unknown(where: str, part: str, known: list[str]) -> str:
    hint = difflib.get_close_matches(part, known, n=1, cutoff=0.6)
    head = where.rsplit(".", 1)[0] + "." if "." in where else ""
    guess = f"did you mean '{head}{hint[0]}'?" if hint else f"known here: {', '.join(known)}"
    return f"unknown recipe key '{where}'; {guess}"


def first_invalid(key: str, dimension: Dimension, owner: BaseModel, leaf: str) -> str | None:
    """Why a candidate value is refused by the key it would be set to, or None: each is assigned
    to a copy of the section, so the key's own validators (and the section's) judge it."""
    for value in dimension.candidates():
        trial = owner.model_copy()
        try:
            setattr(trial, leaf, value)
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
            return f"{shorten(value)} ({dimension.kind}) is not a valid {key}: {reason}"
    return None


def metric_errors(section: TuneSection, recipe: Mapping[str, object]) -> list:
    task = recipe.get("task")
    if section.metric is None or task is None:
        return []
    known = [*get_task(task.name).validation_metrics, "loss"]
    if section.metric in known:
        return []
    hint = difflib.get_close_matches(section.metric, known, n=1, cutoff=0.6)
    guess = f"did you mean {hint[0]!r}? " if hint else ""
    message = f"{shorten(section.metric)} is not a validation metric of {task.name}; {guess}"
    return [error(("metric",), message + f"(use one of {', '.join(known)})")]
