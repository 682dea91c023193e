"""T5-style span corruption: random spans of a block become sentinels in the input, and the
target lists each sentinel followed by the tokens it hid, then EOS.

Example (noise in brackets): `a b [c d] e [f]` → input `a b <extra_id_0> e <extra_id_1> </s>`,
target `<extra_id_0> c d <extra_id_1> f </s>`.
"""

from __future__ import annotations

from itertools import count, takewhile
from typing import Any

import numpy as np

from toolkit.errors import ToolkitError
from toolkit.tasks import text_to_text as t2t


def sentinel_ids(tokenizer: Any) -> list[int]:
    """Ids of `<extra_id_0>`, `<extra_id_1>`, … in order, up to the first one missing."""
    vocab = tokenizer.get_vocab()
    names = takewhile(lambda name: name in vocab, (f"<extra_id_{k}>" for k in count()))
    ids = [vocab[name] for name in names]
    if not ids:
        raise ToolkitError(
            "task.objective: span-corruption needs sentinel tokens <extra_id_0>, <extra_id_1>, … "
            "in the tokenizer (T5 checkpoints and model.scratch t5 have them); this one has none"
        )
    return ids


def segment(total: int, parts: int, rng: np.random.Generator) -> list[int]:
    """`total` split into `parts` positive lengths at random cut points."""
    cuts = np.sort(rng.choice(np.arange(1, total), parts - 1, replace=False))
    return np.diff([0, *cuts.tolist(), total]).tolist()


def noise_mask(
    length: int, density: float, mean_span: float, rng: np.random.Generator, max_spans: int
) -> list[bool]:
    """Which of `length` tokens to hide: about `density` of them, in spans of mean `mean_span`,
    alternating kept and hidden runs (kept first), as in the T5 paper."""
    noise = min(max(round(length * density), 1), length - 1)
    spans = min(max(round(noise / mean_span), 1), noise, length - noise, max_spans)
    mask: list[bool] = []
    for keep, hide in zip(segment(length - noise, spans, rng), segment(noise, spans, rng)):
        mask += [False] * keep + [True] * hide
    return mask


class SpanCorruptionCollator:
    """Corrupts each block afresh per batch (a new draw every epoch), from a seeded generator
    so that a run is reproducible under its seed; then pads like any text-to-text batch."""

    def __init__(self, tokenizer: Any, noise_density: float, mean_span_length: float, seed: int):
        self.tokenizer = tokenizer
        self.sentinels = sentinel_ids(tokenizer)
        self.density = noise_density
        self.mean_span = mean_span_length
        self.rng = np.random.default_rng(seed)
        self.pad = t2t.collator(tokenizer)

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        return self.pad([self.corrupt(list(f["input_ids"])) for f in features])

    def corrupt(self, ids: list[int]) -> dict[str, list[int]]:
        """Input and target ids for one block of at least two tokens."""
        mask = noise_mask(len(ids), self.density, self.mean_span, self.rng, len(self.sentinels))
        inputs: list[int] = []
        labels: list[int] = []
        span, hiding = -1, False
        for token, hidden in zip(ids, mask):
            if hidden and not hiding:  # a span starts: one sentinel stands for all of it
                span += 1
                inputs.append(self.sentinels[span])
                labels.append(self.sentinels[span])
            (labels if hidden else inputs).append(token)
            hiding = hidden
        eos = self.tokenizer.eos_token_id
        inputs.append(eos)
        labels.append(eos)
        return {"input_ids": inputs, "attention_mask": [1] * len(inputs), "labels": labels}
