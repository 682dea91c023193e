"""The typer app every command registers on, and the one rule all of them share: a
ToolkitError becomes a one- or two-line message and exit code 2, never a traceback."""

from __future__ import annotations

import functools

import typer

from toolkit.errors import ToolkitError
from toolkit.launch import is_main_process, relaunched

# Help is click's plain layout, not typer's rich panels. Typer lays the options out as a rich
# Table of five unsized columns (name, --no-name, short forms, type, help); when they do not fit,
# rich's Table._collapse_widths shrinks the widest columns to equal widths regardless of their
# longest word, so at 80 columns an option name was cut (`--accelerate-conf…`). Click never
# cuts a name: a long one gets its help on the next line. It also needs no rich import.
app = typer.Typer(
    help="Fine-tune BERT-, GPT-2- and T5-family models from a YAML recipe.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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
