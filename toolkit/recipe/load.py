"""`load_recipe`: a YAML file plus `--set a.b=c` overrides, merged, then validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from toolkit.errors import ToolkitError
from toolkit.recipe.describe import describe_error
from toolkit.recipe.schema import Recipe


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe YAML, apply `a.b=c` overrides, validate.

    Raises:
        ToolkitError: with a message naming the file, line or key at fault.
    """
    path = Path(path)
    if not path.is_file():
        raise ToolkitError(f"{path}: recipe file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ToolkitError(f"{path}:{where}: YAML syntax error: {problem}") from None
    if not isinstance(raw, dict):
        raise ToolkitError(f"{path}: a recipe must be a mapping of sections (model, data, ...)")
    for override in overrides or []:
        apply_override(raw, override)
    return validate_recipe(raw, source=str(path))


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set `a.b.c=value` in a nested dict; the value is parsed as YAML (so 1, true, null work)."""
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise ToolkitError(f"--set {override!r}: expected KEY=VALUE, e.g. train.epochs=1")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ToolkitError(f"--set {override!r}: {part!r} is not a section")
    try:
        node[parts[-1]] = yaml.safe_load(value)
    except yaml.YAMLError:
        node[parts[-1]] = value


def validate_recipe(raw: dict[str, Any], source: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{source}: {describe_error(err)}" for err in exc.errors()]
        raise ToolkitError("\n".join(lines[:5])) from None
