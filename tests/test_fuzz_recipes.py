"""Property-based fuzzing of `toolkit validate`: every shipped recipe, mutated (keys deleted,
values of the wrong type, huge numbers, unicode, nested junk, strings where sections belong) and
given random `--set` overrides, must end with exit 0 or a clean one- or two-line error (exit 2),
without a traceback and in bounded time. Derandomized, so CI sees the same examples each run."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from toolkit.cli import app

RECIPES = sorted(Path(__file__).resolve().parent.parent.joinpath("recipes").glob("*.yaml"))
SECONDS_PER_EXAMPLE = 5.0
FUZZ = settings(
    max_examples=40,
    deadline=None,  # the time bound is asserted per example below (the first one imports)
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([0, -1, 2**63, 10**400, 1e308, float("inf"), float("nan"), -0.0]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["", " ", "../../etc", "a" * 5000, "\u202e\u0000x", "~", "{}", "[", "null"]),
)
junk = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def paths_of(node, prefix=()) -> list[tuple]:
    """Every key path in a recipe tree (list items by index)."""
    found = [prefix] if prefix else []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        found += paths_of(value, (*prefix, key))
    return found


def mutate(tree, path: tuple, action: str, value) -> None:
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "section-as-string":
        parent[key] = "not a section"
    elif action == "add-key" and isinstance(parent[key], dict):
        parent[key]["unknown_key_" + str(value)[:10]] = value
    else:
        parent[key] = value


@st.composite
def mutated_recipes(draw):
    recipe = draw(st.sampled_from(RECIPES))
    tree = yaml.safe_load(recipe.read_text())
    for _ in range(draw(st.integers(1, 3))):
        paths = paths_of(tree)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["delete", "replace", "section-as-string", "add-key"]))
        mutate(tree, path, action, draw(junk))
    keys = [".".join(map(str, p)) for p in paths_of(tree)] or ["train.epochs"]
    override_key = st.one_of(st.sampled_from(keys), st.text(max_size=20))
    override = st.builds(lambda k, v: f"{k}={v}", override_key, st.text(max_size=30))
    return recipe.name, tree, draw(st.lists(override, max_size=2))


def check_validate(text: str, overrides: list[str], bound: float = SECONDS_PER_EXAMPLE) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "recipe.yaml"
        path.write_bytes(text.encode("utf-8"))
        args = ["validate", str(path)] + [f"--set={item}" for item in overrides]
        started = time.monotonic()
        result = CliRunner().invoke(app, args)
        elapsed = time.monotonic() - started
        output = result.output
        assert result.exit_code in (0, 2), (result.exit_code, output, result.exception)
        assert result.exception is None or isinstance(result.exception, SystemExit), output
        assert "Traceback" not in output, output
        assert 1 <= len(output.strip().splitlines()) <= 2, output
        assert output.startswith("ok  " if result.exit_code == 0 else "error: "), output
        assert len(output) < 2000, output[:300]
        assert path.read_bytes() == text.encode("utf-8")  # the recipe is only read
        assert elapsed < bound, elapsed


def test_validate_warms_up():
    """The first validate imports the libraries; later ones must each be quick."""
    check_validate(RECIPES[0].read_text(encoding="utf-8"), [], bound=120)


@FUZZ
@given(mutated_recipes())
def test_mutated_recipes_validate_cleanly(case):
    _, tree, overrides = case
    check_validate(yaml.safe_dump(tree, allow_unicode=True), overrides)


@FUZZ
@given(st.text(max_size=200), st.lists(st.text(max_size=30), max_size=2))
def test_any_text_validates_cleanly(text, overrides):
    check_validate(text, overrides)
