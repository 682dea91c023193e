"""`toolkit augment`'s step options: every key of every step class reaches the step through
`--step KEY=VALUE`, validated (and its errors described) as a recipe step's are."""

from __future__ import annotations

import json
from typing import Literal, get_args, get_origin

import pytest
from conftest import fails_cleanly, recipe_file, run_ok, toy_rows, write_csv

from toolkit.augment import files
from toolkit.augment.pipeline import Summary
from toolkit.recipe.augment import STEP_SECTIONS, method_names, step_section_for


def other_value(field):
    """A valid value unlike the default, from the field's type alone (so a new field is covered
    without touching this test). Chosen so that all of a class's values hold together: engine
    neural comes with both models, ctranslate2 with int8, source_lang unlike pivot."""
    kind, default = field.annotation, field.default
    options = [a for a in get_args(kind) if a is not type(None)]
    if get_origin(kind) is Literal:
        return next(option for option in options if option != default)
    if kind is bool:
        return not default
    if kind is int:
        return default + 1
    if kind is float:
        return default / 2
    if get_origin(kind) is list:
        return ["ACME", "Tolkien Band"]
    if str in (kind, *options):
        return f"{default or 'some/model'}-x"
    raise AssertionError(f"no test value for a {kind} field; teach other_value about it")


def as_option(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@pytest.fixture
def planned(monkeypatch):
    """Stop `toolkit augment` after the step is built: the plans it would have run."""
    plans = []

    def fake_augment_file(source, out, plan, originals=True, use_cache=True):
        plans.append(plan)
        return Summary(rows_in=0, rows_out=0, steps=[]), out or files.default_out(source)

    monkeypatch.setattr(files, "augment_file", fake_augment_file)
    return plans


@pytest.fixture
def source(tmp_path):
    return write_csv(tmp_path / "toy.csv", toy_rows(5))


@pytest.mark.parametrize("method", method_names())
def test_every_step_key_can_be_set_from_the_command_line(runner, source, planned, method):
    fields = {k: f for k, f in step_section_for(method).model_fields.items() if k != "method"}
    wanted = {key: other_value(field) for key, field in fields.items()}
    options = [
        arg for key, value in wanted.items() for arg in ("--step", f"{key}={as_option(value)}")
    ]
    run_ok(runner, ["augment", str(source), "--method", method, *options])
    [(view, [step], seed, held)] = planned
    assert step.method == method
    assert {key: getattr(step, key) for key in wanted} == wanted


def test_list_keys_take_one_item_or_a_yaml_list_and_add_up(runner, source, planned):
    args = ["--step", "protect=ACME", "--step", "protect=[Tolkien Band, x]", "-n", "3"]
    run_ok(runner, ["augment", str(source), "--method", "typo", *args])
    [(_, [step], _, _)] = planned
    assert step.protect == ["ACME", "Tolkien Band", "x"] and step.n == 3


def test_defaults_are_the_command_lines(runner, source, planned):
    run_ok(runner, ["augment", str(source)])
    run_ok(runner, ["augment", str(source), "--step", "n=4", "--label-column", "stars"])
    [(view, [first], _, _), (view_with_label, [second], _, _)] = planned
    assert (first.method, first.n, second.n) == ("synonym", files.CLI_DEFAULTS["n"], 4)
    assert view_with_label.label_column is None  # the label is read only for filter_model


def test_help_lists_every_key_of_every_method_with_its_description(runner):
    output = " ".join(run_ok(runner, ["augment", "--help"]).split())
    for section in STEP_SECTIONS:
        for key, field in section.model_fields.items():
            assert key == "method" or f"{key}=" in output, key
            if key != "method":
                assert " ".join(field.description.split()[:3]) in output, key
    for method in method_names():
        assert method in output


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--step", "pp=0.3"], ["unknown key 'pp' for method 'synonym'", "did you mean 'p'?"]),
        (["--method", "contextual", "--step", "top-k=3"], ["'contextual'", "did you mean 'top_k'"]),
        (["--step", "pivot=fr"], ["unknown key 'pivot' for method 'synonym'", "back_translation"]),
        (["--method", "back_translation", "--step", "p=0.2"], ["for method 'back_translation'"]),
        (["--method", "synonim"], ["unknown method 'synonim'", "did you mean 'synonym'"]),
        (["--step", "p=lots"], ["--step: 'p':", "valid number"]),
        (["--step", "n=0"], ["'n':", "greater than or equal to 1"]),
        (["--step", "targets=maybe"], ["'targets':", "valid boolean"]),
        (["--step", "protect={a: 1}"], ["'protect.0':", "valid string"]),
        (
            ["--method", "back_translation", "--step", "backend=ct2"],
            ["'backend':", "'ctranslate2'"],
        ),
        (["--method", "back_translation", "--step", "pivot=en"], ["pivot must differ"]),
        (["--step", "p"], ["expected KEY=VALUE"]),
        (["--step", "method=swap"], ["--method"]),
    ],
)
def test_bad_step_keys_and_values_fail_in_one_line(runner, source, tmp_path, args, expected):
    before, out = source.read_bytes(), tmp_path / "out.csv"
    fails_cleanly(runner, ["augment", str(source), "--out", str(out), *args], *expected, lines=1)
    assert source.read_bytes() == before and not out.exists()
    assert not list(tmp_path.glob("toy.augmented*"))


def test_recipe_errors_read_as_before(tmp_path, runner, source):
    recipe = recipe_file(tmp_path, {"name": "sentiment"}, [{"method": "swap", "pivto": "x"}])
    fails_cleanly(
        runner, ["augment", str(source), "--recipe", str(recipe)],
        "unknown key 'augment.0.pivto' for method 'swap'", lines=1,
    )  # fmt: skip
    with_steps = recipe_file(tmp_path, {"name": "sentiment"}, [{"method": "swap"}])
    for extra in (["--step", "p=0.2"], ["-n", "2"]):
        fails_cleanly(
            runner, ["augment", str(source), "--recipe", str(with_steps), *extra], "drop the method"
        )
