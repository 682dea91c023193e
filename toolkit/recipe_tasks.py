"""The `task` section of a recipe: one settings class per task, told apart by `name`.

Kept apart from recipe.py so that each task's keys (its columns, lengths, generation settings)
stay next to each other while the core schema stays short. A task's keys are validated against
its own class only, so a key of another task is an error, not a silently ignored setting.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class GenerationSettings(Section):
    max_new_tokens: int = Field(64, ge=1, le=4096, description="Tokens generated per example.")
    num_beams: int = Field(1, ge=1, le=16, description="Beam search width (1: greedy).")


class ClassificationTask(Section):
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


class TranslationTask(Section):
    """Translation: `{"translation": {"en": ..., "es": ...}}` rows or two columns."""

    name: Literal["translation"] = Field(description="Task name.")
    source_lang: str = Field(description="Source language code, e.g. en.")
    target_lang: str = Field(description="Target language code, e.g. es.")
    translation_column: str | None = Field(
        "translation", description="Column of {lang: text} dicts; null to use the two columns."
    )
    source_column: str | None = Field(None, description="Source text column (two-column form).")
    target_column: str | None = Field(None, description="Target text column (two-column form).")
    prefix: str | None = Field(
        None,
        description="Source prefix for T5-style models; default 'translate <Source> to <Target>: '"
        " for T5 and none for other families.",
    )
    prompt_template: str = Field(
        "Translate {source_lang} to {target_lang}:\n{source}\n{target_lang}:",
        description="Prompt for decoder-only models; the loss covers the target tokens only.",
    )
    max_source_length: int = Field(128, ge=4, le=8192, description="Source tokens kept.")
    max_target_length: int = Field(128, ge=4, le=8192, description="Target tokens kept.")
    generation: GenerationSettings = GenerationSettings()

    @model_validator(mode="after")
    def _one_layout(self) -> TranslationTask:
        if self.translation_column is None and not (self.source_column and self.target_column):
            raise ValueError("give translation_column, or both source_column and target_column")
        if self.source_lang == self.target_lang:
            raise ValueError("source_lang and target_lang must differ")
        return self


class GenerationTask(Section):
    """Text generation: causal LM on plain text, prompt→completion, or text-to-text."""

    name: Literal["text-generation", "generation"] = Field(description="Task name.")
    mode: Literal["causal", "prompt-completion", "text-to-text"] = Field(
        "causal",
        description="causal: next-token on plain text; prompt-completion: loss on the completion "
        "only; text-to-text: input → target (T5, bert2bert; decoders use prompt-completion).",
    )
    text_column: str = Field("text", description="Plain-text column (causal mode).")
    prompt_column: str = Field("prompt", description="Input column (other modes).")
    completion_column: str = Field("completion", description="Target column (other modes).")
    packing: bool = Field(
        True, description="Causal mode: concatenate texts and cut blocks of block_size tokens."
    )
    block_size: int = Field(128, ge=8, le=8192, description="Tokens per training block/example.")
    max_target_length: int = Field(128, ge=4, le=8192, description="Target tokens kept.")
    samples: int = Field(8, ge=0, description="Sample generations written to the run directory.")
    generation: GenerationSettings = GenerationSettings()


class QuestionAnsweringTask(Section):
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
    generation: GenerationSettings = Field(
        default_factory=lambda: GenerationSettings(max_new_tokens=32),
        description="T5 answer generation; also the longest answer target it trains on.",
    )

    @model_validator(mode="after")
    def _stride_fits(self) -> QuestionAnsweringTask:
        if self.stride >= self.max_length // 2:
            raise ValueError("stride must be less than half of max_length")
        return self


class PretrainingTask(Section):
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


# Only tasks with an implementation in toolkit/tasks/ are listed (a test keeps the two in step).
TASK_SECTIONS: tuple[type[Section], ...] = (
    ClassificationTask,
    TranslationTask,
    GenerationTask,
    QuestionAnsweringTask,
    PretrainingTask,
)
