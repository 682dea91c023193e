"""The interface every task implements, and the small values it answers with.

A task is one file in this folder: its recipe settings (a pydantic section whose `name` literal
lists the task's names), and one class implementing `Task`. `Task` is an ABC with abstract
methods only: each task writes its own behaviour in full; what several share lives in helper
modules they call (text_to_text.py, report_pieces.py), not in a base class.

The life of a task object: built from its settings (`toolkit.tasks.registry.task_for`); asked
`head(family)`, a pure question; told the answer with `bind(head)` before it tokenizes or
predicts; then prepare → preprocess → collator → predict → score → postprocess (`toolkit predict`:
preprocess → predict_rows, on rows without labels).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

if TYPE_CHECKING:
    from datasets import Dataset
    from pydantic import BaseModel
    from transformers import EvalPrediction, PretrainedConfig, PreTrainedTokenizerBase

    from toolkit.augment.views import View
    from toolkit.data import Splits
    from toolkit.models import Family, LoadedModel

Batch = dict[str, list]  # a batch of rows, column-wise, as `Dataset.map(batched=True)` gives it
Collator = Callable[[list[dict]], dict]  # pads a list of tokenized rows into one batch
Record = dict[str, Any]  # one prediction record (a json line of predictions/<split>.jsonl)
LossFunction = Callable[..., Any]  # (model outputs, labels, num_items_in_batch=...) -> loss tensor
Outputs = TypeVar("Outputs")  # what a task's predict returns and its score/postprocess read


class HeadKind(Enum):
    """The kinds of model a task trains; each is one transformers Auto class, except
    `BERT2BERT`, an EncoderDecoderModel built from two copies of an encoder checkpoint."""

    SEQUENCE_CLASSIFICATION = "sequence classification"
    QUESTION_ANSWERING = "question answering"
    CAUSAL_LM = "causal LM"
    SEQ2SEQ_LM = "seq2seq LM"
    MASKED_LM = "masked LM"
    BERT2BERT = "bert2bert"

    def auto_class(self) -> type:
        """The transformers Auto class (`BERT2BERT` has none: see models.load_bert2bert)."""
        import transformers

        classes = {
            HeadKind.SEQUENCE_CLASSIFICATION: transformers.AutoModelForSequenceClassification,
            HeadKind.QUESTION_ANSWERING: transformers.AutoModelForQuestionAnswering,
            HeadKind.CAUSAL_LM: transformers.AutoModelForCausalLM,
            HeadKind.SEQ2SEQ_LM: transformers.AutoModelForSeq2SeqLM,
            HeadKind.MASKED_LM: transformers.AutoModelForMaskedLM,
        }
        if self not in classes:
            raise ValueError(f"{self.value} models have no Auto class")
        return classes[self]

    def pipeline_tag(self) -> str:
        """The Hub's pipeline tag for models of this kind (the model card's `pipeline_tag`),
        unless the task names its own (`Task.pipeline_tag`)."""
        tags = {
            HeadKind.SEQUENCE_CLASSIFICATION: "text-classification",
            HeadKind.QUESTION_ANSWERING: "question-answering",
            HeadKind.CAUSAL_LM: "text-generation",
            HeadKind.MASKED_LM: "fill-mask",
        }
        return tags.get(self, "text2text-generation")  # seq2seq LM and bert2bert


@dataclass(frozen=True)
class Head:
    """A task's answer to "which model, and how, on this family?"."""

    kind: HeadKind
    mode: str  # the task's way of working on this family, e.g. "extractive", "prompt", "t5"


@dataclass(frozen=True)
class Capabilities:
    """What the evaluation add-ons may do with a (bound) task."""

    flip_rate: bool = False  # predictions are labels or spans: `--perturb` counts flips
    fairness: bool = False  # per-class probabilities: the `--fairness` term-swap probe
    explain: Literal["labels", "spans"] | None = None  # what `toolkit explain` attributes


@dataclass
class ReportPieces:
    """The task's part of `toolkit report`: worst errors, sample outputs, confusion, and the
    input of the explanation section (`Capabilities.explain` says whether there is one)."""

    errors_lead: str
    errors_header: list[str] = field(default_factory=list)
    errors: list[list] = field(default_factory=list)
    samples_header: list[str] = field(default_factory=list)
    samples: list[list] = field(default_factory=list)
    confusion: tuple[list[list[int]], list[str]] | None = None  # counts, labels
    explain: tuple[str, str | None] | None = None  # (text, question) of the row to explain
    explain_gold: str | None = None  # that row's gold label (or answers), beside the prediction


@dataclass(frozen=True)
class LongTexts:
    """How many texts of one split were longer than the task's max_length, and what became of
    them: cut to max_length (mode "truncate", "head_tail") or split into windows ("windows")."""

    texts: int
    longer: int
    max_length: int
    mode: str
    windows: int = 0  # windows in all ("windows" mode; else 0)


@dataclass
class FittedSplits:
    """A task's `fit_splits` answer: the tokenized splits as training wants them, the long-text
    counts of each split, and what metrics.json's train section keeps of it (e.g. class weights)."""

    splits: dict[str, Dataset]
    long_texts: dict[str, LongTexts] = field(default_factory=dict)
    record: dict[str, Any] = field(default_factory=dict)


class Task(ABC, Generic[Outputs]):
    """One task (classification, translation, ...): see the module docstring."""

    name: ClassVar[str]  # the canonical name; `Settings`' name literal lists the aliases too
    Settings: ClassVar[type[BaseModel]]  # the recipe's `task:` section for this task
    validation_metrics: ClassVar[tuple[str, ...]]  # what early stopping may watch (and "loss")
    held_out_metrics: ClassVar[tuple[str, ...]]  # the headline metrics of score(); first = main
    compute_metrics: Callable[[EvalPrediction], dict[str, float]] | None  # Trainer validation
    # The Trainer's `compute_loss_func(outputs, labels, num_items_in_batch)`; None: the model's
    # own loss. A task that brings one applies label smoothing itself (the Trainer then skips it).
    compute_loss: LossFunction | None = None
    label_smoothing: float = 0.0  # the recipe's regularization.label_smoothing (set by task_for)
    # Told the tokenized splits before training (`toolkit eval`: the scored table): a task that
    # reads long documents returns them as training wants them and counts the long texts.
    fit_splits: Callable[[dict[str, Dataset]], FittedSplits] | None = None
    # The model card's Hub pipeline tag when the task fixes one whatever its head (translation);
    # None: the head kind's (`HeadKind.pipeline_tag`).
    pipeline_tag: ClassVar[str | None] = None
    languages: tuple[str, ...] = ()  # language codes of the data, where the task knows them

    @property
    @abstractmethod
    def columns(self) -> list[str]:
        """The data columns the task reads."""

    @property
    @abstractmethod
    def input_columns(self) -> list[str]:
        """The columns `predict_rows` reads (`columns` without the labels); raises ToolkitError
        for a task that predicts nothing on new rows (pre-training)."""

    @abstractmethod
    def head(self, family: Family) -> Head:
        """The model this task trains on `family`; raises ToolkitError for a family it cannot
        use. Pure: it changes nothing (see `bind`)."""

    @abstractmethod
    def bind(self, head: Head) -> None:
        """Work the way `head` says from now on (tokenizing, predicting)."""

    @abstractmethod
    def capabilities(self) -> Capabilities:
        """What eval add-ons (perturb, fairness, explain) can do with this task as bound."""

    @abstractmethod
    def augment_view(self) -> View:
        """Which text of a row augmentation and perturbation may change."""

    @abstractmethod
    def prepare(self, splits: Splits) -> None:
        """Check the rows of every split before training (labels known, answers sound, ...)."""

    @abstractmethod
    def check_rows(self, table: Dataset, where: str) -> None:
        """Refuse rows the task cannot score (for `toolkit eval` on a file)."""

    @abstractmethod
    def from_model(self, config: PretrainedConfig) -> None:
        """Take what a trained model was saved with (label names) before scoring with it."""

    @abstractmethod
    def model_config(self) -> dict[str, Any]:
        """Settings saved into the model config (num_labels, id2label, ...)."""

    @abstractmethod
    def preprocess(self, batch: Batch, tokenizer: PreTrainedTokenizerBase) -> Batch:
        """Token ids (and labels) of a batch of rows, unpadded."""

    @abstractmethod
    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        """Pads each batch (and draws masking noise, for pre-training)."""

    @abstractmethod
    def predict(
        self, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
        precision: str,
    ) -> Outputs:  # fmt: skip
        """The model's outputs on a held-out table (logits, generations, ...): task-specific."""

    @abstractmethod
    def score(self, outputs: Outputs, tokenized: Dataset) -> dict[str, Any]:
        """Held-out metrics from `predict`'s outputs."""

    @abstractmethod
    def postprocess(self, outputs: Outputs, table: Dataset) -> list[Record]:
        """One prediction record per row (or per sample) from `predict`'s outputs."""

    @abstractmethod
    def predict_rows(
        self, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
        precision: str,
    ) -> Batch:  # fmt: skip
        """`toolkit predict`: the prediction columns (name -> one value per row) of rows that
        hold only `input_columns`; `tokenized` is `preprocess` of them, without labels."""

    @abstractmethod
    def report(self, records: list[Record], rows: list[dict]) -> ReportPieces:
        """Worst errors (worst first), sample outputs, confusion counts and the input to explain,
        from a run's test records and rows, for `toolkit report` (which shows the first few)."""
