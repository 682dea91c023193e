"""The typer app every command registers on, and the one rule all of them share: a
ToolkitError becomes a one- or two-line message and exit code 2, never a traceback."""

from __future__ import annotations

import functools

import typer

from toolkit.errors import ToolkitError
from toolkit.launch import is_main_process, relaunched

app = typer.Typer(
    help="Fine-tune BERT-, GPT-2- and T5-family models from a YAML recipe.",
    add_completion=False,
    pretty_exceptions_enable=False,
)


def friendly_errors(command):
    """Turn ToolkitError into a one- or two-line message and exit code 2, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ToolkitError as exc:
            if is_main_process() or not relaunched():  # the main one says it for all processes
                typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None

    return wrapper


def main() -> None:  # pragma: no cover
    app()


def quiet_libraries() -> None:
    """toolkit.console's, imported only when a command runs: rich's console is not needed for
    `toolkit --help`, which must stay fast."""
    from toolkit.console import quiet_libraries as quiet

    quiet()
