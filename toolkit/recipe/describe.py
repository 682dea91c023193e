"""Recipe errors in the user's words: one line per pydantic error, naming the key, with a
did-you-mean for unknown keys, methods and tasks; and `toolkit validate --explain`'s key table."""

from __future__ import annotations

import difflib
from typing import Any

from pydantic import BaseModel

from toolkit.errors import shorten
from toolkit.recipe.augment import method_names, step_section_for
from toolkit.recipe.schema import Recipe, task_names, task_section_for
from toolkit.tasks.registry import TASKS, names_of


def describe_error(err: dict[str, Any]) -> str:
    """One line per pydantic error, with a did-you-mean hint for unknown keys."""
    loc = [key_part(part) for part in err["loc"]]
    if loc[:1] == ["task"] and len(loc) > 1 and task_section_for(loc[1]):
        del loc[1]  # pydantic puts the task's name into the path; users never write it
    if loc[:1] == ["augment"] and len(loc) > 1:  # inside one step
        return describe_step_error({**err, "loc": err["loc"][2:]}, where=tuple(loc[:2]))
    key = ".".join(loc)
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        given = err["input"].get("name") if isinstance(err.get("input"), dict) else None
        hint = difflib.get_close_matches(str(given)[:100], task_names(), n=1, cutoff=0.6)
        head = f"unknown task {shorten(given)}" if given else "missing required key 'task.name'"
        guess = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"task.name: {head}{guess} (known tasks: {', '.join(task_names())})"
    if err["type"] == "extra_forbidden":
        known = known_keys(loc[:-1], task_name=str(err["loc"][1]) if len(err["loc"]) > 2 else None)
        hint = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        suggestion = f"did you mean '{'.'.join([*loc[:-1], hint[0]])}'?" if hint else ""
        listing = f"known keys here: {', '.join(known)}"
        return f"unknown key '{key}'{other_tasks_key(loc)}; " + (suggestion or listing)
    return describe_value(err, key)


def other_tasks_key(loc: list[str]) -> str:
    """' (a key of classification only)' for a task key that another task reads, else ''."""
    if len(loc) != 2 or loc[0] != "task":
        return ""
    owners: dict[type, str] = {}
    for name in task_names():  # aliases share a settings class: name it once
        section = task_section_for(name)
        if section is not None and loc[1] in section.model_fields:
            owners.setdefault(section, name)
    return f" (a key of {', '.join(owners.values())} only)" if owners else ""


def describe_step_error(err: dict[str, Any], where: tuple[str, ...] = ()) -> str:
    """describe_error for an error inside one augment step, `loc` relative to the step; `where`
    is the step's place (('augment', '0') in a recipe, none for `toolkit augment --step`)."""
    loc = [key_part(part) for part in err["loc"]]
    method = loc.pop(0) if loc and step_section_for(loc[0]) else None  # pydantic's, not the user's
    key = ".".join([*where, *loc])
    if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
        return f"{'.'.join([*where, 'method'])}: {describe_method(err.get('input'))}"
    if err["type"] == "extra_forbidden" and method is not None:
        known = list(step_section_for(method).model_fields)
        hint = difflib.get_close_matches(loc[-1], known, n=1, cutoff=0.6)
        suggestion = f"did you mean {hint[0]!r}?" if hint else f"its keys: {', '.join(known)}"
        owners = [m for m in method_names() if loc[-1] in step_section_for(m).model_fields]
        owned = f" (a key of {', '.join(owners)})" if owners else ""
        return f"unknown key '{key}' for method {method!r}{owned}; {suggestion}"
    return describe_value(err, key)


def describe_value(err: dict[str, Any], key: str) -> str:
    """A missing key, or a value the schema refuses, with the value given."""
    if err["type"] == "missing":
        return f"missing required key '{key}'"
    message = err["msg"].removeprefix("Value error, ")
    message = message if len(message) <= 300 else message[:297] + "..."
    got = err.get("input")
    shown = f" (got {shorten(got)})" if got is not None and not isinstance(got, dict) else ""
    return f"'{key}': {message}{shown}" if key else f"{message}{shown}"


def describe_method(step: object) -> str:
    """The unknown-or-missing augment method message, with a did-you-mean."""
    given = step.get("method") if isinstance(step, dict) else None
    if given is None:
        return f"missing (known methods: {', '.join(method_names())})"
    hint = difflib.get_close_matches(str(given)[:100], method_names(), n=1, cutoff=0.6)
    guess = f"; did you mean {hint[0]!r}?" if hint else ""
    return f"unknown method {shorten(given)}{guess} (known: {', '.join(method_names())})"


def key_part(part: object) -> str:
    """One step of an error's key path, cut so that a huge key cannot make a huge message."""
    text = str(part)[:100]
    text = text if text.isprintable() else text.encode("unicode_escape").decode("ascii")
    return text if len(text) <= 40 else f"{text[:37]}..."


def known_keys(loc: list[str], task_name: str | None = None) -> list[str]:
    """Field names of the section at `loc` (e.g. ['train'] → TrainSection's fields)."""
    model: type[BaseModel] = Recipe
    for part in loc:
        field = model.model_fields.get(part)
        if part == "task" and model is Recipe:
            model = task_section_for(task_name or "") or TASKS[0].Settings
            continue
        annotation = getattr(field, "annotation", None)
        candidates = [annotation, *getattr(annotation, "__args__", ())]
        nested = [c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)]
        if not nested:
            return []
        model = nested[0]
    return list(model.model_fields)


def explain(model: type[BaseModel] = Recipe, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, description) for every setting, for `toolkit validate --explain`."""
    rows = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        if model is Recipe and name == "task":
            for task in TASKS:
                rows.extend(explain(task.Settings, f"task[{'|'.join(names_of(task))}]."))
            continue
        annotation = field.annotation
        nested = [
            a for a in (annotation, *getattr(annotation, "__args__", ())) if isinstance(a, type)
        ]
        section = next((a for a in nested if issubclass(a, BaseModel)), None)
        if section is not None:
            rows.extend(explain(section, key + "."))
            continue
        default = "required" if field.is_required() else repr(field.default)
        rows.append((key, default, field.description or ""))
    return rows
