"""`toolkit run` and `toolkit validate`: the commands that take recipes."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from toolkit.cli.app import app, friendly_errors, quiet_libraries
from toolkit.errors import ToolkitError


@app.command()
@friendly_errors
def run(
    recipe: Annotated[Path, typer.Argument(help="Recipe YAML file.")],
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set", help="Override a recipe key, e.g. --set train.epochs=1 (repeatable)."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Show what would run; train nothing.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing run directory.")] = False,
    resume: Annotated[
        bool, typer.Option(help="Continue the interrupted run from its newest checkpoint.")
    ] = False,
    num_processes: Annotated[
        int | None,
        typer.Option(min=1, help="Train in N processes through accelerate launch (DDP)."),
    ] = None,
    accelerate_config: Annotated[
        str | None,
        typer.Option(help="accelerate config file (FSDP, DeepSpeed, several machines)."),
    ] = None,
    seeds: Annotated[
        int, typer.Option(min=1, help="Train N times (seeds train.seed, +1, ...); mean ± std.")
    ] = 1,
) -> None:
    """Train and evaluate a model as the recipe says."""
    from toolkit.recipe.load import load_recipe

    resolved = load_recipe(recipe, set_)
    argv = ["run", str(recipe), *[f"--set={item}" for item in set_ or []]]
    try:
        start_run(resolved, argv, overwrite, dry_run, resume, num_processes, accelerate_config,
                  seeds)  # fmt: skip
    except KeyboardInterrupt:  # Ctrl-C: one line on what is kept and how to resume; exit 130
        from toolkit.interrupts import report_interrupt
        from toolkit.rundir import RunDir

        launched = [("--num-processes", num_processes), ("--accelerate-config", accelerate_config)]
        again = [*argv, *(f"{flag}={value}" for flag, value in launched if value is not None)]
        again += [f"--seeds={seeds}"] if seeds > 1 else []
        code = report_interrupt(RunDir(resolved.output.dir), ["toolkit", *again, "--resume"])
        raise typer.Exit(code) from None


def start_run(
    resolved, argv: list[str], overwrite: bool, dry_run: bool, resume: bool,
    num_processes: int | None, accelerate_config: str | None, seeds: int,
) -> None:  # fmt: skip
    """`toolkit run` once the recipe is loaded: relaunched in N processes, N seeds, or one run."""
    from toolkit import launch

    recipe = Path(argv[1])
    processes = num_processes or resolved.launch.num_processes
    config = accelerate_config or resolved.launch.accelerate_config
    if launch.wants_relaunch(processes, config) and not dry_run:
        from toolkit.rundir import RunDir

        argv = [*argv, *(f for f, on in (("--overwrite", overwrite), ("--resume", resume)) if on)]
        # a bad output.dir is refused before any process starts; the main one then holds the lock
        kind, inputs = "seeds" if seeds > 1 else "run", resolved.local_inputs(recipe)
        out = RunDir(resolved.output.dir)
        check = functools.partial(out.precheck, inputs, overwrite or resume, kind)
        raise typer.Exit(launch.relaunch([*argv, f"--seeds={seeds}"], processes, config, check))
    quiet_libraries()
    if seeds > 1 and not dry_run:
        from toolkit.seeds import run_seeds

        run_seeds(resolved, seeds, overwrite, resume, processes, recipe_file=recipe)
        return
    from toolkit.train import run as run_recipe

    run_recipe(resolved, overwrite, dry_run, resume, processes, recipe_file=recipe)


@app.command()
@friendly_errors
def validate(
    recipes: Annotated[list[Path] | None, typer.Argument(help="Recipe YAML files.")] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a recipe key before validating (repeatable)."),
    ] = None,
    explain: Annotated[
        bool, typer.Option(help="List every recipe key with its default and meaning.")
    ] = False,
) -> None:
    """Check recipes against the schema, and the task against the model family when the
    checkpoint's config is at hand (a local directory or the hub cache); no weights or data."""
    from toolkit.recipe.describe import explain as explain_rows
    from toolkit.recipe.load import load_recipe
    from toolkit.tasks.registry import task_for

    if explain:
        for key, default, description in explain_rows():
            typer.echo(f"{key:36} {default:14} {description}")
    if not recipes and not explain:
        raise ToolkitError("validate: give at least one recipe file (or --explain)")
    for path in recipes or []:
        recipe = load_recipe(path, set_)
        task = task_for(recipe)
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

    from toolkit.checkpoint_files import CustomCode
    from toolkit.models import FAMILIES, family_of, load_config

    hub_logging.set_verbosity_error()  # an unreachable hub is reported once, below, not per retry

    if model_section.scratch is not None:  # built at run time; its family is known already
        return FAMILIES[model_section.scratch.model_type]
    attempts = [{"local_files_only": True}] + ([] if constants.HF_HUB_OFFLINE else [{}])
    for extra in attempts:
        try:
            where = {**model_section.source(), **extra}
            config = load_config(model_section.name, where, model_section.trust_remote_code)
        except CustomCode:  # the checkpoint is here, and refused: say so, not "not available"
            raise
        except (ToolkitError, OSError):  # OSError: e.g. a name too long to be a path
            continue
        return family_of(config, model_section.name)
    return None
