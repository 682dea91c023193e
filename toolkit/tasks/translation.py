"""Translation on every family (T5 with a task prefix, GPT-2 with a prompt and the loss on the
target only, BERT as a bert2bert encoder-decoder), scored with sacreBLEU and chrF."""

from __future__ import annotations

from typing import Any

from toolkit import metrics
from toolkit.data import require_text
from toolkit.errors import ToolkitError
from toolkit.models import FAMILIES
from toolkit.tasks import register
from toolkit.tasks import text_to_text as t2t


@register("translation")
class Translation:
    metric_names = ("loss",)

    def __init__(self, recipe: Any):
        self.settings = recipe.task
        self.decoder_only = False
        self.is_t5 = False

    @property
    def columns(self) -> list[str]:
        s = self.settings
        return (
            [s.translation_column] if s.translation_column else [s.source_column, s.target_column]
        )

    def head(self, family: Any) -> str:
        self.decoder_only = family.kind == "decoder"
        self.is_t5 = family.task_prefix
        return t2t.seq2seq_head(family)

    def prepare(self, splits: Any) -> None:
        for split in ("train", "validation", "test"):
            self.check_rows(getattr(splits, split), f"data.{split}")

    def from_model(self, config: Any) -> None:
        family = FAMILIES.get(config.model_type)
        self.is_t5 = family is not None and family.task_prefix
        self.decoder_only = not getattr(config, "is_encoder_decoder", False)

    def pairs(self, batch: dict[str, list]) -> tuple[list[str], list[str]]:
        s = self.settings
        if s.translation_column:
            rows = batch[s.translation_column]
            return [row[s.source_lang] for row in rows], [row[s.target_lang] for row in rows]
        return list(batch[s.source_column]), list(batch[s.target_column])

    def check_rows(self, table: Any, where: str) -> None:
        """Both sides present and non-empty in every row; the language pair exists in the data."""
        s = self.settings
        if s.translation_column is None:
            for column in (s.source_column, s.target_column):
                require_text(table, column, where)
            return
        for row, pair in enumerate(table[s.translation_column]):
            if not isinstance(pair, dict):
                raise ToolkitError(
                    f"{where} row {row}: {s.translation_column!r} is not a {{lang: text}} mapping"
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
                    f"{where} row {row}: the {missing[0]!r} side is missing or empty"
                )

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
            prefix = f"translate {src} to {tgt}: " if self.is_t5 else ""
        return prefix + source

    def model_config(self) -> dict[str, Any]:
        return {}

    def preprocess(self, batch: dict[str, list], tokenizer: Any) -> dict[str, list]:
        sources, targets = self.pairs(batch)
        prompts = [self.format_source(source) for source in sources]
        s = self.settings
        t2t.check_prompt_lengths(tokenizer, prompts, s.max_source_length, "task.max_source_length")
        return t2t.encode_pairs(
            tokenizer, self.decoder_only, prompts, targets, s.max_source_length, s.max_target_length
        )

    def collator(self, tokenizer: Any) -> Any:
        return t2t.collator(tokenizer)

    compute_metrics = None  # validation during training reports the loss; BLEU comes at the end

    def predict(
        self, loaded: Any, table: Any, tokenized: Any, batch_size: int, precision: str
    ) -> dict:
        """Batched, length-sorted generation plus the held-out loss on the references."""
        from toolkit.generation import generate_batched

        sources, references = self.pairs(table[:])
        generation = self.settings.generation
        translations = generate_batched(
            loaded.model, loaded.tokenizer, [self.format_source(s) for s in sources],
            batch_size=batch_size, max_new_tokens=generation.max_new_tokens,
            num_beams=generation.num_beams,
        )  # fmt: skip
        loss = t2t.mean_token_loss(loaded.model, tokenized, loaded.tokenizer, batch_size)
        return {
            "sources": sources,
            "references": references,
            "translations": translations,
            "loss": loss,
        }

    def score(self, outputs: dict, tokenized: Any) -> dict[str, Any]:
        result = metrics.translation_metrics(outputs["translations"], outputs["references"])
        loss = outputs["loss"]
        return {**result, "loss": loss, "perplexity": metrics.perplexity(loss)}

    def postprocess(self, outputs: dict, table: Any) -> list[dict[str, Any]]:
        rows = zip(outputs["sources"], outputs["references"], outputs["translations"])
        return [{"source": s, "reference": r, "prediction": p} for s, r, p in rows]
