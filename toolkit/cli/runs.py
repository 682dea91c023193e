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
    templates: Annotated[
        Path | None,
        typer.Option(help="Extra sentence templates for --fairness (json, same schema)."),
    ] = None,
    templated: Annotated[
        bool, typer.Option(help="--fairness: also the templated probe (≥1,000 pairs a group).")
    ] = True,
    metric: Annotated[
        str | None,
        typer.Option(help="Several runs: sort the comparison by this metric."),
    ] = None,
) -> None:
    """Score trained models on a held-out split or file, with 95% bootstrap intervals."""
    from toolkit.evaluation.fairness import Fairness
    from toolkit.evaluation.robustness import Perturb

    if (terms is not None or templates is not None) and not fairness:
        raise ToolkitError(f"{'--terms' if terms else '--templates'}: only used with --fairness")
    if templates is not None and not templated:
        raise ToolkitError("--templates: not used with --no-templated")
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
    probes += [Fairness(terms, templates, templated)] if fairness else []
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
    text: Annotated[
        str | None, typer.Argument(help="Text to explain; the context, for QA.")
    ] = None,
    question: Annotated[str | None, typer.Option(help="The question (QA runs).")] = None,
    method: Annotated[
        str | None,
        typer.Option(
            help="integrated-gradients (default) or gradient-x-input; with --faithfulness also "
            "both (its default)."
        ),
    ] = None,
    steps: Annotated[
        int | None,
        typer.Option(min=1, help="Integrated-gradients steps (32; --faithfulness: 16)."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(help="Label to explain; default the predicted one."),
    ] = None,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Also write the attributions to this json file."),
    ] = None,
    faithfulness: Annotated[
        bool,
        typer.Option(
            help="Classification: are the top-attributed words the ones the model needs? "
            "Deletion/insertion curves on held-out test rows vs random orders (no TEXT)."
        ),
    ] = False,
    rows: Annotated[int, typer.Option(help="--faithfulness: test rows sampled.")] = 100,
    seed: Annotated[int, typer.Option(help="--faithfulness: seed of the rows and orders.")] = 0,
) -> None:
    """Per-token attributions of one prediction (integrated gradients or gradient × input),
    or with --faithfulness how faithful they are on held-out rows."""
    if faithfulness:
        explain_faithfulness(run_dir, text, question, target, json_out, method, rows, seed, steps)
        return
    if text is None:
        raise ToolkitError("explain: give the TEXT to explain (or --faithfulness)")
    quiet_libraries()
    import json

    from toolkit.explain.attribution import explain_text, render_terminal, to_dict

    method = method or "integrated-gradients"
    explanation = explain_text(run_dir, text, question, method, steps or 32, target)
    render_terminal(explanation)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(to_dict(explanation), indent=1) + "\n", encoding="utf-8")
        typer.echo(f"written: {json_out}")


def explain_faithfulness(run_dir, text, question, target, json_out, method, rows, seed, steps):
    """`toolkit explain RUN --faithfulness`: measure, write RUN/eval/faithfulness.json, show."""
    given = {"TEXT": text, "--question": question, "--target": target, "--json": json_out}
    extra = [name for name, value in given.items() if value is not None]
    if extra:
        raise ToolkitError(f"--faithfulness: measures held-out rows; drop {', '.join(extra)}")
    quiet_libraries()
    from toolkit.explain.faithfulness import measure
    from toolkit.explain.faithfulness_out import show, write

    result, records = measure(run_dir, rows, method, seed, steps or 16)
    show(result)
    typer.echo(f"written: {write(run_dir, result, records)}")


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
