"""What a run shows while it runs and sums up at the end: banner, dry-run plan, progress, the
log records, metrics.json's content and the closing summary (the files: toolkit/rundir.py).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from toolkit.console import console, headline, progress_bar, with_ci

if TYPE_CHECKING:
    from datasets import Dataset

    from toolkit.tasks.base import LongTexts, Task


def print_model_banner(name: str, loaded: Any) -> None:
    total, trainable = loaded.parameter_count, loaded.trainable_count
    console.print(
        f"[bold]model[/] {name}: {loaded.model_type} ({loaded.family.kind}), "
        f"{total:,} parameters, {trainable:,} trainable"
    )


def print_dry_run(
    recipe: Any, splits: Any, tokenized: dict, loaded: Any, args: Any, precision: str,
    processes: int = 1,
) -> None:  # fmt: skip
    """What a run would do: resolved recipe, sizes, a tokenized sample, batch and step counts."""
    console.print("[bold]resolved recipe[/]")
    console.print(recipe.to_yaml(), markup=False, highlight=False)
    sizes = splits.sizes()
    console.print("[bold]dataset sizes[/] " + ", ".join(f"{k} {v}" for k, v in sizes.items()))
    sample = tokenized["train"][0]
    ids = sample["input_ids"]  # a row of windows (task.long_text windows): its first window
    tokens = loaded.tokenizer.convert_ids_to_tokens(
        ids[0] if ids and isinstance(ids[0], list) else ids
    )
    labels = sample.get("labels")
    if labels is None and "start_positions" in sample:
        shown = f"answer span {sample['start_positions']}-{sample['end_positions']}"
    elif isinstance(labels, int):
        shown = f"label id {labels}"
    else:
        shown = f"{len(labels)} label tokens"
    console.print(f"[bold]tokenized sample[/] ({len(tokens)} tokens, {shown})")
    console.print("  " + " ".join(tokens), markup=False, highlight=False)
    world = max(args.world_size, processes)  # a dry run is not relaunched: count the plan
    effective = args.per_device_train_batch_size * args.gradient_accumulation_steps * world
    steps_per_epoch = -(-sizes["train"] // (args.per_device_train_batch_size * world))
    updates = -(-steps_per_epoch // args.gradient_accumulation_steps)
    total = args.max_steps if args.max_steps > 0 else math.ceil(updates * args.num_train_epochs)
    console.print(
        f"[bold]effective batch[/] {effective} "
        f"({args.per_device_train_batch_size} per device × {args.gradient_accumulation_steps} "
        f"accumulation × {world} processes); [bold]total steps[/] {total}; "
        f"[bold]precision[/] {precision}"
    )
    console.print("dry run: nothing trained, nothing written")


def fitted_splits(task: Task, tokenized: dict[str, Dataset]) -> tuple[dict[str, Dataset], dict]:
    """The tokenized splits as the task trains on them (`Task.fit_splits`) and what metrics.json
    keeps of it: each split's long-text counts, and the task's record (class weights). Prints
    one line when texts were longer than max_length."""
    if task.fit_splits is None:
        return tokenized, {}
    fitted = task.fit_splits(tokenized)
    print_long_texts(fitted.long_texts)
    counts = {name: asdict(count) for name, count in fitted.long_texts.items()}
    return fitted.splits, {**({"long_texts": counts} if counts else {}), **fitted.record}


def print_long_texts(counts: dict[str, LongTexts]) -> None:
    """E.g. `1,498 of 1,500 texts longer than max_length 128 were cut: see task.long_text`."""
    longer = sum(c.longer for c in counts.values())
    if not longer:
        return
    first = next(iter(counts.values()))
    texts = sum(c.texts for c in counts.values())
    each = ", ".join(f"{name} {c.longer:,}" for name, c in counts.items())
    where = f" ({each})" if len(counts) > 1 else ""
    if first.mode == "windows":
        windows = sum(c.windows for c in counts.values())
        done = f"needed more than one window ({windows:,} windows of {texts:,} texts)"
    else:
        done = "were cut" + (" to their start and end" if first.mode == "head_tail" else "")
    console.print(
        f"[bold]long texts[/] {longer:,} of {texts:,} texts{where} longer than max_length "
        f"{first.max_length} {done}: see task.long_text",
        highlight=False,
    )


LIBRARIES = ("torch", "transformers", "datasets", "accelerate", "peft", "tokenizers", "toolkit")


def library_versions() -> dict[str, str]:
    """Python and the libraries a run depends on, as installed now."""
    import platform
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def run_metrics(
    train_metrics: dict, results: dict[str, tuple[dict, list[dict]]], precision: str, loaded: Any
) -> dict:
    """metrics.json: training (sizes, precision and the library versions that trained it, for
    the report and for reproducing it) and the scores of each held-out split."""
    counts = {"parameters": loaded.parameter_count, "trainable_parameters": loaded.trainable_count}
    train = {**train_metrics, **counts, "precision": precision, "versions": library_versions()}
    return {"train": train, **{name: scores for name, (scores, _) in results.items()}}


def print_summary(out_dir: Path, metrics: dict) -> None:
    train = metrics["train"]
    refit = train.get("refit", {})
    seconds = train.get("train_runtime", 0) + refit.get("train_runtime", 0)
    console.print(
        f"[bold green]done[/] in {seconds:.0f} s "
        f"({train.get('train_samples_per_second', 0):.1f} samples/s, {train['precision']}"
        f"{', selection run + refit' if refit else ''}); run directory: {out_dir}"
    )
    if refit:
        console.print("validation scores are the selection run's (the refit trained on them)")
    splits = {name: headline(scores) for name, scores in metrics.items() if name != "train"}
    columns = list(dict.fromkeys(key for scores in splits.values() for key in scores))
    table = Table(title="held-out metrics")
    table.add_column("split")
    for column in columns:
        table.add_column(column, justify="right")
    for name in splits:
        table.add_row(name, *(with_ci(metrics[name], c) for c in columns))
    console.print(table)


try:  # callbacks subclass TrainerCallback; importing transformers here is fine (train imports us)
    from transformers import TrainerCallback
except ImportError:  # pragma: no cover
    TrainerCallback = object  # type: ignore[misc,assignment]


class JsonlLogger(TrainerCallback):
    """Append every Trainer log record (loss, lr, eval metrics) as one json line."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and logs:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            record = {"step": state.global_step, "epoch": state.epoch, "time": time.time(), **logs}
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")


class RichProgress(TrainerCallback):
    """A rich progress bar in place of tqdm, with loss and eval results as they come."""

    def __init__(self) -> None:
        self.progress = None
        self.task_id = None

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        from rich.progress import TextColumn

        self.progress = progress_bar("training", TextColumn("{task.fields[status]}"))
        self.progress.start()
        self.task_id = self.progress.add_task("train", total=state.max_steps, status="")

    def on_step_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.update(self.task_id, completed=state.global_step)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.progress is None or not logs:
            return
        if "loss" in logs:
            self.progress.update(self.task_id, status=f"loss {logs['loss']:.4f}")
        evals = {
            k[5:]: v for k, v in logs.items() if k.startswith("eval_") and isinstance(v, float)
        }
        shown = {k: v for k, v in evals.items() if k in ("loss", "accuracy", "f1_macro")}
        if shown:
            text = ", ".join(f"{k} {v:.4f}" for k, v in shown.items())
            self.progress.console.print(f"  epoch {state.epoch:.2f} validation: {text}")

    def on_train_end(self, args, state, control, **kwargs):
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
