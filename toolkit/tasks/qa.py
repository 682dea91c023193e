"""Question answering on SQuAD-format data (v1, and v2 with `allow_no_answer`), on every family.

Encoders (BERT) and decoders (GPT-2, Llama) answer extractively: a start/end head runs over
overlapping windows of the context and `toolkit.tasks.qa_spans` maps its logits back to a span.
T5 answers generatively: `question: ... context: ...` in, the answer text out. Both are scored
with SQuAD exact match and token F1.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from toolkit import metrics
from toolkit.augment.views import Slot, View
from toolkit.data import Splits
from toolkit.errors import ToolkitError
from toolkit.recipe.section import Section
from toolkit.tasks import text_to_text as t2t
from toolkit.tasks.base import Capabilities, Head, HeadKind, ReportPieces, Task
from toolkit.tasks.qa_rows import (
    answers_of,
    bad_answer_rows,
    bad_answers_message,
    check_prompt_lengths,
    check_question_lengths,
    report_pieces,
)
from toolkit.tasks.qa_spans import SpanCollator, postprocess, prepare_features, span_logits

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

    from toolkit.models import Family, LoadedModel
    from toolkit.tasks.base import Batch, Collator, Record

NO_ANSWER = "unanswerable"  # T5's target for a question without an answer (SQuAD v2)


EXTRACTIVE, GENERATIVE = "extractive", "generative"  # head modes


class QuestionAnsweringSettings(Section):
    """SQuAD-style question answering: extractive (encoders, decoders) or generative (T5)."""

    name: Literal["question-answering", "qa"] = Field(description="Task name.")
    question_column: str = Field("question", description="Question column.")
    context_column: str = Field("context", description="Context passage column.")
    answers_column: str = Field(
        "answers", description="Column of {text: [...], answer_start: [...]} dicts."
    )
    max_length: int = Field(
        384,
        ge=32,
        le=8192,
        description="Tokens per (question, context) window; for T5 the longest input (longer "
        "ones are refused, not cut).",
    )
    stride: int = Field(128, ge=0, description="Overlap between windows of a long context.")
    n_best: int = Field(20, ge=1, description="Start/end candidates considered per window.")
    max_answer_length: int = Field(
        30, ge=1, description="Longest predicted answer span in tokens (extractive)."
    )
    allow_no_answer: bool = Field(False, description="SQuAD v2: questions may have no answer.")
    null_threshold: float = Field(
        0.0, description="Predict no answer when null beats span by this."
    )
    bad_answer_rows: Literal["refuse", "drop"] = Field(
        "refuse", description="Rows whose answer_start does not point at the answer text."
    )
    generation: t2t.GenerationSettings = Field(
        default_factory=lambda: t2t.GenerationSettings(max_new_tokens=32),
        description="T5 answer generation; also the longest answer target it trains on.",
    )

    @model_validator(mode="after")
    def _stride_fits(self) -> QuestionAnsweringSettings:
        if self.stride >= self.max_length // 2:
            raise ValueError("stride must be less than half of max_length")
        return self


class QuestionAnswering(Task[dict]):
    """Extractive QA on encoders and decoders, generative QA on encoder-decoders."""

    name = "question-answering"
    Settings = QuestionAnsweringSettings
    validation_metrics = ()
    held_out_metrics = ("exact_match", "f1")
    compute_metrics = None  # validation reports the loss; EM/F1 need the full post-processing

    def __init__(self, settings: QuestionAnsweringSettings, seed: int = 0):
        self.settings = settings
        self.mode = EXTRACTIVE
        self.generation_backend = "transformers"  # the one the last generation ran on

    @property
    def columns(self) -> list[str]:
        s = self.settings
        return [s.question_column, s.context_column, s.answers_column]

    @property
    def input_columns(self) -> list[str]:
        return [self.settings.question_column, self.settings.context_column]

    def head(self, family: Family) -> Head:
        """A span head where the family has one (GPT-2 and Llama do); T5 generates the answer."""
        if family.is_encoder_decoder:
            return Head(HeadKind.SEQ2SEQ_LM, GENERATIVE)
        return Head(HeadKind.QUESTION_ANSWERING, EXTRACTIVE)

    def bind(self, head: Head) -> None:
        self.settings.generation.check_head(head)
        self.mode = head.mode

    @property
    def generative(self) -> bool:
        return self.mode == GENERATIVE

    def capabilities(self) -> Capabilities:
        """Extracted spans can flip and be explained; generated answers are text."""
        if self.generative:
            return Capabilities()
        return Capabilities(flip_rate=True, explain="spans")

    def augment_view(self) -> View:
        """The context, its answer spans protected (and re-found after the edit)."""
        s = self.settings
        return View([Slot(s.context_column)], [], answers_column=s.answers_column)

    def from_model(self, config: PretrainedConfig) -> None:
        """Nothing beyond the head: the mode comes from the saved model's family."""

    def model_config(self) -> dict[str, Any]:
        return {}

    def prepare(self, splits: Splits) -> None:
        """Check every split; drop rows whose answer_start is off when the recipe says so."""
        from toolkit.console import console

        for split in ("train", "validation", "test"):
            where, table = splits.where(split), getattr(splits, split)
            bad = bad_answer_rows(table, where, self.settings)
            if not bad:
                continue
            if self.settings.bad_answer_rows == "refuse":
                raise ToolkitError(bad_answers_message(where, bad, len(table)))
            if len(bad) == len(table):
                raise ToolkitError(f"{where}: no row has an answer_start matching its answer")
            dropped = set(bad)
            splits.keep_rows(split, [r for r in range(len(table)) if r not in dropped])
            console.print(
                f"{where}: dropped {len(bad)} of {len(table)} rows, whose answer_start does not "
                "point at their answer text"
            )

    def check_rows(self, table: Dataset, where: str) -> None:
        """Refuse rows `prepare` would refuse or drop: eval must score against sound answers."""
        bad = bad_answer_rows(table, where, self.settings)
        if bad:
            raise ToolkitError(bad_answers_message(where, bad, len(table)))

    def preprocess(self, batch: Batch, tokenizer: PreTrainedTokenizerBase) -> Batch:
        """Windows with span labels (extractive), or prompt/answer token ids (generative);
        rows without the answers column get no labels."""
        s = self.settings
        questions = [str(q) for q in batch[s.question_column]]
        contexts = [str(c) for c in batch[s.context_column]]
        gold = s.answers_column in batch
        answers = [answers_of(a) for a in batch[s.answers_column]] if gold else None
        if self.generative:
            prompts = [qa_prompt(q, c) for q, c in zip(questions, contexts)]
            check_prompt_lengths(tokenizer, prompts, questions, s.max_length)
            targets = [a["text"][0] if a["text"] else NO_ANSWER for a in answers or []] or None
            limit = s.generation.max_new_tokens  # a longer target could never be generated
            return t2t.encode_pairs(tokenizer, False, prompts, targets, s.max_length, limit)
        if not getattr(tokenizer, "is_fast", False):
            raise ToolkitError("model.name: extractive QA needs a fast tokenizer (for offsets)")
        check_question_lengths(tokenizer, questions, s.max_length, s.stride)
        features = prepare_features(tokenizer, questions, contexts, s.max_length, s.stride, answers)
        features["length"] = [len(ids) for ids in features["input_ids"]]
        return features

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> Collator:
        return t2t.collator(tokenizer) if self.generative else SpanCollator(tokenizer)

    def predict(
        self, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
        precision: str,
    ) -> dict:  # fmt: skip
        """Answer every question of `table`; returns questions, gold answers, predictions."""
        s = self.settings
        rows = table[:]
        questions, contexts = rows[s.question_column], rows[s.context_column]
        outputs = {
            "questions": questions,
            "golds": [answers_of(a)["text"] for a in rows[s.answers_column]],
        }
        if self.generative:
            outputs["predictions"] = self.generate(loaded, questions, contexts, batch_size)
            return outputs
        answers = self.spans(loaded, tokenized, rows, batch_size, precision)
        outputs["predictions"] = [answer["prediction_text"] for answer in answers]
        outputs["scores"] = [finite(answer["score"]) for answer in answers]
        return outputs

    def spans(
        self, loaded: LoadedModel, tokenized: Dataset, rows: Batch, batch_size: int,
        precision: str,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """The best span of every row (extractive): see qa_spans.postprocess."""
        s = self.settings
        features = self.global_features(tokenized, rows, loaded.tokenizer)
        starts, ends = span_logits(loaded.model, loaded.tokenizer, features, batch_size, precision)
        return postprocess(
            starts, ends, features, rows[s.context_column], n_best=s.n_best,
            max_answer_length=s.max_answer_length,
            null_threshold=s.null_threshold if s.allow_no_answer else None,
        )  # fmt: skip

    def global_features(
        self, tokenized: Dataset, rows: Batch, tokenizer: PreTrainedTokenizerBase
    ) -> Batch:
        """The features as columns, with `example_id` counting over the whole split.

        A batched map numbers examples from 0 in every batch; a new example starts wherever the
        id changes. Only batches of a single row defeat that, and then we tokenize again.
        """
        features = tokenized[:]  # plain lists: indexing a Dataset column row by row is slow
        example_ids = np.cumsum(np.diff(features["example_id"], prepend=-1) != 0) - 1
        if example_ids.size and example_ids[-1] + 1 == len(rows[self.settings.question_column]):
            features["example_id"] = example_ids.tolist()
            return features
        return self.preprocess(rows, tokenizer)  # one call over all rows: ids are global

    def generate(
        self, loaded: LoadedModel, questions: list[str], contexts: list[str], batch_size: int
    ) -> list[str]:
        from toolkit.generation import generate_texts

        s = self.settings
        texts, self.generation_backend = generate_texts(
            loaded.model, loaded.tokenizer, [qa_prompt(q, c) for q, c in zip(questions, contexts)],
            max_new_tokens=s.generation.max_new_tokens, num_beams=s.generation.num_beams,
            batch_size=batch_size, max_input_length=s.max_length, backend=s.generation.backend,
        )  # fmt: skip
        if not s.allow_no_answer:
            return texts
        return ["" if text.strip().lower() == NO_ANSWER else text for text in texts]

    def score(self, outputs: dict, tokenized: Dataset) -> dict[str, Any]:
        """SQuAD exact match and F1 (0-100), each the best over a question's gold answers."""
        result = metrics.squad_metrics(outputs["predictions"], outputs["golds"])
        if self.generative:
            result["generation_backend"] = self.generation_backend
        return result

    def postprocess(self, outputs: dict, table: Dataset) -> list[Record]:
        """One record per question: the question, its gold answers, the prediction (and score)."""
        records = [
            {"question": q, "answers": list(golds), "prediction": p}
            for q, golds, p in zip(outputs["questions"], outputs["golds"], outputs["predictions"])
        ]
        for record, score in zip(records, outputs.get("scores", ())):
            record["score"] = score  # start + end logit; generation has no comparable score
        return records

    def predict_rows(
        self, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
        precision: str,
    ) -> Batch:  # fmt: skip
        """The answer, its score (start + end logit; none for generated answers) and `start`,
        its character offset in the context (-1 for no answer, or a generated answer that is
        not in the context)."""
        s = self.settings
        rows = table[:]
        questions, contexts = rows[s.question_column], rows[s.context_column]
        if self.generative:
            texts = self.generate(loaded, questions, contexts, batch_size)
            starts = [str(c).find(t) if t else -1 for c, t in zip(contexts, texts)]
            return {"answer": texts, "score": [None] * len(texts), "start": starts}
        answers = self.spans(loaded, tokenized, rows, batch_size, precision)
        return {
            "answer": [a["prediction_text"] for a in answers],
            "score": [finite(a["score"]) for a in answers],
            "start": [int(a["start"]) for a in answers],
        }

    def report(self, records: list[Record], rows: list[dict]) -> ReportPieces:
        """Answers matching no gold answer, the most confident first; the first test row's
        context and question to explain."""
        return report_pieces(records, rows, self.settings.context_column,
                             self.settings.question_column)  # fmt: skip


def qa_prompt(question: str, context: str) -> str:
    return f"question: {question.strip()} context: {context.strip()}"


def finite(value: float) -> float | None:
    """A JSON-safe score: None for the infinities of an example without any window."""
    return round(float(value), 4) if np.isfinite(value) else None
