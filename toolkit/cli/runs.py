"""The commands on trained runs: `toolkit eval`, `merge`, `explain` and `report`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolkit.cli.app import app, friendly_errors, quiet_libraries
from toolkit.errors import ToolkitError


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
    from toolkit.evaluation.fairness import Fairness
    from toolkit.evaluation.robustness import Perturb

    if terms is not None and not fairness:
        raise ToolkitError("--terms: only used with --fairness")
    if len(targets) > 1 or metric is not None:
        if perturb is not None or fairness:
            raise ToolkitError("--perturb/--fairness: probe one run at a time")
        quiet_libraries()
        from toolkit.evaluation.compare import compare_runs, print_comparison

        key, rows = compare_runs(targets, split, data, recipe, batch_size, metric)
        print_comparison(key, rows, title=f"{len(rows)} runs on {data or split}")
        return
    target = targets[0]
    probes = [Perturb(perturb, perturb_p, seed)] if perturb is not None else []
    probes += [Fairness(terms)] if fairness else []
    quiet_libraries()
    from toolkit.console import console, print_eval
    from toolkit.evaluation.scoring import evaluate_target

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

    from toolkit.explain.attribution import explain_text, render_terminal, to_dict

    explanation = explain_text(run_dir, text, question, method, steps, target)
    render_terminal(explanation)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(to_dict(explanation), indent=1) + "\n", encoding="utf-8")
        typer.echo(f"written: {json_out}")


@app.command(name="report")
@friendly_errors
def report_(
    run_dirs: Annotated[
        list[Path],
        typer.Argument(help="Run directory (or tune directory); several: one side-by-side page."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            help="HTML file to write; default RUN/report.html, or compare_report.html for several."
        ),
    ] = None,
    explain: Annotated[
        bool, typer.Option(help="Explain the first test row (when toolkit.explain exists).")
    ] = True,
) -> None:
    """Write one self-contained HTML report of a run (curves, metrics, errors, every eval), or
    of several runs side by side (metrics table, overlaid curves)."""
    if len(run_dirs) > 1:
        from toolkit.report.compare import write_comparison

        typer.echo(f"written: {write_comparison(run_dirs, out)}")
        return
    from toolkit.report.html import write_report

    typer.echo(f"written: {write_report(run_dirs[0], out, explain=explain)}")
