"""Everything a run shows and leaves behind: console output, progress, logs, the run directory.

A run is written into a staging directory next to its output directory and moved into place
only when it has finished, so a failed or interrupted run never leaves a partial or clobbered one.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from toolkit.errors import ToolkitError

console = Console(stderr=True, soft_wrap=True)  # long paths and token lists stay whole
RUN_MARKER = "recipe.yaml"


def check_output_dir(out_dir: Path, overwrite: bool) -> None:
    """Refuse to write over an existing run unless asked to."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ToolkitError(f"output.dir: {out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not overwrite:
        what = "a run" if (out_dir / RUN_MARKER).exists() else "files"
        raise ToolkitError(
            f"output.dir: {out_dir} already holds {what}; pass --overwrite to replace it"
        )


def staging_dir(out_dir: Path) -> Path:
    return out_dir.parent / f".{out_dir.name}.partial"


def start_staging(staging: Path, recipe: Any) -> None:
    """A fresh staging dir holding the recipe (so `--resume` can tell it is the same run); what
    an earlier interrupted run left there is removed. Main process only."""
    from toolkit.launch import is_main_process

    if not is_main_process():
        return None
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / RUN_MARKER).write_text(recipe.to_yaml(), encoding="utf-8")
    return None


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
    tokens = loaded.tokenizer.convert_ids_to_tokens(sample["input_ids"])
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


def write_run(
    staging: Path,
    out_dir: Path,
    recipe: Any,
    splits: Any,
    trainer: Any,
    train_metrics: dict,
    results: dict,
    precision: str,
    loaded: Any,
) -> Path:
    """Save model, tokenizer, recipe, splits, metrics and predictions, then move into place."""
    from toolkit.data import write_held_out

    if not trainer.args.should_save:
        return out_dir
    trainer.save_model(str(staging / "model"))  # a peft model saves its adapter + head only
    if getattr(recipe, "peft", None) is not None:  # so add the label names the head trained with
        from toolkit.lora import save_head_config

        save_head_config(trainer.model, staging / "model")
    (staging / RUN_MARKER).write_text(recipe.to_yaml())
    write_held_out(splits, staging)
    counts = {"parameters": loaded.parameter_count, "trainable_parameters": loaded.trainable_count}
    versions = library_versions()  # what trained it, for the report and for reproducing it
    metrics = {"train": {**train_metrics, **counts, "precision": precision, "versions": versions}}
    for name, (scores, records) in results.items():
        metrics[name] = scores
        write_jsonl(staging / "predictions" / f"{name}.jsonl", records)
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    if not recipe.train.save_checkpoints:  # early stopping needed them only to restore the best
        shutil.rmtree(staging / "checkpoints", ignore_errors=True)
    move_into_place(staging, out_dir)
    print_summary(out_dir, metrics)
    return out_dir


def move_into_place(staging: Path, out_dir: Path) -> None:
    """Replace `out_dir` by the finished staging dir; the old run is removed only after the swap."""
    old = out_dir.parent / f".{out_dir.name}.old"
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(old)
    staging.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def headline(scores: dict) -> dict[str, float]:
    """The scalar metrics of one split (per-class tables, matrices and signatures left out)."""
    return {
        k: v for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def with_ci(scores: dict, key: str) -> str:
    """A metric with its bootstrap 95% interval when one was computed: 0.805 [0.768, 0.843]."""
    value = scores.get(key, float("nan"))
    interval = scores.get(f"{key}_ci")
    return f"{value:.4g} [{interval[0]:.4g}, {interval[1]:.4g}]" if interval else f"{value:.4g}"


def print_summary(out_dir: Path, metrics: dict) -> None:
    train = metrics["train"]
    console.print(
        f"[bold green]done[/] in {train.get('train_runtime', 0):.0f} s "
        f"({train.get('train_samples_per_second', 0):.1f} samples/s, {train['precision']}); "
        f"run directory: {out_dir}"
    )
    splits = {name: headline(scores) for name, scores in metrics.items() if name != "train"}
    columns = list(dict.fromkeys(key for scores in splits.values() for key in scores))
    table = Table(title="held-out metrics")
    table.add_column("split")
    for column in columns:
        table.add_column(column, justify="right")
    for name in splits:
        table.add_row(name, *(with_ci(metrics[name], c) for c in columns))
    console.print(table)


def print_eval(metrics: dict, title: str) -> None:
    """Headline metrics, then per-class table and confusion matrix where the task has them."""
    shown = ", ".join(f"{k} {with_ci(metrics, k)}" for k in headline(metrics))
    console.print(f"[bold]{title}[/]: {shown}")
    if "per_class" in metrics:
        print_classes(metrics)


def print_classes(metrics: dict) -> None:
    per_class = Table(title="per class")
    for column in ("label", "precision", "recall", "f1", "support"):
        per_class.add_column(column, justify="right" if column != "label" else "left")
    for name, row in metrics["per_class"].items():
        per_class.add_row(
            name,
            f"{row['precision']:.4f}",
            f"{row['recall']:.4f}",
            f"{row['f1']:.4f}",
            str(row["support"]),
        )
    console.print(per_class)
    names = list(metrics["per_class"])
    confusion = Table(title="confusion matrix (rows gold, columns predicted)")
    confusion.add_column("")
    for name in names:
        confusion.add_column(name, justify="right")
    for name, row in zip(names, metrics["confusion_matrix"]):
        confusion.add_row(name, *(str(v) for v in row))
    console.print(confusion)


def write_eval(target: Path, name: str, metrics: dict, records: list[dict], source: str) -> Path:
    folder = target / "eval"
    folder.mkdir(parents=True, exist_ok=True)
    out_file = folder / f"{name}.json"
    out_file.write_text(json.dumps({"source": source, **metrics}, indent=1) + "\n")
    write_jsonl(folder / f"{name}_predictions.jsonl", records)
    return out_file


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
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("training"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[status]}"),
            console=console,
        )
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
