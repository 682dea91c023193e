"""`toolkit export`: a trained run as an ONNX or CTranslate2 model for other inference engines."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from toolkit.cli.app import app, friendly_errors, quiet_libraries
from toolkit.errors import ToolkitError, shorten

FORMATS = {
    "onnx": "classification and extractive QA",
    "ctranslate2": "translation and generation",
}


@app.command(name="export")
@friendly_errors
def export_(
    run_dir: Annotated[Path, typer.Argument(help="Run directory to export.")],
    format_: Annotated[
        str | None,
        typer.Option("--format", help="onnx (classification, extractive QA) or ctranslate2."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write the export folder; default RUN/exports/FORMAT."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing export folder.")] = False,
) -> None:
    """Export a run's model for ONNX Runtime or CTranslate2 (`toolkit predict` runs either)."""
    if format_ not in FORMATS:
        choices = "; ".join(f"{name} ({serves})" for name, serves in FORMATS.items())
        said = "is required" if format_ is None else f"{shorten(format_)} is not a format"
        raise ToolkitError(f"--format {said}; choose {choices}")
    quiet_libraries()
    if format_ == "onnx":
        from toolkit.export.onnx import export_onnx

        written = export_onnx(run_dir, out, overwrite)
    else:
        written = ctranslate2_exporter()(run_dir, out, overwrite=overwrite)
    typer.echo(f"written: {written}")


def ctranslate2_exporter():
    """`toolkit.export.ctranslate2.export_ctranslate2`, or a clean error where it is missing."""
    try:
        from toolkit.export.ctranslate2 import export_ctranslate2
    except ModuleNotFoundError as exc:
        if exc.name != "toolkit.export.ctranslate2":
            raise
        raise ToolkitError("ctranslate2 export: not available") from None
    return export_ctranslate2
