"""Every shipped recipe validates; the CLI starts without heavy imports; overrides merge."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from toolkit.cli import app
from toolkit.errors import ToolkitError
from toolkit.recipe.load import load_recipe

RECIPES = sorted((Path(__file__).resolve().parent.parent / "recipes").glob("*.yaml"))


def test_there_are_recipes():
    assert {p.name for p in RECIPES} >= {
        "sentiment_bert.yaml",
        "sentiment_gpt2.yaml",
        "sentiment_t5.yaml",
    }


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_shipped_recipe_validates(path, runner):
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    recipe = load_recipe(path)
    assert recipe.output.dir.startswith("runs/")


def test_help_imports_no_torch():
    code = (
        "import sys; from typer.testing import CliRunner; from toolkit.cli import app;"
        "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output;"
        "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules];"
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_validate_explain_lists_every_section(runner):
    result = runner.invoke(app, ["validate", "--explain"])
    assert result.exit_code == 0
    for key in (
        "model.name",
        "task[classification|sentiment|text-classification].text_column",
        "regularization.dropout",
        "train.precision",
        "output.dir",
    ):
        assert key in result.output


def test_overrides_are_typed_and_nested(tmp_path):
    path = Path(__file__).resolve().parent.parent / "recipes" / "sentiment_bert.yaml"
    sets = ["train.epochs=1", "train.group_by_length=false", "regularization.early_stopping=null"]
    sets.append("train.eval_every=no")  # YAML reads a bare `no` as false
    recipe = load_recipe(path, [*sets, "task.labels=[negative, positive]"])
    assert recipe.train.epochs == 1 and recipe.train.group_by_length is False
    assert recipe.regularization.early_stopping is None and recipe.train.eval_every == "no"
    assert recipe.task.labels == ["negative", "positive"]
    with pytest.raises(ToolkitError, match="not a section"):
        load_recipe(path, ["train.epochs.x=1"])


def test_resolved_recipe_round_trips(tmp_path):
    path = Path(__file__).resolve().parent.parent / "recipes" / "sentiment_bert.yaml"
    recipe = load_recipe(path, ["train.seed=3"])
    saved = tmp_path / "resolved.yaml"
    saved.write_text(recipe.to_yaml())
    assert load_recipe(saved) == recipe


def test_the_recipe_task_union_is_the_registered_tasks():
    from typing import get_args

    from toolkit.recipe.schema import TaskSection
    from toolkit.tasks.registry import TASKS, get_task, names_of

    union = get_args(get_args(TaskSection)[0])
    assert set(union) == {task.Settings for task in TASKS}
    for task in TASKS:  # every name (aliases too) finds its own task, with its own section
        assert all(get_task(name) is task for name in names_of(task))
