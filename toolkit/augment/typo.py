"""Character typos: keyboard-neighbour substitutions, swapped, dropped and doubled letters.

About `p` of the words of a text get one typo each (the count is stochastically rounded, as for
the other word-level methods, so the mean edit rate is `p`). Neighbours come from a QWERTY
layout with its rows staggered by half a key. Protected spans and `protect` phrases are never
touched; words of a single letter are left alone (a dropped letter would delete the word).
Used by `toolkit eval --perturb typo` and as a training augmentation method (`method: typo`).
"""

from __future__ import annotations

from toolkit.augment.synonym import WORD_RE, WordMethod

ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")


def keyboard_neighbours() -> dict[str, str]:
    """letter -> the letters next to it on a QWERTY keyboard (same row, and the rows around)."""
    place = {
        key: (row, col + row / 2) for row, keys in enumerate(ROWS) for col, key in enumerate(keys)
    }
    return {
        key: "".join(
            other
            for other, (row2, x2) in place.items()
            if other != key
            and (
                (row2 == row and abs(x2 - x) == 1) or (abs(row2 - row) == 1 and abs(x2 - x) <= 0.5)
            )
        )
        for key, (row, x) in place.items()
    }


NEIGHBOURS = keyboard_neighbours()


def letters(word: str) -> list[int]:
    return [i for i, char in enumerate(word) if char.isalpha()]


def substitute(word: str, rng) -> str:
    places = [i for i in letters(word) if word[i].lower() in NEIGHBOURS]
    if not places:
        return word
    i = rng.choice(places)
    new = rng.choice(NEIGHBOURS[word[i].lower()])
    return word[:i] + (new.upper() if word[i].isupper() else new) + word[i + 1 :]


def swap(word: str, rng) -> str:
    places = [i for i in letters(word)[:-1] if word[i + 1].isalpha() and word[i] != word[i + 1]]
    if not places:
        return word
    i = rng.choice(places)
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def drop(word: str, rng) -> str:
    i = rng.choice(letters(word))
    return word[:i] + word[i + 1 :]


def double(word: str, rng) -> str:
    i = rng.choice(letters(word))
    return word[: i + 1] + word[i:]


OPERATIONS = (substitute, swap, drop, double)


def typo(word: str, rng) -> str:
    """The word with one typo, of a random kind (another kind when one cannot change it)."""
    for operation in rng.sample(OPERATIONS, len(OPERATIONS)):
        new = operation(word, rng)
        if new != word and WORD_RE.fullmatch(new):  # still one word ("doesn'" is not)
            return new
    return word


class Typo(WordMethod):
    """One character-level typo in about `p` of the words (protected words kept)."""

    name = "typo"

    def editable(self, word: str) -> bool:
        return len(word) > 1

    def replace(self, word: str, rng) -> str:
        return typo(word, rng)
