"""The one exception type for bad input; the CLI turns it into a short message and exit code 2."""

from __future__ import annotations


class ToolkitError(Exception):
    """A problem with the user's input (recipe, data, model path, output dir).

    The message is shown as-is, so it must name the file, key, column or row and say what to do.
    """


def shorten(value: object, limit: int = 48) -> str:
    """`repr(value)` cut to about `limit` characters, so no input of any size (a 10 MB string, a
    deeply nested list) makes a message long; containers are cut before they are rendered."""
    import reprlib

    cutter = reprlib.Repr()
    cutter.maxstring = cutter.maxother = limit
    cutter.maxlevel, cutter.maxlist, cutter.maxdict = 3, 6, 4
    try:
        text = cutter.repr(value)
    except ValueError:  # an int too long to write out (over 4,300 digits)
        text = f"<a number of {value.bit_length() if isinstance(value, int) else '?'} bits>"
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
