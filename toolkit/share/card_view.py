"""The human part of a model card: what the template (card.md.jinja) shows, as plain values made
from a run's facts. Numbers are rounded here so the template only lays them out."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from toolkit.share.facts import SPLITS

if TYPE_CHECKING:
    from toolkit.share.facts import RunFacts

TASK_NAMES = {
    "text-classification": "Text classification",
    "question-answering": "Question answering",
    "translation": "Translation",
    "text-generation": "Text generation",
    "text2text-generation": "Text-to-text generation",
    "fill-mask": "Masked language modelling",
}
GENERATIVE = ("text-generation", "text2text-generation", "translation")
NOT_METRICS = ("samples", "blocks")


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,}" if isinstance(value, int) else f"{value:.4g}"


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def metric_rows(scores: dict) -> list[tuple[str, str, str]]:
    """(metric, value, 95% interval) for the scalar metrics of one evaluation."""
    rows = []
    for key, value in scores.items():
        if key in NOT_METRICS or key.endswith("_ci") or not is_number(value):
            continue
        interval = scores.get(f"{key}_ci")
        shown = f"[{number(interval[0])}, {number(interval[1])}]" if interval else "-"
        rows.append((key, number(value), shown))
    return rows


def results(facts: RunFacts) -> list[dict]:
    """The held-out splits scored by the run, then every later `toolkit eval` result."""
    blocks = []
    for split in SPLITS[1:]:
        scores = facts.metrics.get(split)
        if isinstance(scores, dict):
            rows = f"{scores['samples']:,} rows of " if is_number(scores.get("samples")) else ""
            title = f"{split}: {rows}{facts.source(split)}"
            blocks.append({"title": title, "rows": metric_rows(scores)})
    for name, scores in facts.evals.items():
        source = str(scores.get("source") or name).replace("\\", "/").rsplit("/", 1)[-1]
        title = f"`toolkit eval` {name}: {source}"
        blocks.append({"title": title, "rows": metric_rows(scores)})
    return blocks


def main_metric(facts: RunFacts, scores: dict) -> str | None:
    return next((m for m in facts.task.held_out_metrics if is_number(scores.get(m))), None)


def robustness(facts: RunFacts) -> list[dict]:
    """Clean vs perturbed main metric and flip rate per perturbation of each `--perturb` run."""
    blocks = []
    for name, scores in facts.evals.items():
        probe = scores.get("perturb")
        if not isinstance(probe, dict):
            continue
        metric = main_metric(facts, probe.get("clean") or {})
        rows = []
        for kind, entry in probe.items():
            if not isinstance(entry, dict) or "edited" not in entry:
                continue
            perturbed = {**(entry.get("metrics") or {})}
            perturbed[f"{metric}_ci"] = (entry.get("intervals") or {}).get(metric)
            rows.append([
                kind, f"{entry['edited']} of {entry.get('rows', '?')}",
                number(probe["clean"].get(metric, "-")), with_ci(perturbed, metric, ".4g"),
                figure(entry, "flip_rate", ".1%"),
            ])  # fmt: skip
        title = f"{name} (p={probe.get('p')}, seed {probe.get('seed')})"
        blocks.append({"title": title, "metric": metric or "metric", "rows": rows})
    return blocks


def fairness(facts: RunFacts) -> list[dict]:
    """Per term group: pairs, flips and probability gaps of each `--fairness` run."""
    blocks = []
    for name, scores in facts.evals.items():
        probe = scores.get("fairness")
        if not isinstance(probe, dict) or not isinstance(probe.get("groups"), dict):
            continue
        title = f"{name}: P({probe.get('class')}) over {probe.get('rows', '?')} rows"
        blocks.append({"title": title, "rows": group_rows(probe["groups"])})
        templated = probe.get("templated")
        if isinstance(templated, dict) and isinstance(templated.get("groups"), dict):
            title = f"{name}: P({probe.get('class')}), {templated.get('templates')} templates"
            blocks.append({"title": title, "rows": group_rows(templated["groups"])})
    return blocks


def group_rows(groups: dict) -> list[list[str]]:
    """Per term group: pairs, flip rate, mean and signed ΔP with intervals, and p (or words)."""
    rows = []
    for group, g in groups.items():
        p = g.get("signed_gap_p")
        cells = [figure(g, "flip_rate", ".1%"), figure(g, "mean_abs_gap", ".4f"),
                 figure(g, "signed_gap", "+.4f"), f"{p:.3g}" if is_number(p) else "-"]  # fmt: skip
        if g.get("conclusive") is False:
            cells = [g.get("note") or "too few pairs to conclude", "", "", ""]
        rows.append([group, str(g.get("pairs", 0)), *cells])
    return rows


def figure(stats: dict, key: str, form: str) -> str:
    return (
        "too few pairs to conclude"
        if stats.get("conclusive") is False
        else with_ci(stats, key, form)
    )


def with_ci(stats: dict, key: str, form: str) -> str:
    """`0.013 [0.009, 0.019]`, or "-" without a value."""
    value, interval = stats.get(key), stats.get(f"{key}_ci")
    if not is_number(value):
        return "-"
    if not interval:
        return format(value, form)
    return f"{value:{form}} [{interval[0]:{form}}, {interval[1]:{form}}]"


def training(facts: RunFacts) -> list[tuple[str, str]]:
    """The settings that made the model, as the recipe and metrics.json record them."""
    recipe, train = facts.recipe, facts.metrics.get("train") or {}
    t, reg = recipe.train, recipe.regularization
    world = train.get("world_size") or 1
    effective = t.batch_size * t.gradient_accumulation * world
    steps = number(train.get("global_step", "?"))
    rows = [
        ("epochs", f"{number(train.get('epoch', t.epochs))} ({steps} optimizer steps)"),
        ("learning rate", f"{t.learning_rate:g}, {t.scheduler} schedule, warmup "
         f"{t.warmup_ratio:g}"),
        ("batch size", f"{effective} ({t.batch_size} per device × {t.gradient_accumulation} "
         f"accumulation × {world} processes)"),
        ("precision", str(train.get("precision", t.precision))),
        ("weight decay / label smoothing / dropout",
         f"{reg.weight_decay:g} / {reg.label_smoothing:g} / "
         f"{'checkpoint default' if reg.dropout is None else f'{reg.dropout:g}'}"),
        ("seed", str(t.seed)),
    ]  # fmt: skip
    rows += optional_settings(facts)
    if is_number(train.get("trainable_parameters")) and is_number(train.get("parameters")):
        rows.append(("parameters", f"{train['trainable_parameters']:,} trained of "
                     f"{train['parameters']:,}"))  # fmt: skip
    if is_number(train.get("train_runtime")):
        rows.append(("training time", f"{train['train_runtime']:.0f} s"))
    return rows


def optional_settings(facts: RunFacts) -> list[tuple[str, str]]:
    """Settings shown only when the recipe used them."""
    recipe, rows = facts.recipe, []
    if recipe.peft is not None:
        rows.append(("peft", peft_line(facts)))
    if recipe.model.freeze_layers or recipe.model.freeze_embeddings:
        frozen = f"embeddings + {recipe.model.freeze_layers} lowest layers"
        rows.append(("frozen", frozen if recipe.model.freeze_layers else "input embeddings"))
    if (recipe.train.layer_lr_decay, recipe.train.head_lr_multiplier) != (1.0, 1.0):
        rows.append(("layer-wise rates", f"decay {recipe.train.layer_lr_decay:g}, head × "
                     f"{recipe.train.head_lr_multiplier:g}"))  # fmt: skip
    stopping = recipe.regularization.early_stopping
    if stopping is not None:
        rows.append(("early stopping", f"on validation {stopping.metric}, patience "
                     f"{stopping.patience}"))  # fmt: skip
    if recipe.train.refit:
        rows.append(("refit", "retrained on train + validation for the chosen length"))
    weights = (facts.metrics.get("train") or {}).get("class_weights")
    if isinstance(weights, list):
        rows.append(("class weights", ", ".join(number(w) for w in weights)))
    return rows


def peft_line(facts: RunFacts) -> str:
    peft = facts.recipe.peft
    targets = (facts.adapter or {}).get("target_modules") or peft.target_modules or []
    shown = ", ".join(sorted(targets)) if isinstance(targets, list) else str(targets)
    return f"{peft.method} r={peft.r}, alpha={peft.alpha}, dropout={peft.dropout:g} on {shown}"
