"""Contextual word substitution with a BERT-family checkpoint (`--method contextual`).

The mode follows from the checkpoint, loaded once as AutoModelForMaskedLM:

* fill-mask, when its weights hold an MLM head (transformers reports no head weight missing):
  each word to edit becomes one mask token (a word of several pieces too), all of a variant's
  masked at once as in BERT's pre-training; of the top_k predictions, word pieces, non-words,
  stop words and the original word are dropped, and one is sampled by softmax probability.
* synonym re-ranking, when it has no MLM head (fill-mask would sample from a random head), as
  the embedded default assets/all-MiniLM-L6-v2, a sentence-transformers encoder. Candidates are
  the word's WordNet synonyms (toolkit.augment.synonym, at most top_k). Each candidate sentence
  is embedded (mean pooling, L2-normalised, as the encoder was trained); a candidate must keep
  the sentence closer (cosine) to the original than deleting the word does, a floor that drops
  senses that do not fit ("a good film" -> "a full film"), and the substitute is sampled among
  the RERANK_TOP closest. Words left without one are made up for by the next words in the
  variant's random order, ranked in a further round, so the edit rate stays near p.

Never edited: stop words, words overlapping a `protected` span or a `protect` phrase; the text
outside edited words comes back byte-identical. Forward passes are batched over all texts and
variants of one call, length-sorted so that batches carry little padding.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from toolkit.augment import synonym
from toolkit.augment.synonym import WORD_RE, Variant, align_case, draw_count
from toolkit.checkpoint_files import STEP_KEY, check_folder, local_folder, reading_weights
from toolkit.errors import ToolkitError

RERANK_TOP = 3  # sample among the few synonyms that move the sentence embedding least
# Cosine gaps between synonym sentences are ~0.01-0.1: at temperature 1 the softmax would be flat.
TEMPERATURE = 0.02
REPO_ROOT = Path(__file__).resolve().parents[2]  # the embedded default is relative to the repo
# A synonym may be a phrase ("30 minutes") but bring no punctuation ("Mr." would add a period).
PHRASE_RE = re.compile(r"[A-Za-z0-9]+(?:[ '-][A-Za-z0-9]+)*")

Span = tuple[int, int]


@dataclass
class Plan:
    """One text split into separators and words, and the word slots each variant edits."""

    text: str
    parts: list[str]  # WORD_RE.split: words at odd indices, separators kept
    chosen: list[list[int]]  # per variant, the part indices to try, in random order
    wanted: list[int]  # per variant, how many of them to replace

    def pending(self, ranked: dict[int, list]) -> set[int]:
        """Words still to rank: per variant, the next ones in its order until, counting those
        already ranked with a fitting synonym, it has as many as it wants."""
        todo = set()
        for order, short in zip(self.chosen, self.wanted):
            for i in order:
                if short == 0:
                    break
                if i not in ranked:
                    todo.add(i)
                short -= i not in ranked or bool(ranked[i])  # unranked words are hoped to fit
        return todo

    def replaced(self, i: int, word: str) -> str:
        return "".join(self.parts[:i] + [word] + self.parts[i + 1 :])

    def variants(self, pick: Callable[[int, int], str | None]) -> list[Variant]:
        """Variants with pick(variant, part index) as substitute (None keeps the word)."""
        out = []
        for v, chosen in enumerate(self.chosen):
            parts, changed = self.parts.copy(), 0
            for i in chosen:
                new = pick(v, i) if changed < self.wanted[v] else None
                if new is not None and new != parts[i]:
                    parts[i], changed = new, changed + 1
            out.append(Variant("".join(parts), changed / max(len(parts) // 2, 1)))
        return out


def resolve(name: str) -> str:
    """A local checkpoint directory (also relative to the repository) or a hub id."""
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path)
    if not path.is_absolute() and (REPO_ROOT / path).is_dir():
        return str(REPO_ROOT / path)
    if name.startswith((".", "/", "~", "assets/")):
        raise ToolkitError(f"contextual model: {name!r} not found (no such directory)")
    return name


def load(name: str, trust: bool = False) -> tuple[Any, Any, bool]:
    """Tokenizer, model (eval mode, on CUDA when available), and whether it has an MLM head
    (`trust`: the step's trust_remote_code)."""
    from transformers import AutoTokenizer

    where, folder = resolve(name), local_folder(resolve(name))
    if folder is not None:
        check_folder(folder, f"contextual model: {name!r}", trust, STEP_KEY)
    trusted = {"trust_remote_code": trust}
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, **trusted)
        with reading_weights(folder):
            model, has_head = masked_lm(where, trusted)
    except (OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0][:200]
        raise ToolkitError(
            f"contextual model: cannot load {name!r} ({first}); give a local checkpoint "
            "directory with config.json, or a hub id while online"
        ) from None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return tokenizer, model.to(device).eval(), has_head and tokenizer.mask_token_id is not None


def masked_lm(where: str, trusted: dict) -> tuple[Any, bool]:
    """The checkpoint as a masked LM, and whether its weights held the MLM head."""
    from transformers import AutoModel, AutoModelForMaskedLM

    try:
        model, info = AutoModelForMaskedLM.from_pretrained(
            where, output_loading_info=True, **trusted
        )
    except ValueError:  # no masked-LM class for this architecture
        return AutoModel.from_pretrained(where, **trusted), False
    # Head weights the checkpoint lacks were initialised at random: then it is an encoder only
    # (architectures lists BertModel, or a classifier's head is stored).
    prefix = model.base_model_prefix + "."
    return model, all(k.startswith(prefix) for k in info["missing_keys"])


def sample(scored: list[tuple[str, float]], rng, temperature: float = 1.0) -> str | None:
    """One word drawn by softmax(score / temperature) with rng; None when there is none."""
    if not scored:
        return None
    top = max(score for _, score in scored)
    weights = [math.exp((score - top) / temperature) for _, score in scored]
    return rng.choices([word for word, _ in scored], weights)[0]


class Contextual:
    """Replace a share `p` of the words by a masked LM's guess or a context-ranked synonym."""

    name = "contextual"
    protects_spans = True
    # The deletion floor needs an encoder with a sense of meaning; False ranks by similarity
    # alone (the tests' random encoders put every sentence at cosine ~0.98).
    use_floor = True

    def __init__(
        self, model: str, p: float, top_k: int, batch_size: int, protect: list[str], trust=False
    ):
        self.p, self.top_k, self.batch_size = p, top_k, batch_size
        self.stop = synonym.stopwords()
        # Whole words only: "acme" protects "ACME's" but not "acmes".
        self.protect = [
            re.compile(rf"(?<![A-Za-z]){re.escape(w)}(?![A-Za-z])", re.I) for w in protect
        ]
        self.tokenizer, self.model, has_head = load(model, trust)
        self.mode = "fill-mask" if has_head else "rerank"
        # Only re-ranking needs WordNet; without it synonym_table raises a ToolkitError.
        self.table = synonym.synonym_table() if self.mode == "rerank" else {}
        positions = getattr(self.model.config, "max_position_embeddings", 512)
        self.max_length = min(self.tokenizer.model_max_length, positions, 512)
        self.vocab_words = self.whole_words() if self.mode == "fill-mask" else []

    @classmethod
    def from_step(cls, step) -> Contextual:
        trust = getattr(step, "trust_remote_code", False)
        return cls(step.model, step.p, step.top_k, step.batch_size, step.protect, trust)

    def whole_words(self) -> list[str | None]:
        """Per vocabulary id: the word it stands for, or None for pieces, stop words, symbols."""
        tokens = self.tokenizer.convert_ids_to_tokens(list(range(len(self.tokenizer))))
        # Byte-level BPE / SentencePiece mark word starts; unmarked tokens there are pieces.
        marker = next((m for m in ("Ġ", "▁") if any(t and t[0] == m for t in tokens)), "")
        out = []
        for token in tokens:
            word = token[len(marker) :] if token and token.startswith(marker) else None
            ok = (
                word and len(word) > 1 and WORD_RE.fullmatch(word) and word.lower() not in self.stop
            )
            out.append(word if ok else None)  # "##ing" and "[CLS]" fail WORD_RE
        return out

    def candidates(self, word: str) -> list[str]:
        """Re-rank mode: up to top_k WordNet synonyms, in the original word's case."""
        if word.lower() in self.stop:
            return []
        found = dict.fromkeys(align_case(word, s) for s in synonym.lookup(word.lower(), self.table))
        # "plot" -> "plot of land" reads as the word plus a wrong sense, and the encoder ranks
        # it first for sharing the word: drop synonyms that contain the word itself.
        fit = [s for s in found if PHRASE_RE.fullmatch(s) and word.lower() not in s.lower().split()]
        return fit[: self.top_k]

    def augment(
        self, texts: list[str], n: int, rng, protected: list[list[Span]] | None = None
    ) -> list[list[Variant]]:
        """`n` variants of each text; `rng` (random.Random) is the only source of randomness."""
        spans = protected or [[] for _ in texts]
        plans = [self.plan(text, found, n, rng) for text, found in zip(texts, spans)]
        return self.fill(plans, rng) if self.mode == "fill-mask" else self.rerank(plans, rng)

    def plan(self, text: str, spans: list[Span] | None, n: int, rng) -> Plan:
        """Split once, find the editable words, draw each variant's words to replace."""
        parts = WORD_RE.split(text)
        blocked = list(spans or []) + [
            m.span() for rule in self.protect for m in rule.finditer(text)
        ]
        slots, start = [], 0
        for i, part in enumerate(parts):
            end = start + len(part)
            free = not any(s < end and start < e for s, e in blocked)
            wanted = i % 2 and free and part.lower() not in self.stop
            if wanted and (self.mode == "fill-mask" or self.candidates(part)):
                slots.append(i)
            start = end
        chosen, wanted = [], []
        for _ in range(n):
            count = draw_count(self.p, len(parts) // 2, len(slots), rng) if slots else 0
            # Re-ranking may find no fitting synonym: keep all words in order, to make up for it.
            chosen.append(rng.sample(slots, count if self.mode == "fill-mask" else len(slots)))
            wanted.append(count)
        return Plan(text, parts, chosen, wanted)

    def batches(self, sentences: list[str]) -> Iterator[tuple[list[int], Any]]:
        """(sentence indices, tokenized batch) in length order, batch_size at a time."""
        order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            batch = self.tokenizer(
                [sentences[i] for i in chunk], padding=True, truncation=True,
                max_length=self.max_length, return_tensors="pt",
            )  # fmt: skip
            yield chunk, batch.to(self.model.device)

    def fill(self, plans: list[Plan], rng) -> list[list[Variant]]:
        """Fill-mask mode: one masked sentence per variant, all predicted in batches."""
        masked, owners, mask = [], [], self.tokenizer.mask_token
        for p, plan in enumerate(plans):
            for v, chosen in enumerate(plan.chosen):
                if chosen:
                    parts = plan.parts.copy()
                    for i in chosen:
                        parts[i] = "\0"
                    # A mask token written in the text itself would take a chosen word's place.
                    text = "".join(parts).replace(mask, self.tokenizer.unk_token or " ")
                    masked.append(text.replace("\0", mask))
                    owners.append((p, v))
        guesses: dict[tuple[int, int, int], list[tuple[str, float]]] = {}
        for (p, v), per_mask in zip(owners, self.predict(masked)):
            for i, scored in zip(sorted(plans[p].chosen[v]), per_mask):  # truncated: kept
                old = plans[p].parts[i]
                fresh = [(w, s) for w, s in scored if w.lower() != old.lower()]
                guesses[(p, v, i)] = [(align_case(old, w), s) for w, s in fresh]
        return [
            plan.variants(lambda v, i, p=p: sample(guesses.get((p, v, i), []), rng))
            for p, plan in enumerate(plans)
        ]

    @torch.inference_mode()
    def predict(self, sentences: list[str]) -> list[list[list[tuple[str, float]]]]:
        """Per sentence, per mask in order: the whole-word top_k predictions with their logits."""
        out: list[Any] = [None] * len(sentences)
        for chunk, batch in self.batches(sentences):
            is_mask = batch["input_ids"] == self.tokenizer.mask_token_id
            logits = self.masked_logits(batch, is_mask)
            values, ids = logits.float().topk(min(self.top_k, logits.shape[-1]), dim=-1)
            rows = iter(zip(values.tolist(), ids.tolist()))
            for i, count in zip(chunk, is_mask.sum(dim=1).tolist()):
                out[i] = [
                    [(self.vocab_words[t], s) for s, t in zip(*next(rows)) if self.vocab_words[t]]
                    for _ in range(count)
                ]
        return out

    def masked_logits(self, batch: Any, is_mask: torch.Tensor) -> torch.Tensor:
        """MLM logits at the mask positions only, (masks, vocab): projecting every position onto
        the vocabulary would cost as much as the encoder itself for MiniLM-sized models."""

        def keep_masks(module: Any, args: Any, output: Any) -> Any:
            output.last_hidden_state = output.last_hidden_state[is_mask].unsqueeze(0)
            return output

        handle = self.model.base_model.register_forward_hook(keep_masks)
        try:
            return self.model(**batch).logits[0]
        finally:
            handle.remove()

    def rerank(self, plans: list[Plan], rng) -> list[list[Variant]]:
        """Re-rank mode: rank the words each variant needs, in rounds batched over all texts,
        until every variant has its share of words with a fitting synonym (or none are left)."""
        ranked: list[dict[int, list[tuple[str, float]]]] = [{} for _ in plans]
        while todo := {(p, i) for p, plan in enumerate(plans) for i in plan.pending(ranked[p])}:
            for (p, i), best in self.rank(plans, sorted(todo)).items():
                ranked[p][i] = best
        return [
            plan.variants(lambda v, i, p=p: sample(ranked[p][i], rng, TEMPERATURE))
            for p, plan in enumerate(plans)
        ]

    def rank(self, plans: list[Plan], todo: list[tuple[int, int]]) -> dict[tuple[int, int], list]:
        """(text, word) -> the RERANK_TOP synonyms, with similarities, that beat the floor."""
        rows: dict[str, int] = {}  # unique sentence -> its row in the embedding matrix
        needed = {}
        for p, i in todo:
            plan = plans[p]
            # First entry: the sentence without the word, the floor a candidate must beat.
            found = ["", *self.candidates(plan.parts[i])]
            rows.setdefault(plan.text, len(rows))
            needed[(p, i)] = [(c, rows.setdefault(plan.replaced(i, c), len(rows))) for c in found]
        vectors = self.embed(list(rows))
        best = {}
        for (p, i), found in needed.items():
            sims = (vectors[[r for _, r in found]] @ vectors[rows[plans[p].text]]).tolist()
            floor = sims[0] if self.use_floor else -math.inf
            fits = [(s, c) for s, (c, _) in zip(sims[1:], found[1:]) if s > floor]
            best[(p, i)] = [(c, s) for s, c in sorted(fits, key=lambda x: -x[0])[:RERANK_TOP]]
        return best

    @torch.inference_mode()
    def embed(self, sentences: list[str]) -> torch.Tensor:
        """Mean-pooled, L2-normalised sentence embeddings (what all-MiniLM-L6-v2 is trained for)."""
        out = torch.empty(len(sentences), self.model.config.hidden_size)
        for chunk, batch in self.batches(sentences):
            hidden = self.model.base_model(**batch).last_hidden_state.float()
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            out[chunk] = torch.nn.functional.normalize(pooled, dim=-1).cpu()
        return out
