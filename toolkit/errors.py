"""The one exception type for bad input; the CLI turns it into a short message and exit code 2."""

from __future__ import annotations


class ToolkitError(Exception):
    """A problem with the user's input (recipe, data, model path, output dir).

    The message is shown as-is, so it must name the file, key, column or row and say what to do.
    """
