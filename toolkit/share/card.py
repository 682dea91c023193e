"""The model card of a run, `model/README.md`: Hub metadata made with huggingface_hub's
`ModelCardData` (+ `EvalResult`s for the model-index of the test metrics) and a human part from
the template card.md.jinja, both from the facts of the run directory (facts.py).

`toolkit run` writes it with every run (over the README.md peft writes for an adapter);
`toolkit push` writes it again first, so later `toolkit eval` results appear, and names the repo.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.atomic import write_text_atomically
from toolkit.rundir import RunDir
from toolkit.share import card_view as show
from toolkit.tasks.base import HeadKind

if TYPE_CHECKING:
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    from toolkit.share.facts import RunFacts

TEMPLATE = Path(__file__).with_name("card.md.jinja")
LANGUAGE = re.compile(r"[a-z]{2,3}")  # ISO 639 codes, what the Hub's `language` takes


def write_card(
    run: RunDir, home: Path | None = None, repo_id: str | None = None, merged: Path | None = None
) -> Path:
    """Write the card of the finished run in `run` (`home`: the run's published place, when
    `run` is its staging dir) to its model/README.md, or to `merged`/README.md for the merged
    full model `toolkit push --merged` uploads; returns the file."""
    from toolkit.share.facts import read_facts, read_json

    facts = read_facts(run, home)
    if merged is not None:  # the merged model's own config (its head's architecture)
        facts.config = read_json(merged / "config.json", missing=facts.config)
    card = build_card(facts, repo_id, merged is not None)
    target = merged / "README.md" if merged is not None else run.card
    write_text_atomically(target, str(card))
    return target


def write_run_card(staging: RunDir, home: Path) -> None:
    """`toolkit run`'s card, written into the staging dir before it is published. Never fatal:
    a card it could not write must not cost the finished run (`toolkit push` writes it again)."""
    from toolkit.console import console

    try:
        write_card(staging, home)
    except Exception as exc:  # any failure here is reported, and the run goes on
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        console.print(f"[yellow]model card not written[/] ({first}); `toolkit push` writes it")


def build_card(facts: RunFacts, repo_id: str | None = None, merged: bool = False) -> ModelCard:
    from huggingface_hub import ModelCard

    name = (repo_id or facts.home.name).rsplit("/", 1)[-1]
    data = card_data(facts, name, merged)
    view = card_view(facts, name, repo_id, merged, data.base_model)
    return ModelCard.from_template(data, template_path=str(TEMPLATE), view=view)


def card_data(facts: RunFacts, name: str, merged: bool) -> ModelCardData:
    """The card's YAML metadata: an adapter run is a peft model on its base (`merged`: the full
    model its adapter was folded into)."""
    from huggingface_hub import ModelCardData

    base = facts.base_model()
    adapter = facts.adapter is not None and not merged
    tags = ["toolkit", facts.pipeline_tag, facts.config.get("model_type") or facts.family.kind]
    if facts.adapter is not None:
        tags += ["peft", facts.recipe.peft.method] + (["merged-adapter"] if merged else [])
        tags += [f"base_model:adapter:{base}"] if adapter and base else []
    if facts.recipe.model.scratch is not None:
        tags.append("trained-from-scratch")
    results = eval_results(facts)
    return ModelCardData(
        base_model=base,
        library_name="peft" if adapter else "transformers",
        pipeline_tag=facts.pipeline_tag,
        language=[c for c in facts.task.languages if LANGUAGE.fullmatch(c)] or None,
        datasets=facts.datasets() or None,
        metrics=[r.metric_type for r in results] or None,
        model_name=name,
        eval_results=results or None,
        tags=tags,
    )


def eval_results(facts: RunFacts) -> list[EvalResult]:
    """The model-index: the run's held-out test metrics (the task's headline ones)."""
    from huggingface_hub import EvalResult

    scores = facts.metrics.get("test")
    if not isinstance(scores, dict):
        return []
    record = facts.splits.get("test")
    spec = (record.get("file") if isinstance(record, dict) else None) or facts.recipe.data.train
    hub = facts.local(spec) is None
    dataset = spec if hub else Path(spec).stem
    return [
        EvalResult(
            task_type=facts.pipeline_tag,
            task_name=show.TASK_NAMES.get(facts.pipeline_tag),
            dataset_type=dataset,
            dataset_name=facts.source("test"),
            dataset_config=facts.recipe.data.hub_config if hub else None,
            dataset_split="test",
            metric_type=metric,
            metric_name=f"test {metric}",
            metric_value=float(scores[metric]),
        )
        for metric in facts.task.held_out_metrics
        if show.is_number(scores.get(metric))
    ]


def card_view(
    facts: RunFacts, name: str, repo_id: str | None, merged: bool, base: str | None
) -> dict:
    """Everything the template's human part shows."""
    tag = facts.pipeline_tag
    config = facts.config
    classes = facts.head.kind is HeadKind.SEQUENCE_CLASSIFICATION
    labels = config.get("id2label") if classes else None
    names = [labels[k] for k in sorted(labels, key=int)] if isinstance(labels, dict) else None
    return {
        "title": name,
        "summary": summary(facts, merged, base),
        "task_name": show.TASK_NAMES.get(tag, tag),
        "pipeline_tag": tag,
        "mode": facts.head.mode,
        "labels": names,
        "languages": list(facts.task.languages),
        "base": base_line(facts, base),
        "architecture": ", ".join(config.get("architectures") or []) or config.get("model_type"),
        "peft": None if merged or facts.recipe.peft is None else show.peft_line(facts),
        "toolkit_version": versions(facts).get("toolkit", "?"),
        "data": data_rows(facts),
        "augmentation": augmentation(facts),
        "training": show.training(facts),
        "results": show.results(facts),
        "robustness": show.robustness(facts),
        "fairness": show.fairness(facts),
        "intended_use": intended_use(facts),
        "limitations": limitations(facts),
        "usage": usage(facts, repo_id or name, merged, base),
        "versions": sorted(versions(facts).items()),
    }


def summary(facts: RunFacts, merged: bool, base: str | None) -> str:
    what = show.TASK_NAMES.get(facts.pipeline_tag, facts.pipeline_tag).lower()
    sizes = facts.sizes()
    rows = f"{sizes['train']:,} rows of " if sizes.get("train") else ""
    how = "LoRA adapter on" if facts.adapter is not None and not merged else "fine-tune of"
    start = f"`{base}`" if base else "a local checkpoint"
    if facts.recipe.model.scratch is not None:
        how, start = "model trained from scratch", ""
    merged_note = " (the adapter folded into the base: a full model)" if merged else ""
    return f"A {what} {how} {start}{merged_note}, trained on {rows}{facts.source('train')}."


def base_line(facts: RunFacts, base: str | None) -> str:
    if facts.recipe.model.scratch is not None:
        return "none: a new model built from scratch (tokenizer trained on the train split)"
    if base:
        return f"[{base}](https://huggingface.co/{base})"
    return f"a local checkpoint (`{Path(facts.recipe.model.name).name}`), not on the Hub"


def data_rows(facts: RunFacts) -> list[tuple[str, str, str]]:
    sizes = facts.sizes()
    return [
        (split, f"{sizes[split]:,}" if sizes.get(split) is not None else "?", facts.source(split))
        for split in ("train", "validation", "test")
    ]


def augmentation(facts: RunFacts) -> str | None:
    record = facts.splits.get("train_augmentation")
    if not isinstance(record, dict):
        return None
    steps = ", ".join(str(step.get("method", "?")) for step in record.get("steps", []))
    return f"{steps}: {record.get('rows_in')} rows → {record.get('rows_out')} (originals kept)"


def versions(facts: RunFacts) -> dict[str, str]:
    found = (facts.metrics.get("train") or {}).get("versions")
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def intended_use(facts: RunFacts) -> str:
    what = show.TASK_NAMES.get(facts.pipeline_tag, facts.pipeline_tag).lower()
    return (
        f"{what.capitalize()} of text like the training data ({facts.source('train')}). It was "
        "trained and scored for research and evaluation; check it on your own data before "
        "relying on it, and do not use it for decisions about people without an audit."
    )


def limitations(facts: RunFacts) -> list[str]:
    sizes, test = facts.sizes(), facts.metrics.get("test") or {}
    trained = f"{sizes['train']:,} rows" if sizes.get("train") else "the rows"
    lines = [f"Trained on {trained} of {facts.source('train')} only: it knows that data's domain"
             " and nothing of text unlike it."]  # fmt: skip
    if facts.task.languages:
        lines.append(f"Languages: {' → '.join(facts.task.languages)} only.")
    else:
        lines.append("The language of the training data was not recorded; expect it to work in "
                     "that language only.")  # fmt: skip
    held = f"{sizes['test']:,}" if sizes.get("test") else "the"
    lines.append(f"The test scores come from {held} held-out rows of the same source; the 95% "
                 "intervals show how much they could move on another sample of it, and data "
                 "from elsewhere usually scores lower.")  # fmt: skip
    if facts.pipeline_tag in show.GENERATIVE:
        lines.append("Generated text can be wrong, made up or offensive; check it before use.")
    lines += calibration_note(facts, test)
    if not show.robustness(facts) and not show.fairness(facts):
        lines.append("No robustness or fairness probe was run (`toolkit eval --perturb`, "
                     "`--fairness`).")  # fmt: skip
    return lines


def calibration_note(facts: RunFacts, test: dict) -> list[str]:
    if facts.calibration and show.is_number(facts.calibration.get("temperature")):
        t = facts.calibration["temperature"]
        return [f"Probabilities: the run fitted temperature T = {t:.3g} on the validation split; "
                "the scores above use softmax(logits / T), but the saved model is unchanged, so "
                "divide its logits by T for calibrated probabilities."]  # fmt: skip
    if show.is_number(test.get("ece")):
        return [f"Probabilities are not calibrated (test ECE {test['ece']:.3g}); treat the "
                "scores as rankings, or train with `eval.calibrate: temperature`."]  # fmt: skip
    return []


def usage(facts: RunFacts, repo: str, merged: bool, base: str | None) -> str:
    """Python that loads the pushed model with transformers (and peft for an adapter)."""
    try:
        auto = facts.head.kind.auto_class().__name__
    except ValueError:  # bert2bert: an EncoderDecoderModel
        auto = "EncoderDecoderModel"
    lines = [f"from transformers import AutoTokenizer, {auto}", ""]
    lines.append(f'tokenizer = AutoTokenizer.from_pretrained("{repo}")')
    if facts.adapter is None or merged:
        return "\n".join([*lines, f'model = {auto}.from_pretrained("{repo}")'])
    lines[0:0] = ["from peft import PeftModel", "from transformers import AutoConfig"]
    return "\n".join([
        *lines, f'config = AutoConfig.from_pretrained("{repo}")  # the head\'s label names',
        f'base = {auto}.from_pretrained("{base or "BASE_MODEL"}", config=config)',
        f'model = PeftModel.from_pretrained(base, "{repo}")',
    ])  # fmt: skip
