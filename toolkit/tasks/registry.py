"""The tasks the toolkit knows: one line per task. The recipe's `task:` section is the union of
their settings classes, so registering a task here is all it takes to make it a recipe choice."""

from __future__ import annotations

from typing import TYPE_CHECKING, get_args

from toolkit.errors import ToolkitError
from toolkit.tasks.base import Task
from toolkit.tasks.classification import Classification
from toolkit.tasks.pretraining import Pretraining
from toolkit.tasks.qa import QuestionAnswering
from toolkit.tasks.text_generation import TextGeneration
from toolkit.tasks.translation import Translation

if TYPE_CHECKING:
    from pydantic import BaseModel

    from toolkit.recipe.schema import Recipe

TASKS: list[type[Task]] = [
    Classification,
    Translation,
    TextGeneration,
    QuestionAnswering,
    Pretraining,
]


def names_of(task: type[Task]) -> tuple[str, ...]:
    """Every name a task answers to: the literal values of its settings' `name` field."""
    return get_args(task.Settings.model_fields["name"].annotation)


def settings_classes() -> tuple[type[BaseModel], ...]:
    return tuple(task.Settings for task in TASKS)


def get_task(name: str) -> type[Task]:
    """The task registered as `name` (canonical or alias); an unknown name lists the known."""
    for task in TASKS:
        if name in names_of(task):
            return task
    known = ", ".join(known_tasks())
    raise ToolkitError(f"task.name: unknown task {name!r} (known tasks: {known})")


def known_tasks() -> list[str]:
    return sorted(name for task in TASKS for name in names_of(task))


def task_for(recipe: Recipe) -> Task:
    """The task object of a recipe, from its validated `task:` section."""
    task = get_task(recipe.task.name)(recipe.task, recipe.train.seed)
    task.label_smoothing = recipe.regularization.label_smoothing  # for a task's own loss
    return task
