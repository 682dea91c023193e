"""WordNet synonym swap, with the synonym table built once per process instead of per lookup.

POS decision: no POS tagger. nlpaug's SynonymAug calls `nltk.pos_tag`, whose model
(`averaged_perceptron_tagger_eng`) no package registry ships. Instead each word gets the part of
speech WordNet itself says it most often has: the index files record, per (lemma, POS), how many
of its senses were seen in the sense-tagged SemCor corpus (`tagsense_cnt`). The synonyms are the
other lemmas of that POS's first senses (WordNet orders senses by frequency), at most
`SENSES` of them. This is a unigram tagger taken from WordNet: it misses words used in their
rarer POS, but it avoids the usual POS-free noise ("good" -> "commodity").

Speed: NLTK's reader parses a synset per lookup (≈ 7 s for all 117k); here the index and data
files are read once, as plain text (≈ 1-2 s), into a word -> synonyms table, and a sentence is
split into words once however many variants it yields.

Quality check (assets/polarity.csv, seed 0): "a good film" -> "a beneficial film",
"a full film", "a good picture"; "the acting is terrible" -> "the acting is awful" /
"the acting is frightful"; "movies" (inflected) is looked up via NLTK's morphy as "movie".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple

SENSES = 3
POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
# A word: letters, with inner apostrophes or hyphens ("don't", "well-made"). The capturing
# group makes re.split keep the separators, so joining the parts gives back the text exactly.
WORD_RE = re.compile(r"([A-Za-z]+(?:['-][A-Za-z]+)*)")
MARKER_RE = re.compile(r"\([a-z]+\)$")  # adjective position markers such as "(p)" in data.adj
FALLBACK_STOPWORDS = frozenset(
    "a about above after again against all am an and any are as at be because been before being "
    "below between both but by can could did do does doing down during each few for from further "
    "had has have having he her here hers herself him himself his how i if in into is it its "
    "itself just me more most my myself no nor not now of off on once only or other our ours "
    "ourselves out over own same she should so some such than that the their theirs them "
    "themselves then there these they this those through to too under until up very was we were "
    "what when where which while who whom why will with would you your yours yourself".split()
)


class Variant(NamedTuple):
    """One augmented text and the share of its original words that changed."""

    text: str
    edit_rate: float


def stopwords() -> frozenset[str]:
    """NLTK's English stop words when installed offline, else a built-in list of the same kind."""
    try:
        from nltk.corpus import stopwords as corpus

        return frozenset(corpus.words("english"))
    except LookupError:
        return FALLBACK_STOPWORDS


def read_lines(root, name: str) -> Iterable[str]:
    """Text lines of one WordNet file under an NLTK path pointer (folder or zip)."""
    with root.join(name).open() as handle:
        for raw in handle:
            line = raw.decode("utf-8") if isinstance(raw, bytes) else raw
            if not line.startswith("  "):  # the licence header lines start with two spaces
                yield line


def read_index(root) -> dict[str, tuple[int, str, list[str]]]:
    """lemma -> (tagged-sense count, POS, first synset offsets) of its most frequent POS."""
    best: dict[str, tuple[int, str, list[str]]] = {}
    for pos, name in POS_FILES.items():
        for line in read_lines(root, f"index.{name}"):
            fields = line.split()
            synset_cnt, ptr_cnt = int(fields[2]), int(fields[3])
            tagged = int(fields[5 + ptr_cnt])
            offsets = fields[6 + ptr_cnt : 6 + ptr_cnt + synset_cnt]
            if fields[0] not in best or tagged > best[fields[0]][0]:
                best[fields[0]] = (tagged, pos, offsets[:SENSES])
    return best


def read_synsets(root, wanted: dict[str, set[str]]) -> dict[tuple[str, str], list[str]]:
    """(POS, offset) -> lemma names, for the wanted offsets only."""
    lemmas: dict[tuple[str, str], list[str]] = {}
    for pos, name in POS_FILES.items():
        keep = wanted[pos]
        for line in read_lines(root, f"data.{name}"):
            offset = line[:8]
            if offset in keep:
                fields = line.split(maxsplit=4 + 2 * int(line.split(maxsplit=4)[3], 16))
                words = fields[4:-1:2]
                lemmas[(pos, offset)] = [MARKER_RE.sub("", w).replace("_", " ") for w in words]
    return lemmas


@lru_cache(maxsize=1)
def synonym_table() -> dict[str, tuple[str, ...]]:
    """lemma -> synonyms (other lemmas of its most frequent POS's first senses), built once."""
    from toolkit.augment.wordnet_assets import wordnet_root

    root = wordnet_root()  # ToolkitError naming the make target when WordNet is missing
    index = read_index(root)
    wanted: dict[str, set[str]] = {pos: set() for pos in POS_FILES}
    for _, pos, offsets in index.values():
        wanted[pos].update(offsets)
    lemmas = read_synsets(root, wanted)
    table = {}
    for lemma, (_, pos, offsets) in index.items():
        plain = lemma.replace("_", " ")
        found = dict.fromkeys(w for o in offsets for w in lemmas.get((pos, o), []))
        found = [w for w in found if w.lower() != plain]
        if found:
            table[lemma] = tuple(found)
    return table


# WordNet's detachment rules (as in NLTK's morphy), so inflected words find their lemma.
SUFFIXES = (
    ("ies", "y"), ("ses", "s"), ("xes", "x"), ("ches", "ch"), ("shes", "sh"), ("men", "man"),
    ("es", "e"), ("es", ""), ("s", ""), ("ed", "e"), ("ed", ""), ("ing", "e"), ("ing", ""),
    ("er", ""), ("est", ""),
)  # fmt: skip


def lookup(word: str, table: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    """Synonyms of a lower-case word, trying its base forms when the word itself is not a lemma."""
    if word in table:
        return table[word]
    for suffix, ending in SUFFIXES:
        if word.endswith(suffix) and word[: -len(suffix)] + ending in table:
            return table[word[: -len(suffix)] + ending]
    return ()


def align_case(original: str, new: str) -> str:
    """Give the substitute the original's capitalisation (Title or UPPER)."""
    if original.isupper() and len(original) > 1:
        return new.upper()
    new = new.lower()  # WordNet capitalises proper names ("Arnold"); nlpaug lower-cases too
    return new[:1].upper() + new[1:] if original[:1].isupper() else new


def locked_words(parts: list[str], text: str, spans, phrases) -> set[int]:
    """Indices (into parts[1::2]) of the words that overlap a protected span or phrase."""
    spans = list(spans or ())
    for phrase in phrases:
        pattern = r"(?<![A-Za-z])" + re.escape(phrase) + r"(?![A-Za-z])"
        spans += [m.span() for m in re.finditer(pattern, text, flags=re.IGNORECASE)]
    if not spans:
        return set()
    locked, offset = set(), 0
    for i, part in enumerate(parts):
        if i % 2 and any(start < offset + len(part) and offset < end for start, end in spans):
            locked.add(i // 2)
        offset += len(part)
    return locked


def draw_count(rate: float, words: int, available: int, rng) -> int:
    """Stochastically rounded rate*words (so the mean edit rate is the rate), 1..available."""
    wanted = int(rate * words + rng.random())
    return min(max(wanted, 1), available)


class WordMethod:
    """Base of the methods that edit about `p` of a text's words, one text at a time, never
    touching protected spans or `protect` phrases; subclasses define `variants`."""

    name = "word"
    protects_spans = True

    def __init__(self, p: float = 0.15, protect: Iterable[str] = ()) -> None:
        self.p = p
        self.protect = tuple(protect)

    @classmethod
    def from_step(cls, step) -> WordMethod:
        return cls(step.p, step.protect)

    def augment(self, texts: list[str], n: int, rng, protected=None) -> list[list[Variant]]:
        """`n` variants of each text; `rng` is a random.Random (the only source of randomness)."""
        spans = protected or [()] * len(texts)
        return [self.variants(text, n, rng, found) for text, found in zip(texts, spans)]

    def editable(self, word: str) -> bool:
        raise NotImplementedError  # each method says which words it can change

    def replace(self, word: str, rng) -> str:
        raise NotImplementedError  # ... and what it changes one into

    def variants(self, text: str, n: int, rng, spans=()) -> list[Variant]:
        parts = WORD_RE.split(text)  # split once, however many variants
        words = len(parts) // 2
        locked = locked_words(parts, text, spans, self.protect)
        slots = [
            i for i in range(1, len(parts), 2) if i // 2 not in locked and self.editable(parts[i])
        ]
        out = []
        for _ in range(n):
            if not slots:
                out.append(Variant(text, 0.0))
                continue
            new = parts.copy()
            chosen = rng.sample(slots, draw_count(self.p, words, len(slots), rng))
            for i in chosen:
                new[i] = self.replace(parts[i], rng)
            changed = sum(new[i] != parts[i] for i in chosen)
            out.append(Variant("".join(new), changed / words))
        return out


class Synonym(WordMethod):
    """Replace a share `p` of the words (stop words and protected words kept) by a synonym."""

    name = "synonym"

    def __init__(self, p: float = 0.15, protect: Iterable[str] = ()) -> None:
        super().__init__(p, protect)
        self.table = synonym_table()
        self.stop = stopwords()
        self.cache: dict[str, tuple[str, ...]] = {}  # per word form, across the whole corpus

    def synonyms(self, word: str) -> tuple[str, ...]:
        key = word.lower()
        if key not in self.cache:
            self.cache[key] = () if key in self.stop else lookup(key, self.table)
        return self.cache[key]

    def editable(self, word: str) -> bool:
        return bool(self.synonyms(word))

    def replace(self, word: str, rng) -> str:
        return align_case(word, rng.choice(self.synonyms(word)))
