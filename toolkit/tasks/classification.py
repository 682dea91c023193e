"""Sentiment / text classification, on every family through its sequence-classification head.

BERT and GPT-2/Llama use `AutoModelForSequenceClassification`; so does T5, whose
`T5ForSequenceClassification` head reads the final EOS state of the encoder-decoder. We chose the
head over text-to-text label words so that all families share one loss (with label smoothing),
one eval path and calibrated class probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from toolkit import metrics
from toolkit.data import require_text
from toolkit.errors import ToolkitError
from toolkit.evaluation import predict_logits
from toolkit.tasks import register


@register("classification", "sentiment", "text-classification")
class Classification:
    """Single-label text classification; labels may be strings or ints, binary or multi-class."""

    metric_names = ("accuracy", "f1_macro")

    def __init__(self, recipe: Any):
        self.text_column = recipe.task.text_column
        self.label_column = recipe.task.label_column
        self.max_length = recipe.task.max_length
        self.label_names: list[str] = list(recipe.task.labels or [])

    @property
    def columns(self) -> list[str]:
        return [self.text_column, self.label_column]

    def head(self, family: Any) -> str:
        """Every family has a sequence-classification head (see the module docstring)."""
        return "AutoModelForSequenceClassification"

    def prepare(self, splits: Any) -> None:
        """Fix the label list from train (or the recipe) and check every held-out label is known."""
        train_labels = splits.train[self.label_column]
        if any(label is None for label in train_labels):
            row = next(i for i, label in enumerate(train_labels) if label is None)
            raise ToolkitError(f"data.train row {row}: empty label in column {self.label_column!r}")
        distinct = sorted(set(train_labels))  # ints sort numerically, strings alphabetically
        if not self.label_names:
            self.label_names = [str(label) for label in distinct]
        if len(self.label_names) < 2:
            raise ToolkitError(f"data.train: column {self.label_column!r} has only one label")
        for split in ("train", "validation", "test"):
            self.check_rows(getattr(splits, split), f"data.{split}")

    def from_model(self, config: Any) -> None:
        """Take the label names a trained model was saved with (for `toolkit eval`)."""
        self.label_names = [config.id2label[i] for i in range(config.num_labels)]

    def check_rows(self, table: Any, where: str) -> None:
        """Every label of `table` must be a known label (for held-out rows: seen in train)."""
        require_text(table, self.text_column, where)
        known = set(self.label_names)
        for row, label in enumerate(table[self.label_column]):
            if str(label) not in known:
                raise ToolkitError(
                    f"{where} row {row}: label {label!r} in column {self.label_column!r} was never "
                    f"seen in train (known labels: {', '.join(self.label_names)})"
                )

    def model_config(self) -> dict[str, Any]:
        """Head settings saved into the model config, so plain transformers sees label names."""
        return {
            "num_labels": len(self.label_names),
            "id2label": dict(enumerate(self.label_names)),
            "label2id": {name: i for i, name in enumerate(self.label_names)},
        }

    def preprocess(self, batch: dict[str, list], tokenizer: Any) -> dict[str, list]:
        encoded = tokenizer(
            [str(text) for text in batch[self.text_column]],
            truncation=True,
            max_length=self.max_length,
        )
        ids = {name: i for i, name in enumerate(self.label_names)}
        encoded["labels"] = [ids[str(label)] for label in batch[self.label_column]]
        encoded["length"] = [len(tokens) for tokens in encoded["input_ids"]]
        return encoded

    def collator(self, tokenizer: Any) -> Any:
        from transformers import DataCollatorWithPadding

        return DataCollatorWithPadding(tokenizer)

    def compute_metrics(self, eval_pred: Any) -> dict[str, float]:
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        logits = logits[0] if isinstance(logits, tuple) else logits
        predicted = np.asarray(logits).argmax(-1)
        return metrics.classification_metrics(labels, predicted, self.label_names, full=False)

    def predict(
        self, loaded: Any, table: Any, tokenized: Any, batch_size: int, precision: str
    ) -> np.ndarray:
        """Logits of every held-out row, batched and length-sorted."""
        collator = self.collator(loaded.tokenizer)
        return predict_logits(loaded.model, tokenized, collator, batch_size, precision)

    def score(self, logits: np.ndarray, tokenized: Any) -> dict[str, Any]:
        """Full held-out report: accuracy, macro-F1, per-class P/R/F1, confusion matrix."""
        labels = np.asarray(tokenized["labels"])
        return metrics.classification_metrics(labels, logits.argmax(-1), self.label_names)

    def postprocess(self, logits: np.ndarray, table: Any) -> list[dict[str, Any]]:
        """One prediction record per row, next to the gold label."""
        probabilities = metrics.softmax(np.asarray(logits, dtype=np.float64))
        records = []
        for text, gold, probs in zip(
            table[self.text_column], table[self.label_column], probabilities
        ):
            best = int(probs.argmax())
            records.append(
                {
                    "text": text,
                    "label": str(gold),
                    "prediction": self.label_names[best],
                    "score": round(float(probs[best]), 6),
                    "probabilities": {
                        n: round(float(p), 6) for n, p in zip(self.label_names, probs)
                    },
                }
            )
        return records
