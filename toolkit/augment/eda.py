"""EDA operations (Wei & Zou, 2019): random swap, random deletion, random synonym insertion.

Texts are split into words once (the separators are kept, so untouched spacing and punctuation
survive); each operation edits the word list with a `random.Random`, so a seed fixes the output.
Protected words (QA answer spans, `protect` phrases) are never moved, deleted or split by an
insertion, so the pipeline can find them again in the variant.
"""

from __future__ import annotations

from collections.abc import Iterable

from toolkit.augment.synonym import WORD_RE, Synonym, Variant, draw_count, locked_words


class WordEdit:
    """Base: split a text into separators and words, apply `edit` n times, join again."""

    name = "edit"
    protects_spans = True

    def __init__(self, p: float = 0.15, protect: Iterable[str] = ()) -> None:
        self.p = p
        self.protect = tuple(protect)

    @classmethod
    def from_step(cls, step) -> WordEdit:
        return cls(step.p, step.protect)

    def augment(self, texts: list[str], n: int, rng, protected=None) -> list[list[Variant]]:
        """`n` variants of each text; `rng` is a random.Random."""
        out = []
        for text, spans in zip(texts, protected or [()] * len(texts)):
            parts = WORD_RE.split(text)
            seps, words = parts[0::2], parts[1::2]
            locked = locked_words(parts, text, spans, self.protect)
            out.append([self.variant(text, seps, words, locked, rng) for _ in range(n)])
        return out

    def variant(self, text: str, seps: list[str], words: list[str], locked, rng) -> Variant:
        if len(words) - len(locked) < 2:  # too few free words to swap or delete safely
            return Variant(text, 0.0)
        fixed = [i in locked for i in range(len(words))]
        new_seps, new_words, changed = self.edit(seps.copy(), words.copy(), fixed, rng)
        joined = [piece for pair in zip(new_seps, new_words) for piece in pair]
        return Variant("".join(joined) + new_seps[-1], changed / len(words))

    def edit(self, seps, words, fixed, rng) -> tuple[list[str], list[str], int]:
        raise NotImplementedError  # each operation below defines it


class Swap(WordEdit):
    """Swap two random free words, about p * words times."""

    name = "swap"

    def edit(self, seps, words, fixed, rng):
        original = words.copy()
        free = [i for i, f in enumerate(fixed) if not f]
        for _ in range(draw_count(self.p, len(words), len(free), rng)):
            i, j = rng.sample(free, 2)
            words[i], words[j] = words[j], words[i]
        return seps, words, sum(a != b for a, b in zip(original, words))


class Delete(WordEdit):
    """Delete each free word with probability p (at least one, never all)."""

    name = "delete"

    def edit(self, seps, words, fixed, rng):
        free = [i for i, f in enumerate(fixed) if not f]
        doomed = [i for i in free if rng.random() < self.p] or [rng.choice(free)]
        doomed = doomed[: len(words) - 1]
        for i in sorted(doomed, reverse=True):
            del words[i]
            del seps[i if i > 0 else 1]  # the separator before the word; after it for the first
        return seps, words, len(doomed)


class Insert(WordEdit):
    """Insert a synonym of a random sentence word at a random place, about p * words times."""

    name = "insert"

    def __init__(self, p: float = 0.15, protect: Iterable[str] = ()) -> None:
        super().__init__(p, protect)
        self.source = Synonym(p)

    def edit(self, seps, words, fixed, rng):
        pool = [w for w in words if self.source.synonyms(w)]
        if not pool:
            return seps, words, 0
        count = draw_count(self.p, len(words), len(words), rng)
        for _ in range(count):
            # never between two words of one protected span (that would split the span)
            places = [
                a
                for a in range(len(words) + 1)
                if not (0 < a < len(words) and fixed[a - 1] and fixed[a])
            ]
            at = rng.choice(places)
            words.insert(at, rng.choice(self.source.synonyms(rng.choice(pool))))
            fixed.insert(at, False)
            seps.insert(at + 1 if at < len(words) - 1 else at, " ")
        return seps, words, count
