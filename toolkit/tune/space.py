"""A trial's recipe: the base recipe with values Optuna suggests for the `tune.space` keys, set
through the same override path as `--set`, and validated like any recipe."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from toolkit.recipe.load import apply_override, load_recipe, recipe_text, validate_recipe
from toolkit.recipe.schema import Recipe
from toolkit.recipe.tune import Dimension, Scalar
from toolkit.recipe.yaml_guard import parse_yaml

if TYPE_CHECKING:
    import optuna


def suggest(trial: optuna.Trial, space: Mapping[str, Dimension]) -> dict[str, Scalar]:
    """One value per key, each named by its recipe key in Optuna's parameters."""
    return {key: suggest_one(trial, key, dimension) for key, dimension in space.items()}


def suggest_one(trial: optuna.Trial, key: str, dimension: Dimension) -> Scalar:
    if dimension.kind == "choice":
        return trial.suggest_categorical(key, list(dimension.values))
    low, high = dimension.values
    if dimension.kind == "int":
        return trial.suggest_int(key, int(low), int(high))
    return trial.suggest_float(key, float(low), float(high), log=dimension.kind == "log_uniform")


def base_recipe(path: Path, overrides: list[str] | None = None) -> tuple[dict, Recipe]:
    """The recipe file as written plus the `--set` overrides (what trials start from, so that a
    trial's or the best recipe reads like the user's), and that recipe loaded and checked."""
    recipe = load_recipe(path, overrides)  # every check and message of the loader
    raw = parse_yaml(recipe_text(path), str(path))
    for override in overrides or []:
        apply_override(raw, override)
    return raw, recipe


def trial_raw(base: dict, params: Mapping[str, Scalar], out_dir: Path | str) -> dict:
    """`base` with `params` set and writing to `out_dir`, through the same path as `--set`;
    without the tune section, so that a trial, or the best recipe, is a plain run."""
    raw = copy.deepcopy(base)
    raw.pop("tune", None)
    for key, value in {**params, "output.dir": str(out_dir)}.items():
        apply_override(raw, f"{key}={yaml_text(value)}")
    return raw


def trial_recipe(
    base: dict, params: Mapping[str, Scalar], out_dir: Path | str, source: str = "recipe"
) -> Recipe:
    return validate_recipe(trial_raw(base, params, out_dir), source)


def yaml_text(value: Scalar) -> str:
    """`value` as YAML that reads back as the same value (1.0e-05 stays a float, "3" a string)."""
    return yaml.safe_dump(value, default_flow_style=True).removesuffix("...\n").strip()


def check_candidates(base: dict, space: Mapping[str, Dimension], source: str) -> None:
    """Every candidate value (range ends, a value between, each choice) makes a valid recipe,
    checked before any trial runs; the schema checked each key alone, this the whole recipe."""
    out_dir = base.get("output", {}).get("dir", "")
    for key, dimension in space.items():
        for value in dimension.candidates():
            trial_recipe(base, {key: value}, out_dir, f"{source}: tune.space.{key}")
