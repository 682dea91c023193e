"""Drop classification variants whose label a trained classifier flips.

An edit can turn "not good" into "not bad" or delete the one word that carried the sentiment; a
classifier trained on the originals (a `toolkit run` directory or any sequence-classification
checkpoint) predicts each variant, and a variant whose prediction differs from its row's label
is dropped and counted as "label flipped".
"""

from __future__ import annotations

from typing import Any

from toolkit.errors import ToolkitError


class LabelFilter:
    """A sequence classifier that says which (text, label) pairs it still agrees with."""

    def __init__(self, name: str, where: str, trust: bool = False) -> None:
        """`trust`: the step's trust_remote_code."""
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from toolkit.checkpoint_files import STEP_KEY, check_folder, local_folder, reading_weights
        from toolkit.rundir import RunDir

        run = RunDir(name)  # a run directory stands for its model
        folder = run.model if run.model_config.is_file() else name
        local, trusted = local_folder(str(folder)), {"trust_remote_code": trust}
        if local is not None:
            check_folder(local, f"{where}: {name!r}", trust, STEP_KEY)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(folder), **trusted)
            with reading_weights(local):
                model = AutoModelForSequenceClassification.from_pretrained(str(folder), **trusted)
            self.model = model
        except (OSError, ValueError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ToolkitError(f"{where}: cannot load classifier {name!r}: {first}") from None
        self.names = [str(self.model.config.id2label[i]) for i in range(self.model.num_labels)]
        self.where = where

    def agrees(self, texts: list[str], labels: list[Any], batch_size: int = 64) -> list[bool]:
        """Per text, whether the classifier predicts the row's label."""
        if not texts:
            return []
        from datasets import Dataset
        from transformers import DataCollatorWithPadding

        from toolkit.inference import predict_logits

        unknown = sorted({str(label) for label in labels} - set(self.names))
        if unknown:
            raise ToolkitError(
                f"{self.where}: the classifier's labels ({', '.join(self.names)}) do not include "
                f"{', '.join(unknown[:3])}"
            )
        tokenized = Dataset.from_dict({"text": texts}).map(
            lambda batch: self.tokenizer(batch["text"], truncation=True), batched=True
        )
        collator = DataCollatorWithPadding(self.tokenizer)
        logits = predict_logits(self.model, tokenized, collator, batch_size, "fp32")
        predicted = [self.names[i] for i in logits.argmax(axis=-1)]
        return [p == str(label) for p, label in zip(predicted, labels)]
