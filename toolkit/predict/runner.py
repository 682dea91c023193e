"""`toolkit predict`: FILE read in chunks, each chunk tokenized and predicted by the task
(`Task.preprocess` of the input columns, then `Task.predict_rows`), its rows and prediction
columns appended to the staged output (output.py).

Memory stays flat in the number of rows: FILE is read through `datasets`, whose Arrow table is
memory-mapped from disk, and only one chunk of rows (`--chunk-rows`, default 2,048) is in
Python at a time. Within a chunk the task's own predict code sorts rows by length and batches
them, as `toolkit eval` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.console import console, progress_bar
from toolkit.errors import ToolkitError
from toolkit.predict import engines
from toolkit.predict.output import check_out, staged

if TYPE_CHECKING:
    from datasets import Dataset

    from toolkit.models import LoadedModel
    from toolkit.recipe.schema import Recipe
    from toolkit.tasks.base import Batch, LongTexts, Task

CHUNK_ROWS = 2048
PREFIX = "predicted_"  # a prediction column the input already has is written under this prefix


@dataclass(frozen=True)
class Request:
    """What `toolkit predict` was asked for."""

    target: Path
    file: Path
    out: Path
    batch_size: int = 64
    device: str = "auto"
    engine: str = "auto"
    chunk_rows: int = CHUNK_ROWS
    overwrite: bool = False


def predict_file(request: Request) -> int:
    """Predict every row of FILE into OUT; returns the number of rows."""
    from toolkit.evaluation.calibration import use_stored_temperature

    check_out(request.out, request.file, request.overwrite)
    source = engines.resolve(request.target, request.engine)
    task, recipe = open_task(source)
    table = read_input(request.file, task.input_columns)
    loaded, precision = engines.load(source, task, recipe, request.device)
    task.from_model(loaded.model.config)
    if source.run is not None:
        use_stored_temperature(task, source.run)  # eval.calibrate's T, when the run fitted one
    console.print(
        f"[bold]predict[/] {request.target} on {request.file}: {len(table):,} rows, engine "
        f"{source.engine}, {device_of(loaded)}, batch size {request.batch_size}",
        highlight=False,
    )
    counts = write_predictions(task, loaded, table, request, precision)
    show_long_texts(counts)
    return len(table)


def open_task(source: engines.Source) -> tuple[Task, Recipe]:
    """The run's task, bound to its saved model's head; refuses an engine the model cannot use
    and a task with nothing to predict, before the data or the weights are read."""
    from toolkit.evaluation.scoring import saved_head
    from toolkit.recipe.load import load_recipe
    from toolkit.tasks.registry import task_for

    recipe = load_recipe(source.recipe_file)
    engines.use_backend(recipe, source.backend)
    task = task_for(recipe)
    head = saved_head(task, source.model_dir, recipe.model.trust_remote_code)
    engines.check_engine(source, head)
    task.bind(head)
    task.input_columns  # noqa: B018 (a pre-training task refuses here)
    return task, recipe


def read_input(file: Path, columns: list[str]) -> Dataset:
    """FILE as a table (csv, tsv, json, jsonl, parquet, a saved `datasets` folder) that holds
    rows and the task's input columns."""
    from toolkit.data import load_table, require_columns

    if not file.exists():
        raise ToolkitError(f"FILE: {file}: no such file or directory")
    table = load_table(str(file), "FILE")
    if hasattr(table, "keys"):  # a saved DatasetDict
        raise ToolkitError(
            f"FILE: {file} is a dataset of several splits ({', '.join(table)}); give one "
            f"split's folder, e.g. {file / next(iter(table))}"
        )
    if len(table) == 0:
        raise ToolkitError(f"FILE: {file} holds no rows")
    require_columns(table, columns, str(file))
    return table


def write_predictions(
    task: Task, loaded: LoadedModel, table: Dataset, request: Request, precision: str
) -> list[LongTexts]:
    """Predict chunk by chunk into the staged output; returns each chunk's long-text counts."""
    counts: list[LongTexts] = []
    names: dict[str, str] = {}
    with staged(request.out) as writer, rows_bar(len(table)) as advance:
        for start in range(0, len(table), request.chunk_rows):
            chunk = table.select(range(start, min(start + request.chunk_rows, len(table))))
            rows = chunk[:]
            check_texts(rows, task.input_columns, str(request.file), start)
            predicted, found = predict_chunk(task, loaded, chunk, request.batch_size, precision)
            names = names or output_names(list(rows), list(predicted))
            writer.write({**rows, **{names[key]: value for key, value in predicted.items()}})
            counts += found
            advance(len(chunk))
    return counts


def predict_chunk(
    task: Task, loaded: LoadedModel, chunk: Dataset, batch_size: int, precision: str
) -> tuple[Batch, list[LongTexts]]:
    """The prediction columns of one chunk, from its input columns only (labels a file may hold
    are never read), and its long-text counts."""
    from datasets import Dataset

    inputs = chunk.select_columns(task.input_columns)
    tokenized = Dataset.from_dict(task.preprocess(inputs[:], loaded.tokenizer))
    counts: list[LongTexts] = []
    if task.fit_splits is not None:  # the task reads long texts its own way and counts them
        fitted = task.fit_splits({"predict": tokenized})
        tokenized, counts = fitted.splits["predict"], list(fitted.long_texts.values())
    return task.predict_rows(loaded, inputs, tokenized, batch_size, precision), counts


def check_texts(rows: Batch, columns: list[str], where: str, start: int) -> None:
    """Refuse a null or blank input, naming its line (or row) in FILE."""
    from toolkit.data import where_row

    for column in columns:
        for index, value in enumerate(rows[column]):
            if value is None or not str(value).strip():
                raise ToolkitError(f"{where_row(where, start + index)}: empty text in {column!r}")


def output_names(inputs: list[str], predicted: list[str]) -> dict[str, str]:
    """Each prediction column's name in the output: its own, or `predicted_<name>` where the
    input already has a column of that name (a labelled file's `label`), said once."""
    names: dict[str, str] = {}
    for name in predicted:
        shown = name
        while shown in inputs or shown in names.values():
            shown = PREFIX + shown
        names[name] = shown
    renamed = [f"{name} as {shown}" for name, shown in names.items() if name != shown]
    if renamed:
        console.print(
            f"[bold]predict[/] the input has columns named like predictions: writing "
            f"{', '.join(renamed)}",
            highlight=False,
        )
    return names


@contextmanager
def rows_bar(total: int) -> Iterator[Callable[[int], None]]:
    """A rich bar of rows predicted, gone when done (the command prints a summary line)."""
    with progress_bar("predicting", transient=True) as bar:
        rows = bar.add_task("predict", total=total)
        yield lambda done: bar.advance(rows, done)


def show_long_texts(counts: list[LongTexts]) -> None:
    """The cut-texts line of `toolkit eval`, for the whole file."""
    from toolkit.report.training import print_long_texts
    from toolkit.tasks.base import LongTexts

    if not counts:
        return
    first = counts[0]
    total = LongTexts(
        sum(c.texts for c in counts), sum(c.longer for c in counts), first.max_length,
        first.mode, sum(c.windows for c in counts),
    )  # fmt: skip
    print_long_texts({"predict": total})


def device_of(loaded: LoadedModel) -> str:
    device = getattr(loaded.model, "device", None)
    return str(device) if device is not None else "cpu"
