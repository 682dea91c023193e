"""Synonym-swap throughput: toolkit's augmenter vs a plain nlpaug loop.

Measures, on assets/polarity.csv (4,000 sentences, from `make assets`) with aug_p=0.15:
  - toolkit: `toolkit.augment` Synonym(0.15).augment(texts, 1, rng), one call for the corpus;
  - nlpaug:  a loop calling SynonymAug(aug_p=0.15).augment(sentence) per sentence. nlpaug wants
    NLTK's POS tagger model, which no registry ships, so its tagger is replaced by an empty tag
    (nlpaug then searches every POS).
Both are warmed up first (WordNet loading is excluded). Prints sentences/s of both, the ratio and
both mean edit rates (share of words changed).

Run: make assets && .venv/bin/python bench/bench_augment.py [SENTENCES]
"""

from __future__ import annotations

import csv
import random
import statistics
import sys
import time

from toolkit.augment.synonym import WORD_RE, Synonym
from toolkit.augment.wordnet_assets import add_data_dirs


def edit_rate(before: str, after: str) -> float:
    """Share of word positions whose word differs (substitution keeps positions)."""
    old, new = WORD_RE.findall(before), WORD_RE.findall(after.lower())
    if len(old) != len(new):  # a multi-word synonym: count the length change as edits
        return min(1.0, abs(len(new) - len(old) + 1) / max(len(old), 1))
    return sum(a.lower() != b for a, b in zip(old, new)) / max(len(old), 1)


def nlpaug_loop(texts: list[str]) -> tuple[float, list[str]]:
    import nlpaug.augmenter.word as naw
    import nlpaug.model.word_dict as nmw

    nmw.WordNet.pos_tag = classmethod(lambda cls, tokens: [(t, "") for t in tokens])
    aug = naw.SynonymAug(aug_p=0.15)
    aug.augment(texts[0])  # warm-up: loads WordNet
    start = time.perf_counter()
    out = [aug.augment(text)[0] for text in texts]
    return time.perf_counter() - start, out


def toolkit_path(texts: list[str]) -> tuple[float, list[str]]:
    aug = Synonym(0.15)  # builds the synonym table (reported separately)
    start = time.perf_counter()
    variants = aug.augment(texts, 1, random.Random(0))
    return time.perf_counter() - start, [v.text for [v] in variants]


def main(limit: int) -> None:
    with open("assets/polarity.csv", encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)][:limit]
    add_data_dirs()
    start = time.perf_counter()
    Synonym(0.15)
    print(f"toolkit synonym table: {time.perf_counter() - start:.2f} s (once per process)")
    results = {"nlpaug loop": nlpaug_loop(texts), "toolkit": toolkit_path(texts)}
    for name, (seconds, out) in results.items():
        rate = statistics.mean(edit_rate(a, b) for a, b in zip(texts, out))
        print(f"{name:12} {len(texts) / seconds:10,.0f} sentences/s  mean edit rate {rate:.3f}")
    ratio = results["nlpaug loop"][0] / results["toolkit"][0]
    print(f"speed-up: {ratio:.1f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 4000)
