"""The `toolkit` command line. Each command parses its arguments and calls one function.

Heavy libraries (torch, transformers, datasets) are imported inside the commands, so
`toolkit --help` stays fast.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperCommand

from toolkit.console import quiet_libraries
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
    from toolkit import launch
    from toolkit.recipe import load_recipe

    resolved = load_recipe(recipe, set_)
    processes = num_processes or resolved.launch.num_processes
    config = accelerate_config or resolved.launch.accelerate_config
    if launch.wants_relaunch(processes, config) and not dry_run:
        from toolkit.rundir import RunDir

        argv = ["run", str(recipe), *[f"--set={item}" for item in set_ or []]]
        argv += [flag for flag, on in (("--overwrite", overwrite), ("--resume", resume)) if on]
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
    from toolkit.recipe import explain as explain_rows
    from toolkit.recipe import load_recipe
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
    targets: Annotated[
        list[Path],
        typer.Argument(help="Run directories (several: a comparison table), or a model dir."),
    ],
    split: Annotated[str, typer.Option(help="Held-out split recorded by the run.")] = "test",
    data: Annotated[
        str | None, typer.Option(help="Score this file instead (recipe's columns).")
    ] = None,
    recipe: Annotated[str | None, typer.Option(help="Recipe, for a bare model directory.")] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Evaluation batch size.")] = 128,
    perturb: Annotated[
        str | None,
        typer.Option(help="Also score perturbed copies: comma list of synonym, typo, drop."),
    ] = None,
    perturb_p: Annotated[float, typer.Option(help="Share of words perturbed.")] = 0.15,
    seed: Annotated[int, typer.Option(help="Seed of the perturbations.")] = 0,
    fairness: Annotated[
        bool, typer.Option(help="Classification: counterfactual identity-term swap probe.")
    ] = False,
    terms: Annotated[
        Path | None,
        typer.Option(help="Extra/overriding term groups for --fairness (json, same schema)."),
    ] = None,
    metric: Annotated[
        str | None,
        typer.Option(help="Several runs: sort the comparison by this metric."),
    ] = None,
) -> None:
    """Score trained models on a held-out split or file, with 95% bootstrap intervals."""
    from toolkit.fairness import Fairness
    from toolkit.robustness import Perturb

    if terms is not None and not fairness:
        raise ToolkitError("--terms: only used with --fairness")
    if len(targets) > 1 or metric is not None:
        if perturb is not None or fairness:
            raise ToolkitError("--perturb/--fairness: probe one run at a time")
        quiet_libraries()
        from toolkit.compare import compare_runs, print_comparison

        key, rows = compare_runs(targets, split, data, recipe, batch_size, metric)
        print_comparison(key, rows, title=f"{len(rows)} runs on {data or split}")
        return
    target = targets[0]
    probes = [Perturb(perturb, perturb_p, seed)] if perturb is not None else []
    probes += [Fairness(terms)] if fairness else []
    quiet_libraries()
    from toolkit.console import console, print_eval
    from toolkit.evaluation import evaluate_target

    metrics, out_file = evaluate_target(target, split, data, recipe, batch_size, probes)
    print_eval(metrics, title=f"{target} on {data or split}")
    for probe in probes:
        probe.show(metrics[probe.key])
    console.print(f"written: {out_file}")


@app.command()
@friendly_errors
def merge(
    run_dir: Annotated[Path, typer.Argument(help="Run directory of a peft (LoRA) run.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the merged model; default RUN/merged."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
) -> None:
    """Fold a LoRA run's adapter into its base model: a full model plain transformers loads."""
    quiet_libraries()
    from toolkit.lora import merge_run

    written = merge_run(run_dir, out, overwrite)
    typer.echo(f"written: {written}")


@app.command()
@friendly_errors
def explain(
    run_dir: Annotated[Path, typer.Argument(help="Run directory (classification or QA).")],
    text: Annotated[str, typer.Argument(help="Text to explain; the context, for QA.")],
    question: Annotated[str | None, typer.Option(help="The question (QA runs).")] = None,
    method: Annotated[
        str, typer.Option(help="integrated-gradients or gradient-x-input.")
    ] = "integrated-gradients",
    steps: Annotated[int, typer.Option(min=1, help="Integrated-gradients steps.")] = 32,
    target: Annotated[
        str | None,
        typer.Option(help="Label to explain; default the predicted one."),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the attributions to this json file."),
    ] = None,
) -> None:
    """Per-token attributions of one prediction (integrated gradients or gradient × input)."""
    quiet_libraries()
    import json

    from toolkit.explain import explain_text, render_terminal, to_dict

    explanation = explain_text(run_dir, text, question, method, steps, target)
    render_terminal(explanation)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(to_dict(explanation), indent=1) + "\n", encoding="utf-8")
        typer.echo(f"written: {json_out}")


@app.command(name="report")
@friendly_errors
def report_(
    run_dir: Annotated[Path, typer.Argument(help="Run directory.")],
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the HTML file; default RUN/report.html."),
    ] = None,
    explain: Annotated[
        bool, typer.Option(help="Explain the first test row (when toolkit.explain exists).")
    ] = True,
) -> None:
    """Write one self-contained HTML report of a run: curves, metrics, errors, samples."""
    from toolkit.html_report import write_report

    typer.echo(f"written: {write_report(run_dir, out, explain=explain)}")


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
    from toolkit.recipe_augment import step_keys

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


def main() -> None:  # pragma: no cover
    app()
