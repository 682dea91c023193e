"""Extractive question answering: feature preparation and vectorised n-best post-processing.

Model-agnostic: anything with a fast tokenizer and a start/end logits head (BERT-style encoders,
GPT-2/Llama-style decoders) works. A long context is split into overlapping windows ("features");
`postprocess` maps the logits of every feature back to one answer span of the original context.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.inference import autocast

if TYPE_CHECKING:
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

Offsets = Sequence[Sequence[int] | None]
Batch = dict[str, list]
LABELS = ("start_positions", "end_positions")


def prepare_features(
    tokenizer: Any,
    questions: Sequence[str],
    contexts: Sequence[str],
    max_length: int,
    stride: int,
    answers: Sequence[Mapping[str, Sequence[Any]]] | None = None,
    question_first: bool = True,
    padding: bool | str = False,
) -> dict[str, list]:
    """Tokenize (question, context) pairs into overlapping windows of at most `max_length` tokens.

    Returns the tokenizer's columns plus `example_id` (source example of each feature),
    `cls_index` (the null-answer position: the CLS token, or 0 without one), `offset_mapping`
    with every non-context token set to None, and with `answers` (SQuAD format) the
    `start_positions`/`end_positions` labels, which point at `cls_index` when the feature's window
    does not hold the first gold answer or the example has none. Positions index the sequences
    as returned, so a collator that pads later must pad on the right.
    """
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError("prepare_features needs a fast tokenizer (it relies on offset mappings)")
    # Some SQuAD questions start with long runs of spaces that would waste the token budget.
    questions = [q.lstrip() for q in questions]
    first, second = (questions, list(contexts)) if question_first else (list(contexts), questions)
    encoded = tokenizer(
        first,
        second,
        truncation="only_second" if question_first else "only_first",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=padding,
    )
    example_ids = list(encoded.pop("overflow_to_sample_mapping"))
    features = {key: list(value) for key, value in encoded.items()}
    features["example_id"] = example_ids
    features["cls_index"] = [_cls_index(tokenizer, ids) for ids in features["input_ids"]]
    features["offset_mapping"] = _context_offsets(encoded, 1 if question_first else 0)
    if answers is not None:
        spans = [
            _label_span(offsets, answers[example], cls)
            for offsets, example, cls in zip(
                features["offset_mapping"], example_ids, features["cls_index"]
            )
        ]
        features["start_positions"] = [start for start, _ in spans]
        features["end_positions"] = [end for _, end in spans]
    return features


def _context_offsets(encoded: Any, context_id: int) -> list[list[tuple[int, int] | None]]:
    """Character offsets of context tokens; None for question, special and padding tokens."""
    return [
        [
            tuple(o) if seq == context_id else None
            for o, seq in zip(offsets, encoded.sequence_ids(i))
        ]
        for i, offsets in enumerate(encoded["offset_mapping"])
    ]


def _cls_index(tokenizer: Any, input_ids: Sequence[int]) -> int:
    """Position of the CLS token (not always 0: left padding, XLNet); 0 when there is none."""
    cls_id = tokenizer.cls_token_id
    if cls_id is not None and cls_id in input_ids:
        return list(input_ids).index(cls_id)
    return 0


def _label_span(
    offsets: Offsets, answer: Mapping[str, Sequence[Any]], null: int
) -> tuple[int, int]:
    """Token (start, end) of the first gold answer in this window, or (null, null)."""
    if len(answer["text"]) == 0:
        return null, null
    start_char = int(answer["answer_start"][0])
    end_char = start_char + len(answer["text"][0])
    context = [i for i, o in enumerate(offsets) if o is not None]
    if not context or offsets[context[0]][0] > start_char or offsets[context[-1]][1] < end_char:
        return null, null
    # The last token starting at or before the answer also covers byte-level tokens whose offsets
    # include a leading space, and skips zero-width tokens in front of the answer.
    start = max(i for i in context if offsets[i][0] <= start_char)
    end = min(i for i in context if i >= start and offsets[i][1] >= end_char)
    return start, end


def postprocess(
    start_logits: np.ndarray | Sequence[np.ndarray],
    end_logits: np.ndarray | Sequence[np.ndarray],
    features: Mapping[str, Any],
    contexts: Sequence[str],
    n_best: int = 20,
    max_answer_length: int = 30,
    null_threshold: float | None = None,
) -> list[dict[str, Any]]:
    """Pick the best answer span of every example from the logits of all its features.

    Per feature, the `n_best` start and end positions are crossed into an n_best × n_best grid;
    a span counts when both ends are context tokens, end >= start and it is at most
    `max_answer_length` tokens long, and it scores start + end logit. With `null_threshold`
    (SQuAD v2), the example gets "" when its null score (start + end logit at the null position,
    minimum over its features) exceeds the best span score by more than the threshold.

    Returns one dict per context: `prediction_text`, `score` (the null score when the prediction
    is ""), `start` (character offset, -1 for no answer) and `no_answer_score`.
    """
    starts, ends = _as_matrix(start_logits), _as_matrix(end_logits)
    offsets = list(features["offset_mapping"])
    example_ids = np.asarray(list(features["example_id"]), dtype=np.int64)
    if starts.size == 0:
        return [_answer("", np.inf, -1, np.inf) for _ in contexts]
    best_score, best_start, best_end = _best_spans(
        starts, ends, offsets, min(n_best, starts.shape[1]), max_answer_length
    )
    example_null = _null_scores(starts, ends, features, example_ids, len(contexts))
    winner = _best_feature_per_example(best_score, example_ids)
    results = []
    for example, context in enumerate(contexts):
        feature = winner.get(example)
        null = float(example_null[example])
        score = -np.inf if feature is None else float(best_score[feature])
        no_span = not np.isfinite(score)
        if no_span or (null_threshold is not None and null - score > null_threshold):
            results.append(_answer("", null, -1, null))
            continue
        span = (offsets[feature][best_start[feature]][0], offsets[feature][best_end[feature]][1])
        results.append(_span_answer(context, span, score, null))
    return results


def _null_scores(
    starts: np.ndarray, ends: np.ndarray, features: Any, example_ids: np.ndarray, examples: int
) -> np.ndarray:
    """Per example, the lowest start + end logit at the null position over its features."""
    columns = getattr(features, "column_names", None) or features.keys()  # Dataset or dict
    if "cls_index" in columns:
        null_index = np.asarray(list(features["cls_index"]), dtype=np.int64)
    else:
        null_index = np.zeros(len(starts), dtype=np.int64)
    rows = np.arange(len(starts))
    scores = np.full(examples, np.inf)
    np.minimum.at(scores, example_ids, starts[rows, null_index] + ends[rows, null_index])
    return scores


def _best_feature_per_example(scores: np.ndarray, example_ids: np.ndarray) -> dict[int, int]:
    """Map each example id to its highest-scoring feature (the earliest one on ties)."""
    order = np.lexsort((-scores, example_ids))
    first = order[np.r_[True, example_ids[order][1:] != example_ids[order][:-1]]]
    return dict(zip(example_ids[first].tolist(), first.tolist()))


def _as_matrix(logits: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Stack per-feature logits into (features, positions), padding ragged rows with -inf."""
    if isinstance(logits, np.ndarray) and logits.ndim == 2:
        return logits.astype(np.float64, copy=False)
    rows = [np.asarray(row, dtype=np.float64) for row in logits]
    matrix = np.full((len(rows), max((len(r) for r in rows), default=0)), -np.inf)
    for i, row in enumerate(rows):
        matrix[i, : len(row)] = row
    return matrix


def _top_n(logits: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest logits of every row, best first."""
    top = np.argpartition(-logits, n - 1, axis=1)[:, :n]
    ranks = np.argsort(-np.take_along_axis(logits, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, ranks, axis=1)


def _in_context(offsets: list[Offsets], indices: np.ndarray) -> np.ndarray:
    """Whether each candidate position is a context token (positions past a feature's end: no)."""
    lengths = np.fromiter(map(len, offsets), dtype=np.int64, count=len(offsets))
    inside = indices < lengths[:, None]
    # One flat list makes the per-candidate lookup a single comprehension instead of one per
    # feature, the only Python-level work here.
    flat = list(chain.from_iterable(offsets))
    if not flat:
        return np.zeros(indices.shape, dtype=bool)
    firsts = np.cumsum(lengths) - lengths
    flat_index = np.where(inside, firsts[:, None] + indices, 0).ravel().tolist()
    present = [flat[i] is not None for i in flat_index]
    return inside & np.asarray(present, dtype=bool).reshape(indices.shape)


def _best_spans(
    starts: np.ndarray, ends: np.ndarray, offsets: list[Offsets], n: int, max_length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best valid (score, start, end) per feature from its n × n candidate grid; -inf if none."""
    top_start, top_end = _top_n(starts, n), _top_n(ends, n)
    length = top_end[:, None, :] - top_start[:, :, None] + 1
    valid = (length >= 1) & (length <= max_length)
    in_context = _in_context(offsets, np.concatenate([top_start, top_end], axis=1))
    valid &= in_context[:, :n, None] & in_context[:, None, n:]
    scores = (
        np.take_along_axis(starts, top_start, axis=1)[:, :, None]
        + np.take_along_axis(ends, top_end, axis=1)[:, None, :]
    )
    scores = np.where(valid, scores, -np.inf).reshape(len(starts), n * n)
    best = scores.argmax(axis=1)
    rows = np.arange(len(starts))
    return scores[rows, best], top_start[rows, best // n], top_end[rows, best % n]


def _span_answer(context: str, span: tuple[int, int], score: float, null: float) -> dict:
    """Answer for a character span, trimmed of surrounding whitespace: byte-level BPE offsets
    can include the space in front of a word."""
    raw = context[span[0] : span[1]]
    text = raw.lstrip()
    start = span[0] + len(raw) - len(text)
    return _answer(text.rstrip(), score, start, null)


def _answer(text: str, score: float, start: int, null: float) -> dict[str, Any]:
    return {"prediction_text": text, "score": score, "start": start, "no_answer_score": null}


class SpanCollator:
    """Pads the model inputs and span labels of each window on the right, since the labels are
    positions in the unpadded sequence; bookkeeping columns (offsets, example ids) are dropped."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase):
        self.tokenizer = tokenizer
        self.keep = {*tokenizer.model_input_names, *LABELS}

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        kept = [{k: v for k, v in feature.items() if k in self.keep} for feature in features]
        return self.tokenizer.pad(kept, padding=True, return_tensors="pt", padding_side="right")


def span_logits(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    features: Batch,
    batch_size: int,
    precision: str,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Start and end logits of every window, unpadded, in the features' order.

    Windows are batched longest first, so each batch pads to nearly its own length.
    """
    import torch

    model.eval()
    device = next(model.parameters()).device
    pad = SpanCollator(tokenizer)
    names = [name for name in features if name in pad.keep and name not in LABELS]
    lengths = [len(ids) for ids in features["input_ids"]]
    order = np.argsort(lengths, kind="stable")[::-1].tolist()
    starts: list[np.ndarray] = [None] * len(order)  # type: ignore[list-item]
    ends: list[np.ndarray] = [None] * len(order)  # type: ignore[list-item]
    with torch.inference_mode():
        for begin in range(0, len(order), batch_size):
            rows = order[begin : begin + batch_size]
            batch = pad([{name: features[name][row] for name in names} for row in rows])
            with autocast(device, precision):
                output = model(**{key: value.to(device) for key, value in batch.items()})
            start, end = (x.float().cpu().numpy() for x in (output.start_logits, output.end_logits))
            for i, row in enumerate(rows):
                starts[row], ends[row] = start[i, : lengths[row]], end[i, : lengths[row]]
    return starts, ends
