"""The only place metrics are computed. Classification metrics come from scikit-learn, which
works offline (unlike `evaluate.load`, whose metric scripts live on the hub)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


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
