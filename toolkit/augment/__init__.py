"""Training-data augmentation methods, by name (`toolkit augment --method NAME`)."""

from __future__ import annotations

import difflib
import importlib

from toolkit.errors import ToolkitError

# name -> "module:Class"; imported only when chosen, so listing names loads no NLTK.
METHODS = {
    "synonym": "toolkit.augment.synonym:Synonym",
    "swap": "toolkit.augment.eda:Swap",
    "delete": "toolkit.augment.eda:Delete",
    "insert": "toolkit.augment.eda:Insert",
}


def check_method(name: str) -> None:
    """Raise a ToolkitError listing the known methods, with a did-you-mean, for unknown names."""
    if name in METHODS:
        return
    close = difflib.get_close_matches(name, METHODS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ToolkitError(f"--method: unknown method {name!r} (known: {', '.join(METHODS)}){hint}")


def get_method(name: str, p: float):
    """An augmenter instance for a method name and edit rate."""
    check_method(name)
    module, cls = METHODS[name].split(":")
    return getattr(importlib.import_module(module), cls)(p)
