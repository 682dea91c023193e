"""`toolkit augment`: read a table, run the augmentation pipeline, write the result atomically.

Steps come from the command line (one method and its options, validated by the same pydantic
classes as a recipe step) or from a recipe's `augment` section, whose task then also says which
columns are edited (e.g. only the source side of translation pairs, QA contexts with answers
re-anchored).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter, ValidationError

from toolkit.augment.pipeline import Summary, augment_rows, check_rows
from toolkit.augment.views import View, column_view, view_for
from toolkit.data import load_table, require_columns
from toolkit.errors import ToolkitError

WRITERS = (".csv", ".jsonl", ".json", ".parquet")


def step_from_options(options: dict[str, Any]) -> Any:
    """A validated augment step from CLI options (None means not given)."""
    from toolkit.recipe_augment import AugmentStep, method_names, step_section_for

    given = {k: v for k, v in options.items() if v is not None and v != []}
    section = step_section_for(given.get("method", ""))
    if section is None:
        from toolkit.augment import check_method

        check_method(given.get("method", ""))  # raises with a did-you-mean
    try:
        return TypeAdapter(AugmentStep).validate_python(given)
    except ValidationError as exc:
        err = exc.errors()[0]
        option = "--" + str(err["loc"][-1]).replace("_", "-") if len(err["loc"]) > 1 else ""
        if err["type"] == "extra_forbidden":
            raise ToolkitError(
                f"{option} does not apply to --method {given['method']} (methods: "
                f"{', '.join(method_names())})"
            ) from None
        message = err["msg"].removeprefix("Value error, ")
        raise ToolkitError(f"{option or '--method ' + given['method']}: {message}") from None


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
    from toolkit.recipe import load_recipe

    recipe = load_recipe(recipe_path, overrides)
    if not recipe.augment:
        raise ToolkitError(f"{recipe_path}: the recipe has no augment section")
    held = [Path(p) for p in (recipe.data.validation, recipe.data.test) if p and Path(p).exists()]
    return view_for(recipe.task), list(recipe.augment), recipe.train.seed, held


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
    check_rows(rows, view, steps, f"input {source}")
    held = held_out_texts(held_files, view)
    result, summary = augment_rows(rows, view, steps, seed, held, originals, use_cache)
    write_atomically(result, out)
    return summary, out


def cli_plan(step: Any, column: str, label_column: str | None, seed: int, held: list[Path]):
    return column_view(column, label_column), [step], seed, held


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
