"""Training-data augmentation methods, by name (`toolkit augment --method NAME`).

Every method is a class built from its validated recipe step (toolkit/recipe/augment.py) with

    augment(texts, n, rng, protected=None) -> list[list[Variant]]

`n` variants per text (fewer or identical ones are allowed: the pipeline drops duplicates), `rng`
a `random.Random` that is the only source of randomness, `protected` optional per-text lists of
(start, end) character spans that must come through unchanged. Methods that can honour them set
`protects_spans = True`; for the others the pipeline re-finds the spans in the output.
"""

from __future__ import annotations

import difflib
import importlib
import random
from typing import TYPE_CHECKING, Protocol

from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from toolkit.augment.synonym import Variant


class Augmenter(Protocol):
    """What every method class provides (see the module docstring)."""

    protects_spans: bool

    def augment(
        self, texts: list[str], n: int, rng: random.Random,
        protected: list[list[tuple[int, int]]] | None = None,
    ) -> list[list[Variant]]: ...  # fmt: skip


# name -> "module:Class"; imported only when chosen, so listing names loads no NLTK or torch.
METHODS = {
    "synonym": "toolkit.augment.synonym:Synonym",
    "swap": "toolkit.augment.eda:Swap",
    "delete": "toolkit.augment.eda:Delete",
    "insert": "toolkit.augment.eda:Insert",
    "typo": "toolkit.augment.typo:Typo",
    "back_translation": "toolkit.augment.back_translation:BackTranslation",
    "contextual": "toolkit.augment.contextual:Contextual",
}


def check_method(name: str) -> None:
    """Raise a ToolkitError listing the known methods, with a did-you-mean, for unknown names."""
    if name in METHODS:
        return
    close = difflib.get_close_matches(name, METHODS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ToolkitError(f"--method: unknown method {name!r} (known: {', '.join(METHODS)}){hint}")


def get_method(step) -> Augmenter:
    """An augmenter built from a validated step (WordStep, BackTranslationStep, ...)."""
    check_method(step.method)
    module, cls = METHODS[step.method].split(":")
    return getattr(importlib.import_module(module), cls).from_step(step)
