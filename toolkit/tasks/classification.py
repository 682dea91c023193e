"""Sentiment / text classification, on every family through its sequence-classification head.

BERT and GPT-2/Llama use `AutoModelForSequenceClassification`; so does T5, whose
`T5ForSequenceClassification` head reads the final EOS state of the encoder-decoder. We chose the
head over text-to-text label words so that all families share one loss (with label smoothing),
one eval path and calibrated class probabilities.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator

from toolkit import metrics
from toolkit.augment.views import Slot, View
from toolkit.data import Splits, require_text, where_row
from toolkit.errors import ToolkitError, shorten
from toolkit.inference import predict_logits
from toolkit.recipe.section import Section
from toolkit.tasks import long_text
from toolkit.tasks.base import Capabilities, FittedSplits, Head, HeadKind, ReportPieces, Task
from toolkit.tasks.class_weights import WeightedLoss, Weights, check_weights, class_weights
from toolkit.tasks.labels import class_labels, confusion_counts, label_order, label_text
from toolkit.tasks.long_text import LongTextSettings, WindowCollator
from toolkit.tasks.report_pieces import score_of

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import EvalPrediction, PretrainedConfig, PreTrainedTokenizerBase

    from toolkit.models import Family, LoadedModel
    from toolkit.tasks.base import Batch, Record


class ClassificationSettings(Section):
    """Sentiment / text classification (binary or multi-class)."""

    name: Literal["classification", "sentiment", "text-classification"] = Field(
        description="Task name; each task has its own settings in this section."
    )
    text_column: str = Field("text", description="Column holding the input text.")
    label_column: str = Field("label", description="Column holding the label (string or int).")
    labels: list[str] | None = Field(
        None,
        description="Label names in id order. Default: sorted distinct labels of the train split.",
    )
    max_length: int = Field(128, ge=8, le=8192, description="Truncate inputs to this many tokens.")
    long_text: LongTextSettings = Field(
        default_factory=LongTextSettings,
        description="Texts longer than max_length: truncate, head_tail or windows.",
    )
    class_weights: Weights | None = Field(
        None,
        description="Weighted cross-entropy: 'balanced' (n_rows / (n_classes * rows of the "
        "class), from train) or one weight per label, in label order.",
    )

    @field_validator("long_text")
    @classmethod
    def _stride_fits(cls, value: LongTextSettings, info: ValidationInfo) -> LongTextSettings:
        max_length = info.data.get("max_length")
        stride = value.stride
        if value.mode == "windows" and max_length is not None and (stride or 0) >= max_length:
            raise ValueError(f"stride {stride} must be less than max_length {max_length}")
        return value

    @field_validator("class_weights", mode="before")
    @classmethod
    def _weights_sound(cls, value: object) -> object:
        return check_weights(value)


class Classification(Task[np.ndarray]):
    """Single-label text classification; labels may be strings or ints, binary or multi-class."""

    name = "classification"
    Settings = ClassificationSettings
    validation_metrics = ("accuracy", "f1_macro")
    held_out_metrics = ("accuracy", "f1_macro", "ece", "brier")
    # `eval.calibrate: temperature` sets this from the validation split (toolkit/evaluation/
    # calibration.py); held-out probabilities are softmax(logits / temperature). The saved
    # model is untouched: a plain forward still gives the uncalibrated logits.
    temperature: float = 1.0

    def __init__(self, settings: ClassificationSettings, seed: int = 0):
        self.text_column = settings.text_column
        self.label_column = settings.label_column
        self.max_length = settings.max_length
        self.label_names: list[str] = list(settings.labels or [])
        self.long_text = settings.long_text
        self.weights = settings.class_weights
        self.weights_used: list[float] | None = None
        self.validation_windows: list[int] = []  # windows per validation document, for pooling

    @property
    def columns(self) -> list[str]:
        return [self.text_column, self.label_column]

    @property
    def input_columns(self) -> list[str]:
        return [self.text_column]

    def head(self, family: Family) -> Head:
        """Every family has a sequence-classification head (see the module docstring)."""
        return Head(HeadKind.SEQUENCE_CLASSIFICATION, "head")

    def bind(self, head: Head) -> None:
        """One way of working on every family: nothing to remember."""

    def capabilities(self) -> Capabilities:
        return Capabilities(flip_rate=True, fairness=True, explain="labels")

    def augment_view(self) -> View:
        """The text changes, the label stays (a filter model may check it still holds)."""
        return View([Slot(self.text_column)], [], label_column=self.label_column)

    def prepare(self, splits: Splits) -> None:
        """Fix the label list from train (or the recipe) and check every held-out label is known."""
        train_labels = class_labels(splits.train, self.label_column, splits.where("train"))
        if not self.label_names:  # whole numbers sort numerically, then the rest alphabetically
            self.label_names = sorted(set(train_labels), key=label_order)
        if len(self.label_names) < 2:
            raise ToolkitError(f"data.train: column {self.label_column!r} has only one label")
        for split in ("train", "validation", "test"):
            self.check_rows(getattr(splits, split), splits.where(split))
        if self.weights is not None:  # the Trainer's loss from now on (toolkit/trainer_setup.py)
            self.weights_used = class_weights(self.weights, train_labels, self.label_names)
            self.compute_loss = WeightedLoss(self.weights_used, self.label_smoothing)

    def from_model(self, config: PretrainedConfig) -> None:
        """Take the label names a trained model was saved with (for `toolkit eval`)."""
        self.label_names = [config.id2label[i] for i in range(config.num_labels)]

    def check_rows(self, table: Dataset, where: str) -> None:
        """Every label of `table` must be a known label (for held-out rows: seen in train)."""
        require_text(table, self.text_column, where)
        known = self.label_ids()
        for row, label in enumerate(class_labels(table, self.label_column, where)):
            if label not in known:
                raise ToolkitError(
                    f"{where_row(where, row)}: label {shorten(label)} in column "
                    f"{self.label_column!r} was never seen in train (known labels: "
                    f"{shorten(', '.join(self.label_names), 200)})"
                )

    def label_ids(self) -> dict[str, int]:
        """Class id of each label, keyed by the label's normal form (see `label_text`)."""
        return {label_text(name) or name: i for i, name in enumerate(self.label_names)}

    def model_config(self) -> dict[str, Any]:
        """Head settings saved into the model config, so plain transformers sees label names."""
        return {
            "num_labels": len(self.label_names),
            "id2label": dict(enumerate(self.label_names)),
            "label2id": {name: i for i, name in enumerate(self.label_names)},
        }

    def preprocess(self, batch: Batch, tokenizer: PreTrainedTokenizerBase) -> Batch:
        """Token ids as `task.long_text` says (under `windows` a row of windows per text), the
        label id (rows without the label column: none), the length and the text's whole length
        (long_text.TOKENS, for the counts)."""
        texts = [str(text) for text in batch[self.text_column]]
        encoded = long_text.encode(texts, tokenizer, self.max_length, self.long_text)
        ids = self.label_ids()
        if self.label_column in batch:
            encoded["labels"] = [ids[label_text(gold) or ""] for gold in batch[self.label_column]]
        encoded["length"] = [long_text.size(tokens) for tokens in encoded["input_ids"]]
        return encoded

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> WindowCollator:
        return WindowCollator(tokenizer)

    def fit_splits(self, tokenized: dict[str, Dataset]) -> FittedSplits:
        """Count the long texts of each split; under `windows` the Trainer reads one row per
        window (train: or the first of each document) and validation pools them per document."""
        mode = self.long_text.mode
        counts = {n: long_text.count(t, self.max_length, mode) for n, t in tokenized.items()}
        fitted = dict(tokenized)
        if mode == "windows":
            fitted, self.validation_windows = long_text.training_view(fitted, self.long_text)
        record = {"class_weights": self.weights_used} if self.weights_used else {}
        return FittedSplits(fitted, counts, record)

    def compute_metrics(self, eval_pred: EvalPrediction) -> dict[str, float]:
        """Validation metrics; under `windows` of documents, their windows' logits pooled."""
        logits, labels = eval_pred.predictions, eval_pred.label_ids
        logits = logits[0] if isinstance(logits, tuple) else logits
        counts = self.validation_windows
        if counts and sum(counts) == len(labels):  # else (no fit_splits call) window by window
            logits = long_text.pool(logits, counts, self.long_text.pool)
            labels = long_text.first_of_each(labels, counts)
        predicted = np.asarray(logits).argmax(-1)
        return metrics.classification_metrics(labels, predicted, self.label_names, full=False)

    def predict(
        self, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
        precision: str,
    ) -> np.ndarray:  # fmt: skip
        """Logits of every held-out row, batched and length-sorted (under `windows` one row per
        document: its windows' logits pooled)."""
        collator = self.collator(loaded.tokenizer)
        if self.long_text.mode == "windows":
            return long_text.predict_documents(
                loaded.model, tokenized, collator, batch_size, precision, self.long_text.pool
            )
        return predict_logits(loaded.model, tokenized, collator, batch_size, precision)

    def score(self, logits: np.ndarray, tokenized: Dataset) -> dict[str, Any]:
        """Full held-out report: accuracy, macro-F1, per-class P/R/F1, confusion matrix, ECE and
        Brier score (of the calibrated probabilities; the uncalibrated ones too when calibrated)."""
        labels = np.asarray(tokenized["labels"])
        result = metrics.classification_metrics(labels, logits.argmax(-1), self.label_names)
        result |= metrics.calibration_metrics(labels, self.probabilities(logits))
        if self.temperature != 1.0:  # the same rows uncalibrated, to compare with
            raw = metrics.calibration_metrics(labels, self.probabilities(logits, 1.0))
            shown = {f"{key}_uncalibrated": raw[key] for key in ("ece", "brier")}
            result["calibration"] = {"temperature": self.temperature, **shown}
        return result

    def probabilities(self, logits: np.ndarray, temperature: float | None = None) -> np.ndarray:
        """Class probabilities: softmax(logits / T), T the task's temperature unless given."""
        scale = self.temperature if temperature is None else temperature
        return metrics.softmax(np.asarray(logits, dtype=np.float64) / scale)

    def postprocess(self, logits: np.ndarray, table: Dataset) -> list[Record]:
        """One prediction record per row, next to the gold label."""
        probabilities = self.probabilities(logits)  # calibrated when eval.calibrate fitted T
        records = []
        for text, gold, probs in zip(
            table[self.text_column], table[self.label_column], probabilities
        ):
            best = int(probs.argmax())
            records.append(
                {
                    "text": text,
                    "label": label_text(gold) or str(gold),
                    "prediction": self.label_names[best],
                    "score": round(float(probs[best]), 6),
                    "probabilities": {
                        n: round(float(p), 6) for n, p in zip(self.label_names, probs)
                    },
                }
            )
        return records

    def predict_rows(
        self, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
        precision: str,
    ) -> Batch:  # fmt: skip
        """The predicted label, its probability and one `prob_<label>` column per class (all
        calibrated when eval.calibrate fitted a temperature)."""
        probabilities = self.probabilities(
            self.predict(loaded, table, tokenized, batch_size, precision)
        ).round(6)
        best = probabilities.argmax(-1)
        columns: Batch = {
            "label": [self.label_names[i] for i in best],
            "score": probabilities[np.arange(len(best)), best].tolist(),
        }
        for i, name in enumerate(self.label_names):
            columns[f"prob_{name}"] = probabilities[:, i].tolist()
        return columns

    def report(self, records: list[Record], rows: list[dict]) -> ReportPieces:
        """The most confident mistakes first, the confusion counts, the first text to explain."""
        wrong = [r for r in records if str(r.get("label")) != str(r.get("prediction"))]
        wrong.sort(key=score_of, reverse=True)
        lead = f"{len(wrong)} of {len(records)} test rows wrong; the most confident mistakes first"
        errors = [
            [r.get("text", ""), r.get("label"), r.get("prediction"), r.get("score")] for r in wrong
        ]
        text = records[0].get("text") if records else None
        return ReportPieces(
            lead, ["text", "gold", "predicted", "confidence"], errors,
            confusion=confusion_counts(records) if records else None,
            explain=(text, None) if isinstance(text, str) else None,
            explain_gold=str(records[0].get("label")) if records else None,
        )  # fmt: skip
