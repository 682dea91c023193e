"""The terminal: the one console every module prints to, library quieting, metric formatting.

Imports no other toolkit module, so any module (and any library caller) can use it without
pulling in the command line, the run writer or the tasks.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from rich.progress import Progress

# stderr, so stdout stays for what a command is asked for; long paths and token lists stay whole.
# `console.quiet = True` silences it (train.py does so in every process but the main one).
console = Console(stderr=True, soft_wrap=True)


def progress_bar(label: str, *extra: object, transient: bool = False) -> Progress:
    """A rich bar on the console: `label`, the bar, done/total, elapsed and remaining time, then
    any `extra` columns (training's loss, for one)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
    return Progress(TextColumn(label), *columns, *extra, console=console, transient=transient)


def quiet_libraries() -> None:
    """Keep transformers/datasets chatter (load reports, cache notices) out of the user's way."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import datasets
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.logging.set_verbosity_error()
    datasets.disable_progress_bars()


def quiet_gguf_loading() -> None:
    """transformers de-quantizes a GGUF checkpoint under a tqdm bar of its own, which ignores its
    progress-bar setting; make that bar follow the setting (off after `quiet_libraries`)."""
    from tqdm.auto import tqdm
    from transformers import modeling_gguf_pytorch_utils as gguf_loading
    from transformers.utils import logging

    def bar(*args, **kwargs):
        return tqdm(*args, **{"disable": not logging.is_progress_bar_enabled(), **kwargs})

    gguf_loading.tqdm = bar


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
