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
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0


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
        for name, metric in (("bleu", bleu), ("chrf", chrf)):
            result[name] = float(metric.corpus_score(hyps, refs).score)
            result[f"{name}_ci"] = corpus_ci(metric, hyps, refs)
    else:  # a signature needs the number of references, which only a scored corpus sets
        for name, metric in (("bleu", bleu), ("chrf", chrf)):
            metric.corpus_score([""], [[""]])
            result[f"{name}_ci"] = [0.0, 0.0]
    result["bleu_signature"] = str(bleu.get_signature())
    result["chrf_signature"] = str(chrf.get_signature())
    result["samples"] = len(predictions)
    return result


def corpus_ci(metric: Any, hyps: list[str], refs: list[list[str]]) -> list[float]:
    """95% interval of a corpus-level sacreBLEU metric.

    sacreBLEU's own bootstrap (seeded, over cached per-sentence statistics) is fast; on some
    inputs its interval estimate mixes float and float32 and raises TypeError, and then the
    corpus score is recomputed on fewer resamples of the sentences instead.
    """
    try:
        score = metric.corpus_score(hyps, refs, n_bootstrap=BOOTSTRAP_SAMPLES)
        spread = max(float(score._ci), 0.0)  # half-width around the bootstrap mean
        return [float(score._mean) - spread, float(score._mean) + spread]
    except TypeError:
        pass

    def resampled(rows: np.ndarray) -> float:
        picked = rows.tolist()
        return float(metric.corpus_score([hyps[i] for i in picked],
                                         [[refs[0][i] for i in picked]]).score)  # fmt: skip

    return bootstrap_ci(len(hyps), resampled, samples=200)


def rouge_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, Any]:
    """Mean ROUGE-1/2/L F-measure with Porter stemming, scaled ×100 to share sacreBLEU's 0-100
    scale; an empty input scores 0."""
    from rouge_score import rouge_scorer

    _check_pairs(predictions, references)
    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    per_row = {name: np.zeros(len(predictions)) for name in ROUGE_TYPES}
    for i, (prediction, reference) in enumerate(zip(predictions, references)):
        scores = scorer.score(reference, prediction)  # argument order: (target, prediction)
        for name in ROUGE_TYPES:
            per_row[name][i] = scores[name].fmeasure
    result: dict[str, Any] = {
        name: float(100.0 * values.mean()) if len(values) else 0.0
        for name, values in per_row.items()
    }
    rouge_l = per_row["rougeL"]
    result["rougeL_ci"] = bootstrap_ci(len(rouge_l), lambda rows: 100.0 * rouge_l[rows].mean())
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

    y_true, y_pred = np.asarray(labels, dtype=np.int64), np.asarray(predictions, dtype=np.int64)
    ids = list(range(len(names)))
    if not len(y_true):  # scikit-learn refuses empty input; no rows score 0
        return empty_classification(names, full)
    result: dict[str, Any] = {
        "accuracy": float((y_true == y_pred).mean()),
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
    correct = (y_true == y_pred).astype(np.float64)
    result["accuracy_ci"] = bootstrap_ci(len(y_true), lambda rows: correct[rows].mean())
    result["f1_macro_ci"] = bootstrap_ci(
        len(y_true), lambda rows: macro_f1(y_true[rows], y_pred[rows], len(names))
    )
    return result


def empty_classification(names: Sequence[str], full: bool) -> dict[str, Any]:
    """`classification_metrics` of no rows: every score 0, in the same shape."""
    result: dict[str, Any] = {"accuracy": 0.0, "f1_macro": 0.0}
    if full:
        zero = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
        result["per_class"] = {name: dict(zero) for name in names}
        result["confusion_matrix"] = [[0] * len(names) for _ in names]
        result.update(samples=0, accuracy_ci=[0.0, 0.0], f1_macro_ci=[0.0, 0.0])
    return result


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, classes: int) -> float:
    """Macro-F1 from bincounts (no scikit-learn call: the bootstrap calls this 1,000 times)."""
    tp = np.bincount(y_true[y_true == y_pred], minlength=classes)[:classes]
    gold = np.bincount(y_true, minlength=classes)[:classes]
    predicted = np.bincount(y_pred, minlength=classes)[:classes]
    denominator = gold + predicted
    f1 = np.divide(2 * tp, denominator, out=np.zeros(classes), where=denominator > 0)
    return float(f1.mean())


def bootstrap_ci(
    count: int, statistic: Any, samples: int = BOOTSTRAP_SAMPLES, level: float = 0.95
) -> list[float]:
    """Percentile bootstrap interval of `statistic(row_indices)` over `count` held-out rows.

    Rows are resampled with replacement `samples` times with a fixed seed, so the interval is
    reproducible; it says how much the score would move on another test set of the same size.
    """
    if count == 0:
        return [0.0, 0.0]
    rows = np.random.default_rng(BOOTSTRAP_SEED).integers(0, count, size=(samples, count))
    values = np.array([statistic(sample) for sample in rows])
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return [float(low), float(high)]


def faithfulness_metrics(
    deletion: np.ndarray, insertion: np.ndarray, random_deletion: np.ndarray,
    random_insertion: np.ndarray,
) -> dict[str, Any]:  # fmt: skip
    """ERASER's comprehensiveness and sufficiency (per-row AOPCs, averaged) of one attribution
    method and of random orderings of the same rows, and the paired per-row difference with a
    bootstrap interval and a sign-flip permutation p-value (two-sided). `better_than_random`:
    the comprehensiveness difference's interval lies above 0."""
    result: dict[str, Any] = {}
    for key, ours, theirs in (("comprehensiveness", deletion, random_deletion),
                              ("sufficiency", insertion, random_insertion)):  # fmt: skip
        gap = np.asarray(ours, np.float64) - np.asarray(theirs, np.float64)
        for name, values in ((key, ours), (f"random_{key}", theirs), (f"{key}_vs_random", gap)):
            values = np.asarray(values, np.float64)
            result[name] = float(values.mean()) if len(values) else 0.0
            result[f"{name}_ci"] = mean_ci(values)
        result[f"{key}_vs_random_p"] = sign_flip_p(gap)
    result["better_than_random"] = bool(result["comprehensiveness_vs_random_ci"][0] > 0)
    return result


def sign_flip_p(differences: np.ndarray, samples: int = 10_000) -> float:
    """Two-sided paired permutation p-value of mean(differences) = 0 (random sign flips,
    seeded), counting the observed one so that p is never 0."""
    d = np.asarray(differences, dtype=np.float64)
    if not len(d):
        return 1.0
    signs = np.random.default_rng(BOOTSTRAP_SEED).choice([-1.0, 1.0], size=(samples, len(d)))
    extreme = np.abs((signs * d).mean(1)) >= abs(d.mean()) - 1e-12
    return float((extreme.sum() + 1) / (samples + 1))


MIN_PAIRS = 30  # fewer paired rows than this: a probe's figures say "too few pairs to conclude"


def mean_ci(values: Sequence[float] | np.ndarray) -> list[float]:
    """95% bootstrap interval of the mean of `values` (rates: a mean of 0/1 values)."""
    v = np.asarray(values, dtype=np.float64)
    return bootstrap_ci(len(v), lambda rows: v[rows].mean())


def conclusive(count: int, intervals: Sequence[tuple[Sequence[float], float]]) -> bool:
    """Whether `count` pairs can tell: at least MIN_PAIRS, and no (interval, range width) pair
    whose interval spans essentially its whole range (90% of it or more)."""
    wide = any(high - low >= 0.9 * width for (low, high), width in intervals)
    return count >= MIN_PAIRS and not wide


CALIBRATION_BINS = 15


def confidence_bins(confidence: np.ndarray, bins: int = CALIBRATION_BINS) -> np.ndarray:
    """The equal-width bin of each confidence: bin b holds (b/bins, (b+1)/bins], bin 0 also 0."""
    return np.clip(np.ceil(np.asarray(confidence) * bins).astype(np.int64) - 1, 0, bins - 1)


def reliability(
    confidence: Sequence[float], correct: Sequence[bool], bins: int = CALIBRATION_BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per equal-width confidence bin: row count, accuracy and mean confidence (0 where empty)."""
    conf, hit = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    where = confidence_bins(conf, bins)
    counts = np.bincount(where, minlength=bins)
    shown = np.maximum(counts, 1)
    return counts, np.bincount(where, hit, bins) / shown, np.bincount(where, conf, bins) / shown


def calibration_metrics(
    labels: Sequence[int], probabilities: np.ndarray, bins: int = CALIBRATION_BINS
) -> dict[str, Any]:
    """Expected calibration error and Brier score of class probabilities, with bootstrap
    intervals.

    `ece`: rows binned by confidence (the max class probability) into `bins` equal-width bins;
    the row-weighted mean over bins of |accuracy − mean confidence|. `brier`: the multi-class
    Brier score, the mean over rows of Σ_k (p_k − onehot_k)², from 0 (perfect) to 2; for two
    classes it is twice the binary p(positive) version. Lower is better for both.
    """
    y = np.asarray(labels, dtype=np.int64)
    if not len(y):  # no rows score 0, like `empty_classification`
        return {"ece": 0.0, "brier": 0.0, "ece_ci": [0.0, 0.0], "brier_ci": [0.0, 0.0]}
    p = np.asarray(probabilities, dtype=np.float64).reshape(len(y), -1)
    predicted = p.argmax(-1)
    confidence = p[np.arange(len(y)), predicted]
    gap = (predicted == y) - confidence  # per row: what ECE sums within a bin
    where = confidence_bins(confidence, bins)
    onehot = np.zeros_like(p)
    onehot[np.arange(len(y)), y] = 1.0
    squared = ((p - onehot) ** 2).sum(-1)

    def ece(rows: np.ndarray) -> float:  # vectorised: the bootstrap calls it 1,000 times
        return float(np.abs(np.bincount(where[rows], gap[rows], bins)).sum() / len(rows))

    everything = np.arange(len(y))
    estimate = ece(everything)
    # Resampling adds binning noise, and noise only adds calibration error: the bootstrap ECEs
    # of a well-calibrated model all lie above its ECE. The interval reaches down to it.
    low, high = bootstrap_ci(len(y), ece)
    return {
        "ece": estimate,
        "brier": float(squared.mean()),
        "ece_ci": [min(low, estimate), max(high, estimate)],
        "brier_ci": bootstrap_ci(len(y), lambda rows: squared[rows].mean()),
    }


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
    exact, f1 = np.zeros(len(predictions)), np.zeros(len(predictions))
    for i, (prediction, answers) in enumerate(zip(predictions, references)):
        predicted = normalize_answer(prediction)
        golds = [gold for gold in map(normalize_answer, answers) if gold] or [""]
        exact[i] = max(float(predicted == gold) for gold in golds)
        f1[i] = max(_token_f1(predicted, gold) for gold in golds)
    count = len(predictions)
    return {
        "exact_match": float(100.0 * exact.mean()) if count else 0.0,
        "f1": float(100.0 * f1.mean()) if count else 0.0,
        "exact_match_ci": bootstrap_ci(count, lambda rows: 100.0 * exact[rows].mean()),
        "f1_ci": bootstrap_ci(count, lambda rows: 100.0 * f1[rows].mean()),
        "samples": count,
    }
