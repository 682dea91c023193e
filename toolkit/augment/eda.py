"""EDA operations (Wei & Zou, 2019): random swap, random deletion, random synonym insertion.

Texts are split into words once (the separators are kept, so untouched spacing and punctuation
survive); each operation edits the word list with a `random.Random`, so a seed fixes the output.
"""

from __future__ import annotations

from toolkit.augment.synonym import WORD_RE, Synonym, Variant, draw_count


class WordEdit:
    """Base: split a text into separators and words, apply `edit` n times, join again."""

    name = "edit"

    def __init__(self, p: float = 0.15) -> None:
        self.p = p

    def augment(self, texts: list[str], n: int, rng) -> list[list[Variant]]:
        """`n` variants of each text; `rng` is a random.Random."""
        out = []
        for text in texts:
            parts = WORD_RE.split(text)
            seps, words = parts[0::2], parts[1::2]
            out.append([self.variant(text, seps, words, rng) for _ in range(n)])
        return out

    def variant(self, text: str, seps: list[str], words: list[str], rng) -> Variant:
        if len(words) < 2:  # nothing to swap, and deleting the only word leaves no text
            return Variant(text, 0.0)
        new_seps, new_words, changed = self.edit(seps.copy(), words.copy(), rng)
        joined = [piece for pair in zip(new_seps, new_words) for piece in pair]
        return Variant("".join(joined) + new_seps[-1], changed / len(words))

    def edit(self, seps: list[str], words: list[str], rng) -> tuple[list[str], list[str], int]:
        raise NotImplementedError  # each operation below defines it


class Swap(WordEdit):
    """Swap two random words, about p * words times."""

    name = "swap"

    def edit(self, seps, words, rng):
        original = words.copy()
        for _ in range(draw_count(self.p, len(words), len(words), rng)):
            i, j = rng.sample(range(len(words)), 2)
            words[i], words[j] = words[j], words[i]
        return seps, words, sum(a != b for a, b in zip(original, words))


class Delete(WordEdit):
    """Delete each word with probability p (at least one, never all)."""

    name = "delete"

    def edit(self, seps, words, rng):
        doomed = [i for i in range(len(words)) if rng.random() < self.p]
        doomed = doomed or [rng.randrange(len(words))]
        doomed = doomed[: len(words) - 1]
        for i in sorted(doomed, reverse=True):
            del words[i]
            del seps[i if i > 0 else 1]  # the separator before the word; after it for the first
        return seps, words, len(doomed)


class Insert(WordEdit):
    """Insert a synonym of a random sentence word at a random place, about p * words times."""

    name = "insert"

    def __init__(self, p: float = 0.15) -> None:
        super().__init__(p)
        self.source = Synonym(p)

    def edit(self, seps, words, rng):
        pool = [w for w in words if self.source.synonyms(w)]
        if not pool:
            return seps, words, 0
        count = draw_count(self.p, len(words), len(words), rng)
        for _ in range(count):
            at = rng.randrange(len(words) + 1)
            words.insert(at, rng.choice(self.source.synonyms(rng.choice(pool))))
            seps.insert(at + 1 if at < len(words) - 1 else at, " ")
        return seps, words, count
