"""`toolkit augment`: read a table, run the augmentation pipeline, write the result atomically.

Steps come from the command line (`--method` and `--step KEY=VALUE`, validated by the same pydantic
classes as a recipe step) or from a recipe's `augment` section, whose task then also says which
columns are edited (e.g. only the source side of translation pairs, QA contexts with answers
re-anchored).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, get_origin

import yaml
from pydantic import TypeAdapter, ValidationError

from toolkit.augment.pipeline import Summary, augment_rows, check_rows
from toolkit.augment.views import View, column_view
from toolkit.data import Where, load_table, require_columns
from toolkit.errors import ToolkitError

WRITERS = (".csv", ".jsonl", ".json", ".parquet")
CLI_DEFAULTS = {"n": 2}  # where `toolkit augment` differs from a recipe step: 2 variants a row


def cli_step(method: str, pairs: list[str], n: int | None = None) -> Any:
    """The augment step of `--method M --step KEY=VALUE ... -n N`, validated by the recipe's step
    classes and described as a recipe's errors are. A value is read as YAML (as `--set` reads
    it); a list key takes one item or a YAML list, and may be repeated to add more."""
    from toolkit.recipe.augment import AugmentStep, step_section_for
    from toolkit.recipe.describe import describe_method, describe_step_error

    section = step_section_for(method)
    if section is None:
        raise ToolkitError(f"--method: {describe_method({'method': method})}")
    given: dict[str, Any] = {}
    for pair in pairs:
        key, value = parse_pair(pair)
        field = section.model_fields.get(key)
        if field is not None and get_origin(field.annotation) is list:
            value = [*given.get(key, []), *(value if isinstance(value, list) else [value])]
        given[key] = value
    if "method" in given:
        raise ToolkitError("--step method: give the method with --method")
    given = {"method": method, **CLI_DEFAULTS, **given}
    if n is not None:
        given["n"] = n
    try:
        return TypeAdapter(AugmentStep).validate_python(given)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "--step" if len(err["loc"]) > 1 else f"--method {method}"
        raise ToolkitError(f"{where}: {describe_step_error(err)}") from None


def parse_pair(pair: str) -> tuple[str, Any]:
    key, sep, text = pair.partition("=")
    if not sep or not key.strip():
        raise ToolkitError(f"--step {pair!r}: expected KEY=VALUE, e.g. p=0.3")
    try:
        return key.strip(), yaml.safe_load(text)
    except yaml.YAMLError:
        return key.strip(), text


def default_out(source: Path) -> Path:
    suffix = source.suffix if source.suffix.lower() in WRITERS else ".jsonl"
    return source.with_name(f"{source.stem}.augmented{suffix}")


def check_paths(source: Path, out: Path) -> None:
    if out.suffix.lower() not in WRITERS:
        raise ToolkitError(f"--out: {out} must end in one of {', '.join(WRITERS)}")
    if out.resolve() == source.resolve():
        raise ToolkitError(f"--out: {out} is the input file; give another path")


def read_rows(spec: Path, view: View, where: str) -> list[dict]:
    """The rows of a table (a saved DatasetDict: its train split), the view's columns checked."""
    table = load_table(str(spec), where)
    if hasattr(table, "keys"):
        if "train" not in table:
            raise ToolkitError(f"{where}: {spec} has no 'train' split (it has {', '.join(table)})")
        table = table["train"]
    needed = [slot.column for slot in view.inputs + view.targets]
    require_columns(table, list(dict.fromkeys(needed)), f"{where} {spec}")
    return table.to_list()


def held_out_texts(files: list[Path], view: View) -> list[str]:
    """The texts of held-out files (the view's first input column), for near-duplicate checks."""
    texts = []
    for path in files:
        texts += [view.inputs[0].get(row) or "" for row in read_rows(path, view, "--held-out")]
    return texts


def recipe_plan(recipe_path: Path, overrides: list[str]) -> tuple[View, list, int, list[Path]]:
    """View, steps, seed and held-out files of a recipe."""
    from toolkit.recipe.load import load_recipe
    from toolkit.tasks.registry import task_for

    recipe = load_recipe(recipe_path, overrides)
    if not recipe.augment:
        raise ToolkitError(f"{recipe_path}: the recipe has no augment section")
    held = [Path(p) for p in (recipe.data.validation, recipe.data.test) if p and Path(p).exists()]
    return task_for(recipe).augment_view(), list(recipe.augment), recipe.train.seed, held


def augment_file(
    source: Path,
    out: Path | None,
    plan: tuple[View, list, int, list[Path]],
    originals: bool = True,
    use_cache: bool = True,
) -> tuple[Summary, Path]:
    """Augment `source` by the plan (view, steps, seed, held-out files) and write `out`."""
    view, steps, seed, held_files = plan
    out = out or default_out(source)
    check_paths(source, out)
    rows = read_rows(source, view, "input")
    check_rows(rows, view, steps, Where(f"input {source}", str(source)))
    held = held_out_texts(held_files, view)
    result, summary = augment_rows(rows, view, steps, seed, held, originals, use_cache)
    write_atomically(result, out)
    return summary, out


def cli_plan(step: Any, column: str, label_column: str, seed: int, held: list[Path]):
    """View, steps, seed and held-out files of one command-line step (the label column is
    needed only to check variants with the step's filter_model)."""
    return column_view(column, label_column if step.filter_model else None), [step], seed, held


def write_atomically(rows: list[dict], out: Path) -> None:
    """Write next to the target, then rename: no partial output file ever exists."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        suffix = out.suffix.lower()
        if suffix == ".csv":
            frame.to_csv(tmp, index=False)
        elif suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            frame.to_json(tmp, orient="records", lines=suffix == ".jsonl", force_ascii=False)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
