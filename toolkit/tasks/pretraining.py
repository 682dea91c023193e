"""Pre-training objectives on plain text, one per family: masked LM (BERT), next-token causal LM
(GPT-2, Llama) and span corruption (T5). Texts are packed into blocks of `block_size` tokens.

Masking and corruption are drawn by the collator, afresh for every batch, so each epoch sees new
noise. Held-out scoring instead draws it once from a fixed seed: two evaluations of the same
model on the same split give the same loss, whatever the training seed.
"""

from __future__ import annotations

from itertools import chain
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from toolkit import metrics
from toolkit.augment.views import Slot, View
from toolkit.data import Splits, require_text
from toolkit.errors import ToolkitError
from toolkit.recipe.section import Section
from toolkit.tasks import text_to_text as t2t
from toolkit.tasks.base import Capabilities, Head, HeadKind, ReportPieces, Task
from toolkit.tasks.report_pieces import generated_text
from toolkit.tasks.span_corruption import SpanCorruptionCollator, sentinel_ids

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

    from toolkit.models import Family, LoadedModel
    from toolkit.tasks.base import Batch, Collator, Record

NATIVE = {"encoder": "masked-lm", "decoder": "causal-lm", "encoder-decoder": "span-corruption"}
HEADS = {
    "masked-lm": HeadKind.MASKED_LM,
    "causal-lm": HeadKind.CAUSAL_LM,
    "span-corruption": HeadKind.SEQ2SEQ_LM,
}
FAMILY_WORDS = {"masked-lm": "an encoder (BERT)", "causal-lm": "a decoder-only (GPT-2, Llama)",
                "span-corruption": "an encoder-decoder (T5)"}  # fmt: skip
HELD_OUT_SEED = 0  # fixed, so held-out loss does not depend on the training seed
EXAMPLES = 3  # held-out blocks written to predictions/, with the model's guesses
NO_PREDICTIONS = (
    "toolkit predict: a pretraining run has no predictions for new rows (it learned to fill in "
    "tokens); score held-out text with `toolkit eval --data FILE`, or fine-tune it on a task"
)


class PretrainingSettings(Section):
    """Pre-training objectives: masked LM (BERT), next token (GPT-2), span corruption (T5)."""

    name: Literal["pretraining"] = Field(description="Task name.")
    objective: Literal["auto", "masked-lm", "causal-lm", "span-corruption"] = Field(
        "auto",
        description="auto: masked-lm for encoders, causal-lm for decoders, span-corruption for T5.",
    )
    text_column: str = Field("text", description="Plain-text column.")
    block_size: int = Field(128, ge=8, le=8192, description="Tokens per packed block.")
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="Masked-LM masking rate.")
    noise_density: float = Field(0.15, gt=0, lt=1, description="Span corruption: share corrupted.")
    mean_span_length: float = Field(3.0, ge=1, description="Span corruption: mean span length.")


class Pretraining(Task[dict]):
    """The family's own pre-training objective on plain text, scored by held-out perplexity."""

    name = "pretraining"
    Settings = PretrainingSettings
    validation_metrics = ()
    held_out_metrics = ("loss", "perplexity")
    SAMPLE_FIELDS = ("input", "target", "predicted")
    compute_metrics = None  # the Trainer's validation loss is the metric

    def __init__(self, settings: PretrainingSettings, seed: int = 0):
        self.settings = settings
        self.seed = seed
        self.objective = settings.objective  # "auto" until bound to the family's head

    @property
    def columns(self) -> list[str]:
        return [self.settings.text_column]

    @property
    def input_columns(self) -> list[str]:
        """None: a pre-trained model predicts masked or next tokens, not outputs for new rows."""
        raise ToolkitError(NO_PREDICTIONS)

    def head(self, family: Family) -> Head:
        """The family's own objective; another one is refused (its head would be untrained)."""
        native = NATIVE[family.kind]
        wanted = self.settings.objective
        if wanted not in ("auto", native):
            raise ToolkitError(
                f"task.objective: {wanted} needs {FAMILY_WORDS[wanted]} model, and this "
                f"{family.kind} family pre-trains with {native}: set task.objective: {native} "
                "(or auto)"
            )
        return Head(HEADS[native], native)

    def bind(self, head: Head) -> None:
        self.objective = head.mode

    def capabilities(self) -> Capabilities:
        return Capabilities()

    def augment_view(self) -> View:
        return View([Slot(self.settings.text_column)], [])

    def prepare(self, splits: Splits) -> None:
        for split in ("train", "validation", "test"):
            self.check_rows(getattr(splits, split), splits.where(split))

    def check_rows(self, table: Dataset, where: str) -> None:
        require_text(table, self.settings.text_column, where)

    def from_model(self, config: PretrainedConfig) -> None:
        """Nothing beyond the head: the objective comes from the saved model's family."""

    def model_config(self) -> dict[str, Any]:
        return {}

    def preprocess(self, batch: Batch, tokenizer: PreTrainedTokenizerBase) -> Batch:
        """Pack texts into blocks: `[CLS] … [SEP]` for masked LM, EOS-separated otherwise."""
        size = self.settings.block_size
        ids = tokenizer(batch[self.settings.text_column], add_special_tokens=False)["input_ids"]
        if self.objective == "masked-lm":
            if tokenizer.mask_token_id is None or tokenizer.cls_token_id is None:
                raise ToolkitError("task.objective: masked-lm needs a tokenizer with [MASK]/[CLS]")
            pieces = pack(ids, tokenizer.sep_token_id, size - 2)
            blocks = [[tokenizer.cls_token_id, *p, tokenizer.sep_token_id] for p in pieces]
        else:
            if self.objective == "span-corruption":
                sentinel_ids(tokenizer)  # refuse early, before any training
            blocks = pack(ids, tokenizer.eos_token_id, size - (self.objective != "causal-lm"))
        encoded = {
            "input_ids": blocks,
            "attention_mask": [[1] * len(block) for block in blocks],
            "length": [len(block) for block in blocks],
        }
        if self.objective == "causal-lm":
            encoded["labels"] = [list(block) for block in blocks]
        return encoded

    def collator(self, tokenizer: PreTrainedTokenizerBase, seed: int | None = None) -> Collator:
        """Pads, and draws the masking or corruption of the objective."""
        from transformers import DataCollatorForLanguageModeling

        seed = self.seed if seed is None else seed
        if self.objective == "masked-lm":
            return DataCollatorForLanguageModeling(
                tokenizer, mlm_probability=self.settings.mlm_probability, seed=seed
            )
        if self.objective == "span-corruption":
            s = self.settings
            return SpanCorruptionCollator(tokenizer, s.noise_density, s.mean_span_length, seed)
        return t2t.collator(tokenizer)

    def predict(
        self, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
        precision: str,
    ) -> dict:  # fmt: skip
        """Held-out loss per predicted token (masked, hidden or next), noise from a fixed seed."""
        features = self.held_out(tokenized, loaded.tokenizer)
        loss = t2t.mean_token_loss(loaded.model, features, loaded.tokenizer, batch_size)
        examples = guesses(loaded, features.select(range(min(EXAMPLES, len(features)))))
        return {"loss": loss, "examples": examples}

    def held_out(self, tokenized: Dataset, tokenizer: PreTrainedTokenizerBase) -> Dataset:
        """Blocks with labels, the noise drawn once, row by row, from HELD_OUT_SEED."""
        from datasets import Dataset

        if self.objective == "causal-lm":
            return tokenized
        draw = self.collator(tokenizer, seed=HELD_OUT_SEED)
        rows = []
        for ids in tokenized["input_ids"]:
            row = draw([{"input_ids": ids}])
            rows.append({key: [int(v) for v in row[key][0]] for key in ("input_ids", "labels")})
            rows[-1]["attention_mask"] = [1] * len(rows[-1]["input_ids"])
        return Dataset.from_list(rows)

    def score(self, outputs: dict, tokenized: Dataset) -> dict[str, Any]:
        loss = outputs["loss"]
        return {"loss": loss, "perplexity": metrics.perplexity(loss), "blocks": len(tokenized)}

    def postprocess(self, outputs: dict, table: Dataset) -> list[Record]:
        return outputs["examples"]

    def predict_rows(
        self, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
        precision: str,
    ) -> Batch:  # fmt: skip
        raise ToolkitError(NO_PREDICTIONS)

    def report(self, records: list[Record], rows: list[dict]) -> ReportPieces:
        return generated_text(records, self.SAMPLE_FIELDS)


def pack(rows: list[list[int]], separator: int | None, size: int) -> list[list[int]]:
    """Join token rows with `separator` and cut into blocks of `size`; the last, shorter block
    is kept (small held-out splits lose no tokens), a block of one token is not."""
    if separator is None:
        raise ToolkitError("model.name: the tokenizer has no separator (EOS/[SEP]) token to pack")
    stream = list(chain.from_iterable(row + [separator] for row in rows))
    pieces = [stream[i : i + size] for i in range(0, len(stream), size)]
    return [piece for piece in pieces if len(piece) > 1]


def guesses(loaded: LoadedModel, features: Dataset) -> list[dict[str, str]]:
    """For a few labelled blocks: the input, the tokens to predict, and the model's argmax."""
    import torch

    model, tokenizer = loaded.model, loaded.tokenizer
    if len(features) == 0:
        return []
    batch = t2t.collator(tokenizer)(list(features))
    batch = {key: value.to(model.device) for key, value in batch.items()}
    with torch.inference_mode():
        predicted = model(**batch).logits.argmax(-1)
    labels = batch["labels"]
    if not model.config.is_encoder_decoder:  # logits at i predict the token at i + 1
        predicted, labels = predicted[:, :-1], labels[:, 1:]
    rows = []
    for ids, want, got in zip(batch["input_ids"], labels, predicted):
        keep = want != t2t.IGNORE
        rows.append({
            "input": tokenizer.decode(ids[batch["attention_mask"][len(rows)].bool()]),
            "target": tokenizer.decode(want[keep]),
            "predicted": tokenizer.decode(got[keep]),
        })  # fmt: skip
    return rows
