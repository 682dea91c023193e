"""`load_recipe`: a YAML file plus `--set a.b=c` overrides, merged, then validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from toolkit.errors import ToolkitError, shorten
from toolkit.recipe.describe import describe_error
from toolkit.recipe.schema import Recipe
from toolkit.recipe.yaml_guard import parse_yaml


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe YAML, apply `a.b=c` overrides, validate.

    Raises:
        ToolkitError: with a message naming the file, line or key at fault.
    """
    path = Path(path)
    raw = parse_yaml(recipe_text(path), str(path))
    if raw is None:
        raise ToolkitError(f"{path}: the recipe is empty (no sections: model, task, data, ...)")
    if not isinstance(raw, dict):
        kind = type(raw).__name__
        raise ToolkitError(
            f"{path}: a recipe must be a mapping of sections (model, data, ...), not a {kind}"
        )
    for override in overrides or []:
        apply_override(raw, override)
    return validate_recipe(raw, source=str(path))


def recipe_text(path: Path) -> str:
    """The recipe file's text; a missing file, a directory or bytes that are not UTF-8 text
    are refused in one line naming the file."""
    if path.is_dir():
        raise ToolkitError(f"{path}: is a directory, not a recipe file")
    if not path.is_file():
        raise ToolkitError(f"{path}: recipe file not found")
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ToolkitError(
            f"{path}: not a text recipe (bytes that are not UTF-8 at offset {exc.start})"
        ) from None
    except OSError as exc:
        raise ToolkitError(f"{path}: cannot read the recipe ({exc.strerror or exc})") from None


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set `a.b.c=value` in a nested dict; the value is parsed as YAML (so 1, true, null work)."""
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise ToolkitError(f"--set {shorten(override)}: expected KEY=VALUE, e.g. train.epochs=1")
    parts = key.strip().split(".")
    if any(not part for part in parts):
        raise ToolkitError(f"--set {shorten(key)}: a key is names joined by dots (train.epochs)")
    node = raw
    for part in parts[:-1]:
        if node.get(part) is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, dict):
            raise ToolkitError(f"--set {shorten(key)}: {shorten(part)} is not a section")
    try:
        node[parts[-1]] = parse_yaml(value, f"--set {shorten(key)}")
    except ToolkitError as exc:
        if "YAML syntax error" not in str(exc):
            raise
        node[parts[-1]] = value


def validate_recipe(raw: dict[str, Any], source: str = "recipe") -> Recipe:
    try:
        return Recipe.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors()
        lines = [f"{source}: {describe_error(err)}" for err in errors[:2]]  # two lines at most
        more = f" (and {len(errors) - 2} more)" if len(errors) > 2 else ""
        raise ToolkitError("\n".join(lines) + more) from None
