"""Task registry: each task is one small class registered under one or more names."""

from __future__ import annotations

from typing import Any

from toolkit.errors import ToolkitError

TASKS: dict[str, type] = {}


def register(*names: str):
    """Class decorator: make a task available under `names` (first one is canonical)."""

    def add(cls: type) -> type:
        cls.name = names[0]
        for name in names:
            TASKS[name] = cls
        return cls

    return add


def get_task(name: str) -> type:
    """The task class registered as `name`; an unknown name lists the known ones."""
    _load_builtin_tasks()
    if name not in TASKS:
        known = ", ".join(sorted(TASKS))
        raise ToolkitError(f"task.name: unknown task {name!r} (known tasks: {known})")
    return TASKS[name]


def known_tasks() -> list[str]:
    _load_builtin_tasks()
    return sorted(TASKS)


def _load_builtin_tasks() -> Any:
    # noqa: F401 — importing a task module registers its task
    from toolkit.tasks import classification, pretraining, qa, text_generation, translation  # noqa: F401
