"""Near-duplicate detection against held-out rows, so augmentation never leaks them into train.

A variant can land on (or next to) a validation or test sentence, e.g. when two reviews differ
by one word and synonym swap makes up the difference. Texts are compared as sets of lower-cased
word trigrams (whole token tuple for texts under three words); a Jaccard similarity of
THRESHOLD or more, or the same normalised text, counts as a near-duplicate. An inverted index
over the held-out trigrams keeps a lookup to the few held-out rows that share one.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

THRESHOLD = 0.8
TOKEN_RE = re.compile(r"\w+")


def shingles(text: str) -> frozenset[tuple[str, ...]]:
    tokens = TOKEN_RE.findall(text.lower())
    if len(tokens) < 3:
        return frozenset([tuple(tokens)])
    return frozenset(zip(tokens, tokens[1:], tokens[2:]))


class HeldOutIndex:
    """The held-out texts, indexed by word trigram."""

    def __init__(self, texts: list[str], threshold: float = THRESHOLD) -> None:
        self.threshold = threshold
        self.sizes: list[int] = []
        self.index: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for number, text in enumerate(texts):
            grams = shingles(text)
            self.sizes.append(len(grams))
            for gram in grams:
                self.index[gram].append(number)

    def __len__(self) -> int:
        return len(self.sizes)

    def is_near(self, text: str) -> bool:
        """True when `text` is a near-duplicate of some held-out text."""
        grams = shingles(text)
        shared = Counter(n for gram in grams for n in self.index.get(gram, ()))
        return any(
            count / (len(grams) + self.sizes[n] - count) >= self.threshold
            for n, count in shared.items()
        )
