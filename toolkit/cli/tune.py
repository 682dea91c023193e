"""`toolkit tune`: hyper-parameter search over a recipe's `tune:` section (Optuna)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolkit.cli.app import app, friendly_errors, quiet_libraries
from toolkit.errors import ToolkitError


@app.command()
@friendly_errors
def tune(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML file with a tune: section.")],
    trials: Annotated[
        int, typer.Option(help="Finished trials (completed or pruned) the study should have.")
    ],
    storage: Annotated[
        str | None,
        typer.Option(
            help="Optuna storage URL shared by several workers, e.g. postgresql://user:pw@host/db "
            "(default: sqlite in the tune directory)."
        ),
    ] = None,
    study: Annotated[
        str | None, typer.Option(help="Study name (default: the tune directory's name).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Tune directory (default: <output.dir>-tune).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Override a recipe key, e.g. --set train.epochs=1 (repeatable)."
        ),
    ] = None,
) -> None:
    """Search the recipe's tune.space with Optuna; a rerun continues the same study."""
    if trials < 1:
        raise ToolkitError(f"--trials: give a positive number of trials (got {trials})")
    quiet_libraries()
    from toolkit.tune.study import tune as run_tune

    try:
        run_tune(recipe, trials, storage, study, out, overrides=set_)
    except KeyboardInterrupt:  # the study keeps every finished trial
        typer.echo("interrupted: run the same command again to continue the study", err=True)
        raise typer.Exit(130) from None
