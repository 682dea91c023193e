"""The only place metrics are computed. Classification metrics come from scikit-learn, which
works offline (unlike `evaluate.load`, whose metric scripts live on the hub)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
# exp() of anything above this overflows a float64; such a loss means a diverged model anyway.
_MAX_LOG_PERPLEXITY = math.log(np.finfo(np.float64).max)


def _check_pairs(predictions: Sequence[str], references: Sequence[str]) -> None:
    if len(predictions) != len(references):
        raise ValueError(
            f"got {len(predictions)} predictions but {len(references)} references; "
            "they must pair up one to one"
        )


def translation_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """Corpus-level sacreBLEU and chrF (0-100) against one reference per prediction.

    The signatures record tokenizer, smoothing and version so scores can be compared across
    papers and runs; an empty input scores 0.
    """
    from sacrebleu.metrics import BLEU, CHRF

    _check_pairs(predictions, references)
    bleu, chrf = BLEU(), CHRF()
    result: dict[str, Any] = {"bleu": 0.0, "chrf": 0.0}
    if predictions:
        hyps, refs = list(predictions), [list(references)]
        result["bleu"] = float(bleu.corpus_score(hyps, refs).score)
        result["chrf"] = float(chrf.corpus_score(hyps, refs).score)
    result["bleu_signature"] = str(bleu.get_signature())
    result["chrf_signature"] = str(chrf.get_signature())
    result["samples"] = len(predictions)
    return result


def rouge_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """Mean ROUGE-1/2/L F-measure with Porter stemming, scaled ×100 to share sacreBLEU's 0-100
    scale; an empty input scores 0."""
    from rouge_score import rouge_scorer

    _check_pairs(predictions, references)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    totals = dict.fromkeys(ROUGE_TYPES, 0.0)
    for prediction, reference in zip(predictions, references):
        scores = scorer.score(reference, prediction)  # argument order: (target, prediction)
        for name in ROUGE_TYPES:
            totals[name] += scores[name].fmeasure
    count = max(len(predictions), 1)
    result: dict[str, Any] = {name: 100.0 * total / count for name, total in totals.items()}
    result["samples"] = len(predictions)
    return result


def perplexity(mean_loss: float) -> float:
    """exp of the mean token cross-entropy (in nats); `inf` where that would overflow."""
    if mean_loss > _MAX_LOG_PERPLEXITY:
        return math.inf
    return math.exp(mean_loss)


def classification_metrics(
    labels: Sequence[int], predictions: Sequence[int], names: Sequence[str], full: bool = True
) -> dict[str, Any]:
    """Accuracy and macro-F1; with `full`, per-class precision/recall/F1/support and the
    confusion matrix (rows = gold, columns = predicted, in label-id order)."""
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    y_true, y_pred = np.asarray(labels), np.asarray(predictions)
    ids = list(range(len(names)))
    result: dict[str, Any] = {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "f1_macro": float(f1_score(y_true, y_pred, labels=ids, average="macro", zero_division=0)),
    }
    if not full:
        return result
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=ids, zero_division=0
    )
    result["per_class"] = {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }
    result["confusion_matrix"] = confusion_matrix(y_true, y_pred, labels=ids).tolist()
    result["samples"] = int(len(y_true))
    return result


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def normalize_answer(text: str) -> str:
    """SQuAD answer normalisation: lowercase, drop punctuation and the articles a/an/the, and
    collapse whitespace."""
    import re
    import string

    punctuation = set(string.punctuation)
    text = "".join(char for char in text.lower() if char not in punctuation)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _token_f1(prediction: str, gold: str) -> float:
    """Bag-of-tokens F1 of two normalised answers; two empty answers agree (SQuAD v2 rule)."""
    from collections import Counter

    predicted, expected = prediction.split(), gold.split()
    if not predicted or not expected:
        return float(predicted == expected)
    common = sum((Counter(predicted) & Counter(expected)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def squad_metrics(
    predictions: Sequence[str], references: Sequence[Sequence[str]]
) -> dict[str, Any]:
    """Exact match and token F1 (0-100), each the best over an example's gold answers, averaged.

    As in the official SQuAD v2 script, an empty gold list (or golds that normalise to nothing)
    means "no answer": only a prediction that normalises to "" scores, with 100.
    """
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    exact = f1 = 0.0
    for prediction, answers in zip(predictions, references):
        predicted = normalize_answer(prediction)
        golds = [gold for gold in map(normalize_answer, answers) if gold] or [""]
        exact += max(float(predicted == gold) for gold in golds)
        f1 += max(_token_f1(predicted, gold) for gold in golds)
    count = len(predictions)
    return {
        "exact_match": 100.0 * exact / count if count else 0.0,
        "f1": 100.0 * f1 / count if count else 0.0,
        "samples": count,
    }
