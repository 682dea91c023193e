"""The `toolkit` command line. Each command parses its arguments and calls one function.

Heavy libraries (torch, transformers, datasets) are imported inside the commands, so
`toolkit --help` stays fast.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from toolkit.errors import ToolkitError

app = typer.Typer(
    help="Fine-tune BERT-, GPT-2- and T5-family models from a YAML recipe.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


def friendly_errors(command):
    """Turn ToolkitError into a one- or two-line message and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ToolkitError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def quiet_libraries() -> None:
    """Keep transformers/datasets chatter (load reports, cache notices) out of the user's way."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()


@app.command()
@friendly_errors
def run(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML file.")],
    set_: Annotated[
        Optional[list[str]],  # noqa: UP045  (typer needs Optional on 3.10)
        typer.Option(
            "--set", help="Override a recipe key, e.g. --set train.epochs=1 (repeatable)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Show what would run; train nothing.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
) -> None:
    """Train and evaluate a model as the recipe says."""
    from toolkit.recipe import load_recipe

    resolved = load_recipe(recipe, set_)
    quiet_libraries()
    from toolkit.train import run as run_recipe

    run_recipe(resolved, overwrite=overwrite, dry_run=dry_run)


@app.command()
@friendly_errors
def validate(
    recipes: Annotated[Optional[list[Path]], typer.Argument(help="Recipe YAML files.")] = None,  # noqa: UP045
    set_: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option("--set", help="Override a recipe key before validating (repeatable)."),
    ] = None,
    explain: Annotated[
        bool, typer.Option(help="List every recipe key with its default and meaning.")
    ] = False,
) -> None:
    """Check recipes against the schema, and the task against the model family when the
    checkpoint's config is at hand (a local directory or the hub cache); no weights or data."""
    from toolkit.recipe import explain as explain_rows
    from toolkit.recipe import load_recipe
    from toolkit.tasks import get_task

    if explain:
        for key, default, description in explain_rows():
            typer.echo(f"{key:36} {default:14} {description}")
    if not recipes and not explain:
        raise ToolkitError("validate: give at least one recipe file (or --explain)")
    for path in recipes or []:
        recipe = load_recipe(path, set_)
        task = get_task(recipe.task.name)(recipe)
        family = cached_family(recipe.model)
        if family is not None:
            task.head(family)  # raises with the reason and the alternative
        checked = "" if family is not None else " (model not available here: family not checked)"
        typer.echo(f"ok  {path}{checked}")


def cached_family(model_section):
    """The model family from the checkpoint's config: local or cached first, then (unless
    HF_HUB_OFFLINE is set) the hub, which sends only config.json; None when unreachable."""
    from huggingface_hub import constants
    from huggingface_hub.utils import logging as hub_logging

    from toolkit.models import FAMILIES, family_of, load_config

    hub_logging.set_verbosity_error()  # an unreachable hub is reported once, below, not per retry

    if model_section.scratch is not None:  # built at run time; its family is known already
        return FAMILIES[model_section.scratch.model_type]
    attempts = [{"local_files_only": True}] + ([] if constants.HF_HUB_OFFLINE else [{}])
    for extra in attempts:
        try:
            config = load_config(model_section.name, {**model_section.source(), **extra})
        except ToolkitError:
            continue
        return family_of(config, model_section.name)
    return None


@app.command(name="eval")
@friendly_errors
def eval_(
    target: Annotated[
        Path, typer.Argument(help="Run directory, or a model directory with --recipe.")
    ],
    split: Annotated[str, typer.Option(help="Held-out split recorded by the run.")] = "test",
    data: Annotated[
        str | None, typer.Option(help="Score this file instead (recipe's columns).")
    ] = None,  # noqa: UP045
    recipe: Annotated[str | None, typer.Option(help="Recipe, for a bare model directory.")] = None,  # noqa: UP045
    batch_size: Annotated[int, typer.Option(min=1, help="Evaluation batch size.")] = 128,
) -> None:
    """Score a trained model on a held-out split or file (accuracy, macro-F1, per class)."""
    quiet_libraries()
    from toolkit import report
    from toolkit.evaluation import evaluate_target

    metrics, out_file = evaluate_target(target, split, data, recipe, batch_size)
    report.print_eval(metrics, title=f"{target} on {data or split}")
    report.console.print(f"written: {out_file}")


@app.command()
@friendly_errors
def augment(
    source: Annotated[Path, typer.Argument(help="Data file (csv, tsv, json, jsonl, parquet).")],
    out: Annotated[Path, typer.Option(help="Output file: csv, jsonl, json or parquet.")],
    method: Annotated[str, typer.Option(help="synonym, swap, delete or insert.")] = "synonym",
    column: Annotated[str, typer.Option(help="Text column to augment.")] = "text",
    n: Annotated[int, typer.Option(min=1, help="Variants per row.")] = 2,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    p: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of words edited.")] = 0.15,
    originals: Annotated[bool, typer.Option(help="Keep the original rows.")] = True,
) -> None:
    """Write augmented copies of a text column (other columns, e.g. labels, are kept)."""
    quiet_libraries()
    from toolkit.augment.pipeline import augment_file

    summary = augment_file(source, out, method, column, n, seed, p, originals)
    for line in summary.lines():
        typer.echo(line)
    typer.echo(f"written: {out}")


def main() -> None:  # pragma: no cover
    app()
