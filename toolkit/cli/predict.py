"""`toolkit predict`: a trained run (or an export of one) on a file of unlabeled rows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolkit.cli.app import app, friendly_errors, quiet_libraries
from toolkit.errors import ToolkitError

INTERRUPTED = 130  # 128 + SIGINT, as toolkit.interrupts uses for `toolkit run`


@app.command()
@friendly_errors
def predict(
    target: Annotated[Path, typer.Argument(help="Run directory, or an export folder of one.")],
    file: Annotated[
        Path,
        typer.Argument(help="Rows to predict: csv, tsv, json, jsonl, parquet, a datasets dir."),
    ],
    out: Annotated[Path, typer.Option(help="Output file; its suffix sets the format.")],
    batch_size: Annotated[int, typer.Option(min=1, help="Rows per forward pass.")] = 64,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "auto",
    engine: Annotated[str, typer.Option(help="auto, torch, onnx or ctranslate2.")] = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --out file.")] = False,
    chunk_rows: Annotated[
        int, typer.Option(min=1, hidden=True, envvar="TOOLKIT_PREDICT_CHUNK_ROWS")
    ] = 2048,
) -> None:
    """Predict a file of new rows: the rows plus the task's prediction columns, in --out."""
    import time

    from toolkit.predict.engines import DEVICES, ENGINES
    from toolkit.predict.runner import Request, predict_file

    for key, value, known in (("--device", device, DEVICES), ("--engine", engine, ENGINES)):
        if value not in known:
            raise ToolkitError(f"{key}: unknown {value!r} (one of {', '.join(known)})")
    quiet_libraries()
    from toolkit.console import console

    request = Request(target, file, out, batch_size, device, engine, chunk_rows, overwrite)
    began = time.perf_counter()
    try:
        rows = predict_file(request)
    except KeyboardInterrupt:
        console.print(f"interrupted: {out} was not written", markup=False, highlight=False)
        raise typer.Exit(INTERRUPTED) from None
    seconds = time.perf_counter() - began
    console.print(
        f"[bold]predicted[/] {rows:,} rows in {seconds:.1f}s ({rows / seconds:,.1f} rows/s)",
        highlight=False,
    )
    typer.echo(f"written: {out}")
