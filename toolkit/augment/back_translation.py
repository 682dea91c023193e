"""Back-translation: translate each text to a pivot language and back, as paraphrase variants.

Engines (`step.engine`):
  - apertium: rule-based and offline; needs the Debian packages `apertium` and the pair's data,
    e.g. `apt-get install apertium apertium-eng-spa` for en<->es. All texts go through ONE
    `apertium` process per direction, separated by blank lines: apertium's text deformatter treats
    a blank line as a sentence end, so transfer rules never move words across texts (a single
    newline is only a space to it: "the big\\nred dog" comes out as "el perro\\nrojo grande").
    `-u` drops the `*`/`#`/`@` marks of unknown words. It is deterministic: with n > 1 every
    variant is the same text (the pipeline drops the duplicates).
  - neural: a seq2seq checkpoint pair (forward_model source->pivot, backward_model pivot->source,
    hub ids or local dirs; e.g. Helsinki-NLP/opus-mt-en-es and opus-mt-es-en). Texts are sorted
    by token length and translated in batches of `batch_size`, so each batch pads only to its own
    longest text instead of the longest of the data set, and no batch decodes for long after its
    own translations ended; the order is restored afterwards. Each translation is bounded by
    `max_length` and by a multiple of its input length. `backend` (toolkit/augment/seq2seq.py):
    CTranslate2 on the same checkpoint, converted once (auto, when it converts the architecture),
    or transformers' generate; CUDA (bf16/fp16) when available. n == 1: deterministic (greedy, or
    beam search with num_beams > 1) both ways. n > 1: the forward pass stays deterministic and
    the backward pass samples n translations per text (top_p 0.9), seeded from `rng`, so a seed
    fixes the output.

edit_rate: word-level Levenshtein distance (lower-cased word tokens) / original words, capped at 1.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from typing import Any

from toolkit.augment.seq2seq import first_line
from toolkit.augment.synonym import Variant
from toolkit.errors import ToolkitError

# ISO 639-1 -> the ISO 639-3 codes of current Apertium modes. Older Debian pairs (apertium-fr-es,
# apertium-en-gl, ...) still name their modes with the 2-letter codes, so both spellings are tried.
APERTIUM_CODES = {
    "af": "afr", "an": "arg", "ar": "ara", "be": "bel", "bg": "bul", "br": "bre",
    "ca": "cat", "cs": "ces", "cy": "cym", "da": "dan", "de": "deu", "en": "eng", "eo": "epo",
    "es": "spa", "eu": "eus", "fr": "fra", "ga": "gle", "gl": "glg", "hi": "hin", "id": "ind",
    "is": "isl", "it": "ita", "kk": "kaz", "mk": "mkd", "ms": "zlm", "mt": "mlt", "nb": "nob",
    "nl": "nld", "nn": "nno", "no": "nor", "oc": "oci", "pl": "pol", "pt": "por", "ro": "ron",
    "ru": "rus", "sc": "srd", "sh": "hbs", "sl": "slv", "sv": "swe", "tr": "tur", "uk": "ukr",
    "ur": "urd",
}  # fmt: skip
TOKEN_RE = re.compile(r"\w+(?:['-]\w+)*")
# Real translations rarely exceed twice their input; without this bound a model that misses
# EOS decodes up to max_length for every batch.
LENGTH_FACTOR, LENGTH_SLACK = 2, 8


def edit_rate(before: str, after: str) -> float:
    """Word-level Levenshtein distance / number of original words, capped at 1."""
    old, new = TOKEN_RE.findall(before.lower()), TOKEN_RE.findall(after.lower())
    row = list(range(len(new) + 1))
    for i, word in enumerate(old, 1):
        prev, row[0] = row[0], i
        for j, other in enumerate(new, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (word != other))
    return min(1.0, row[-1] / len(old)) if old else float(bool(new))


class Apertium:
    """Round trips through the `apertium` command, one process per direction."""

    def __init__(self, source: str, pivot: str) -> None:
        a, b = (APERTIUM_CODES.get(code, code) for code in (source, pivot))
        if shutil.which("apertium") is None:
            raise ToolkitError(
                "back_translation: the apertium command is not installed; install the Debian "
                f"packages apertium and the pair's data: apt-get install apertium apertium-{a}-{b}"
            )
        installed = self.modes()
        self.modes_used = [self.mode(x, y, installed) for x, y in ((a, b), (b, a))]

    @staticmethod
    def modes() -> list[str]:
        """The installed translation directions (`apertium -l`)."""
        done = subprocess.run(["apertium", "-l"], capture_output=True, text=True)
        return done.stdout.split()

    @staticmethod
    def mode(a: str, b: str, installed: list[str]) -> str:
        """The installed mode for a -> b, by 3- or 2-letter codes, or a ToolkitError."""
        short = {v: k for k, v in APERTIUM_CODES.items()}
        names = dict.fromkeys((f"{a}-{b}", f"{short.get(a, a)}-{short.get(b, b)}"))
        found = [name for name in names if name in installed]
        if found:
            return found[0]
        raise ToolkitError(
            f"back_translation: no Apertium mode {' or '.join(names)} (installed: "
            f"{', '.join(installed) or 'none'}); install the pair, e.g. apt-get install "
            f"apertium-{a}-{b} (apt-cache search '^apertium-' lists the pairs)"
        )

    @staticmethod
    def run(texts: list[str], mode: str) -> list[str]:
        """Translate texts in one process; a blank line keeps each text a sentence of its own."""
        done = subprocess.run(
            ["apertium", "-u", mode], input="\n\n".join(texts) + "\n", capture_output=True,
            text=True,
        )  # fmt: skip
        if done.returncode != 0:
            problem = first_line(done.stderr, f"exit code {done.returncode}")
            raise ToolkitError(f"back_translation: apertium {mode} failed: {problem}")
        return [" ".join(part.split()) for part in done.stdout.split("\n\n")]

    def translate(self, texts: list[str], mode: str) -> list[str]:
        """Translations aligned with texts; empty texts stay empty."""
        # A newline inside a text would be only a space to apertium but would break the blank
        # line separators, so every whitespace run becomes one space.
        flat = [" ".join(text.split()) for text in texts]
        keep = [i for i, text in enumerate(flat) if text]
        out = self.run([flat[i] for i in keep], mode) if keep else []
        if len(out) != len(keep):  # never seen; if it happens, stay correct at the cost of speed
            out = [self.run([flat[i]], mode)[0] for i in keep]
        result = [""] * len(texts)
        for i, text in zip(keep, out):
            result[i] = text
        return result

    def round_trip(self, texts: list[str]) -> list[str]:
        back = self.translate(self.translate(texts, self.modes_used[0]), self.modes_used[1])
        # Apertium capitalises every sentence start; keep a lower-case original lower-case.
        return [b[:1].lower() + b[1:] if t[:1].islower() else b for t, b in zip(texts, back)]


class Neural:
    """A forward and a backward seq2seq model, loaded once, translating length-sorted batches."""

    def __init__(self, step: Any) -> None:
        from toolkit.augment.seq2seq import load_seq2seq

        self.batch_size, self.num_beams = step.batch_size, step.num_beams
        self.max_length = step.max_length
        self.models = {
            which: load_seq2seq(f"{which}_model", getattr(step, f"{which}_model"), step.backend,
                                step.int8, getattr(step, "trust_remote_code", False))
            for which in ("forward", "backward")
        }  # fmt: skip

    def translate(self, texts: list[str], which: str, n: int = 1) -> list[list[str]]:
        """n translations per text, in the texts' order."""
        from toolkit.augment.seq2seq import Decoding

        model = self.models[which]
        tokenizer, decoding = model.tokenizer, Decoding(n, self.num_beams)
        positions = getattr(model.config, "max_position_embeddings", None) or 10**6
        limit = min(tokenizer.model_max_length, positions)
        cap = min(self.max_length, positions - 1)  # the decoder start token takes one position
        # Where generate forces EOS as the last token (Marian's forced_eos_token_id), a row that
        # reaches its bound holds one text token less; both backends are held to that.
        forced = model.generation_config.forced_eos_token_id is not None
        ids = tokenizer(texts, truncation=True, max_length=limit)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: len(ids[i]))
        out: list[list[str]] = [[] for _ in texts]
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            bounds = [min(cap, LENGTH_FACTOR * len(ids[i]) + LENGTH_SLACK) for i in chunk]
            rows = model.generate([ids[i] for i in chunk], max(bounds) - forced, decoding)
            # Cut each row at its own text's bound, so an output does not depend on which texts
            # share its batch.
            rows = [row[: bounds[k // n] - forced] for k, row in enumerate(rows)]
            decoded = tokenizer.batch_decode(rows, skip_special_tokens=True)
            for j, i in enumerate(chunk):
                out[i] = [text.strip() for text in decoded[j * n : (j + 1) * n]]
        return out

    def round_trip(self, texts: list[str], n: int, rng: random.Random) -> list[list[str]]:
        pivot = [variants[0] for variants in self.translate(texts, "forward")]
        if n == 1:
            return self.translate(pivot, "backward")
        with self.models["backward"].seeded(rng.getrandbits(63)):
            return self.translate(pivot, "backward", n)


class BackTranslation:
    """Round trip through a pivot language (see the module docstring for the engines)."""

    name = "back_translation"
    protects_spans = False

    def __init__(self, engine: Apertium | Neural) -> None:
        self.engine = engine

    @classmethod
    def from_step(cls, step: Any) -> BackTranslation:
        """Build from a validated BackTranslationStep; checks the engine's install at once."""
        if step.engine == "apertium":
            return cls(Apertium(step.source_lang, step.pivot))
        return cls(Neural(step))

    def augment(
        self, texts: list[str], n: int, rng: random.Random, protected: Any = None
    ) -> list[list[Variant]]:
        """n variants per text; `protected` is ignored (the pipeline re-anchors spans)."""
        if isinstance(self.engine, Apertium):  # deterministic: the same text n times
            outputs = [[text] * n for text in self.engine.round_trip(texts)]
        else:
            outputs = self.engine.round_trip(texts, n, rng)
        return [
            [Variant(out, edit_rate(text, out)) for out in outs]
            for text, outs in zip(texts, outputs)
        ]
