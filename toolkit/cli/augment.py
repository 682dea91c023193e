"""`toolkit augment`: its step options are `--step KEY=VALUE` pairs validated by the recipe's
own step classes, and its help lists every method's keys from those classes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperCommand

from toolkit.cli.app import app, friendly_errors, quiet_libraries
from toolkit.errors import ToolkitError


class StepKeysHelp(TyperCommand):
    """Ends `--help` with every augment method's step keys, read from the step classes when help
    is asked for: they never drift from the schema, and `toolkit --help` imports no pydantic."""

    def format_help(self, ctx, formatter):
        super().format_help(ctx, formatter)
        formatter.write(step_keys_help())


def step_keys_help() -> str:
    import json

    from rich.console import Console
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from toolkit.augment.files import CLI_DEFAULTS
    from toolkit.recipe.augment import step_keys

    console = Console()
    with console.capture() as captured:
        for methods, keys in step_keys():
            table = Table.grid(padding=(0, 2))
            for key, default, description in keys:
                default = CLI_DEFAULTS.get(key, default)
                shown = default if isinstance(default, str) else json.dumps(default)
                table.add_row(Text(f"{key}={shown}", style="bold cyan"), Text(description))
            title = f"--step keys: {methods}"
            console.print(Panel(table, title=title, title_align="left", border_style="dim"))
    return captured.get()


@app.command(cls=StepKeysHelp)
@friendly_errors
def augment(
    source: Annotated[Path, typer.Argument(help="Data file (csv, tsv, json, jsonl, parquet).")],
    out: Annotated[
        Path | None,
        typer.Option(help="Output csv/jsonl/json/parquet; default SOURCE.augmented.EXT."),
    ] = None,
    recipe: Annotated[
        Path | None,
        typer.Option(help="Use this recipe's augment steps, task columns and seed."),
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Recipe override KEY=VALUE.")
    ] = None,
    method: Annotated[
        str | None, typer.Option(help="Augmentation method (default synonym; see below).")
    ] = None,
    step: Annotated[
        list[str] | None,
        typer.Option(help="A step key of the method, KEY=VALUE (repeatable; keys below)."),
    ] = None,
    n: Annotated[
        int | None, typer.Option("-n", "--n", help="Variants per row, --step n=N; default 2.")
    ] = None,
    column: Annotated[str, typer.Option(help="Text column to augment.")] = "text",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    label_column: Annotated[
        str, typer.Option(help="Label column (checked by --step filter_model=RUN).")
    ] = "label",
    held_out: Annotated[
        list[Path] | None,
        typer.Option(help="Held-out file: variants nearly duplicating its rows are dropped."),
    ] = None,
    originals: Annotated[bool, typer.Option(help="Keep the original rows.")] = True,
    cache: Annotated[bool, typer.Option(help="Reuse cached results of identical steps.")] = True,
) -> None:
    """Write augmented copies of a table's text (labels and other columns are kept).

    The step: --method M and its keys, --step KEY=VALUE (the value read as YAML, as --set reads it).

    E.g. toolkit augment train.csv --method typo --step p=0.3 --step protect=ACME

    Or a recipe's steps, task columns and seed: toolkit augment train.csv --recipe recipe.yaml
    """
    quiet_libraries()
    from toolkit.augment.files import augment_file, cli_plan, cli_step, recipe_plan

    if recipe is not None and (method is not None or step or n is not None):
        raise ToolkitError(
            "--recipe: the steps come from the recipe; drop the method options (--method, "
            "--step, -n)"
        )
    if recipe is not None:
        plan = recipe_plan(recipe, set_ or [])
        plan = (*plan[:3], plan[3] + list(held_out or []))
    else:
        chosen = cli_step(method or "synonym", step or [], n)
        plan = cli_plan(chosen, column, label_column, seed, held_out or [])
    summary, written = augment_file(source, out, plan, originals, cache)
    for line in summary.lines():
        typer.echo(line)
    typer.echo(f"written: {written}")
