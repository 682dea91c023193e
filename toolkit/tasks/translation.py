"""Translation on every family (T5 with a task prefix, GPT-2 with a prompt and the loss on the
target only, BERT as a bert2bert encoder-decoder), scored with sacreBLEU and chrF."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from toolkit import metrics
from toolkit.augment.views import Slot, View
from toolkit.data import Splits, require_text, where_row
from toolkit.errors import ToolkitError
from toolkit.recipe.section import Section
from toolkit.tasks import text_to_text as t2t
from toolkit.tasks.base import Capabilities, Head, ReportPieces, Task
from toolkit.tasks.report_pieces import generated_text

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, PretrainedConfig, PreTrainedTokenizerBase

    from toolkit.generation import Generations
    from toolkit.models import Family, LoadedModel
    from toolkit.tasks.base import Batch, Record


class TranslationSettings(Section):
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
    chat_template: t2t.ChatSetting = Field("auto", description=t2t.CHAT_HELP)
    max_source_length: int = Field(128, ge=4, le=8192, description="Source tokens kept.")
    max_target_length: int = Field(128, ge=4, le=8192, description="Target tokens kept.")
    generation: t2t.GenerationSettings = t2t.GenerationSettings()

    @model_validator(mode="after")
    def _one_layout(self) -> TranslationSettings:
        if self.translation_column is None and not (self.source_column and self.target_column):
            raise ValueError("give translation_column, or both source_column and target_column")
        if self.source_lang == self.target_lang:
            raise ValueError("source_lang and target_lang must differ")
        return self


class Translation(Task[dict]):
    """Source text in, target text out; scored with sacreBLEU and chrF."""

    name = "translation"
    Settings = TranslationSettings
    validation_metrics = ()
    held_out_metrics = ("bleu", "chrf", "loss", "perplexity")
    pipeline_tag = "translation"
    SAMPLE_FIELDS = ("source", "reference", "prediction")

    def __init__(self, settings: TranslationSettings, seed: int = 0):
        self.settings = settings
        self.languages = (settings.source_lang, settings.target_lang)
        self.mode = "seq2seq"  # see text_to_text.seq2seq_head: prompt, t5, seq2seq or bert2bert
        self.generation_backend = "transformers"  # the one the last generation ran on

    @property
    def columns(self) -> list[str]:
        s = self.settings
        return (
            [s.translation_column] if s.translation_column else [s.source_column, s.target_column]
        )

    @property
    def input_columns(self) -> list[str]:
        return [self.settings.translation_column or self.settings.source_column]

    def head(self, family: Family) -> Head:
        return t2t.seq2seq_head(family)

    def bind(self, head: Head) -> None:
        self.settings.generation.check_head(head)
        self.mode = head.mode

    @property
    def decoder_only(self) -> bool:
        return self.mode == t2t.PROMPT

    def capabilities(self) -> Capabilities:
        return Capabilities()

    def augment_view(self) -> View:
        """The source side only: the reference translation is kept."""
        s = self.settings
        if s.translation_column:
            return View([Slot(s.translation_column, s.source_lang)], [])
        return View([Slot(s.source_column)], [])

    def prepare(self, splits: Splits) -> None:
        for split in ("train", "validation", "test"):
            self.check_rows(getattr(splits, split), splits.where(split))

    def from_model(self, config: PretrainedConfig) -> None:
        """Nothing beyond the head: the mode comes from the saved model's family."""

    def pairs(self, batch: Batch) -> tuple[list[str], list[str] | None]:
        """Sources and references; no references for rows without the target side (`toolkit
        predict`), and a source side missing from a row of the mapping column is refused."""
        s = self.settings
        if not s.translation_column:
            return list(batch[s.source_column]), batch.get(s.target_column)
        rows = [row if isinstance(row, dict) else {} for row in batch[s.translation_column]]
        for number, row in enumerate(rows, 1):
            if not str(row.get(s.source_lang) or "").strip():
                raise ToolkitError(
                    f"column {s.translation_column!r}: row {number} of the batch has no "
                    f"{s.source_lang!r} text"
                )
        targets = [row.get(s.target_lang) for row in rows]
        return [row[s.source_lang] for row in rows], (
            None if any(t is None for t in targets) else targets
        )

    def check_rows(self, table: Dataset, where: str) -> None:
        """Both sides present and non-empty in every row; the language pair exists in the data."""
        s = self.settings
        if s.translation_column is None:
            for column in (s.source_column, s.target_column):
                require_text(table, column, where)
            return
        for row, pair in enumerate(table[s.translation_column]):
            if not isinstance(pair, dict):
                raise ToolkitError(
                    f"{where_row(where, row)}: {s.translation_column!r} is not a "
                    "{lang: text} mapping"
                )
            missing = [
                lang
                for lang in (s.source_lang, s.target_lang)
                if not str(pair.get(lang) or "").strip()
            ]
            if missing and row == 0 and all(lang not in pair for lang in missing):
                present = ", ".join(sorted(k for k, v in pair.items() if v is not None))
                raise ToolkitError(
                    f"{where}: language {missing[0]!r} is not in the data "
                    f"(languages present: {present})"
                )
            if missing:
                raise ToolkitError(
                    f"{where_row(where, row)}: the {missing[0]!r} side is missing or empty"
                )

    def chat(self, tokenizer: PreTrainedTokenizerBase) -> bool:
        return t2t.uses_chat(self.settings.chat_template, tokenizer, self.decoder_only)

    def format_sources(self, sources: list[str], tokenizer: PreTrainedTokenizerBase) -> list[str]:
        """The texts the model reads: prompts (chat-rendered where it applies) or prefixed."""
        chat = self.chat(tokenizer)
        formatted = [self.format_source(source) for source in sources]
        return [t2t.render_prompt(tokenizer, text, chat) for text in formatted]

    def format_source(self, source: str) -> str:
        s = self.settings
        if self.decoder_only:
            return s.prompt_template.format(
                source_lang=t2t.language_name(s.source_lang),
                target_lang=t2t.language_name(s.target_lang),
                source=source,
            )
        prefix = s.prefix
        if prefix is None:
            src, tgt = t2t.language_name(s.source_lang), t2t.language_name(s.target_lang)
            prefix = f"translate {src} to {tgt}: " if self.mode == t2t.T5_PREFIX else ""
        return prefix + source

    def model_config(self) -> dict[str, Any]:
        return {}

    def preprocess(self, batch: Batch, tokenizer: PreTrainedTokenizerBase) -> Batch:
        sources, targets = self.pairs(batch)
        prompts = self.format_sources(sources, tokenizer)
        s = self.settings
        t2t.check_prompt_lengths(tokenizer, prompts, s.max_source_length, "task.max_source_length")
        return t2t.encode_pairs(
            tokenizer, self.decoder_only, prompts, targets, s.max_source_length,
            s.max_target_length, self.chat(tokenizer),
        )  # fmt: skip

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> DataCollatorForSeq2Seq:
        return t2t.collator(tokenizer)

    compute_metrics = None  # validation during training reports the loss; BLEU comes at the end

    def predict(
        self, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
        precision: str,
    ) -> dict:  # fmt: skip
        """Batched, length-sorted generation plus the held-out loss on the references."""
        sources, references = self.pairs(table[:])
        generations = self.generations(loaded, sources, batch_size)
        loss = t2t.mean_token_loss(loaded.model, tokenized, loaded.tokenizer, batch_size)
        return {
            "sources": sources,
            "references": references,
            "translations": generations.texts,
            "ended": generations.ended,
            "loss": loss,
        }

    def score(self, outputs: dict, tokenized: Dataset) -> dict[str, Any]:
        from toolkit.generation import eos_metrics

        result = metrics.translation_metrics(outputs["translations"], outputs["references"])
        loss = outputs["loss"]
        return {**result, "loss": loss, "perplexity": metrics.perplexity(loss),
                **eos_metrics(outputs["ended"]),
                "generation_backend": self.generation_backend}  # fmt: skip

    def postprocess(self, outputs: dict, table: Dataset) -> list[Record]:
        rows = zip(outputs["sources"], outputs["references"], outputs["translations"])
        return [{"source": s, "reference": r, "prediction": p} for s, r, p in rows]

    def predict_rows(
        self, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
        precision: str,
    ) -> Batch:  # fmt: skip
        """The translation of every row, as `translation_<target_lang>`."""
        sources, _ = self.pairs(table[:])
        return {
            f"translation_{self.settings.target_lang}": self.translate(loaded, sources, batch_size)
        }

    def translate(self, loaded: LoadedModel, sources: list[str], batch_size: int) -> list[str]:
        return self.generations(loaded, sources, batch_size).texts

    def generations(self, loaded: LoadedModel, sources: list[str], batch_size: int) -> Generations:
        """Batched, length-sorted generation from the formatted sources."""
        from toolkit.generation import generate_all

        generation = self.settings.generation
        result = generate_all(
            loaded.model, loaded.tokenizer, self.format_sources(sources, loaded.tokenizer),
            batch_size=batch_size, max_new_tokens=generation.max_new_tokens,
            num_beams=generation.num_beams, backend=generation.backend,
        )  # fmt: skip
        self.generation_backend = result.backend
        return result

    def report(self, records: list[Record], rows: list[dict]) -> ReportPieces:
        return generated_text(records, self.SAMPLE_FIELDS)
