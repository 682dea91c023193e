"""Text generation: causal-LM fine-tuning on plain text (packed or per example), prompt→
completion with the loss on the completion only, and text-to-text (T5, and BERT as bert2bert).

BERT cannot generate left to right by itself; of the two ways to make it (a decoder with a causal
mask, or a bert2bert encoder-decoder), we use bert2bert: it conditions on the input through
cross-attention like T5 does, so the same text-to-text recipes work on both families.
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
from toolkit.tasks.base import Capabilities, Head, ReportPieces, Task
from toolkit.tasks.report_pieces import generated_text, sample_indices

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, PretrainedConfig, PreTrainedTokenizerBase

    from toolkit.generation import Generations
    from toolkit.models import Family, LoadedModel
    from toolkit.tasks.base import Batch, Record


class TextGenerationSettings(Section):
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
    samples: int = Field(
        8,
        ge=0,
        description="Causal mode: texts continued at evaluation, a seeded sample across the split "
        "(train.seed), written to the run directory.",
    )
    chat_template: t2t.ChatSetting = Field("auto", description=t2t.CHAT_HELP)
    generation: t2t.GenerationSettings = t2t.GenerationSettings()


class TextGeneration(Task[dict]):
    """Causal LM, prompt→completion and text-to-text generation; perplexity and ROUGE."""

    name = "text-generation"
    Settings = TextGenerationSettings
    validation_metrics = ()
    held_out_metrics = ("loss", "perplexity", "rouge1", "rouge2", "rougeL")
    SAMPLE_FIELDS = ("prompt", "reference", "generated")
    compute_metrics = None  # validation during training reports the loss; ROUGE comes at the end

    def __init__(self, settings: TextGenerationSettings, seed: int = 0):
        self.settings = settings
        self.seed = seed
        self.mode = t2t.PROMPT
        self.generation_backend = "transformers"  # the one the last generation ran on

    @property
    def causal(self) -> bool:
        return self.settings.mode == "causal"

    @property
    def columns(self) -> list[str]:
        s = self.settings
        return [s.text_column] if self.causal else [s.prompt_column, s.completion_column]

    @property
    def input_columns(self) -> list[str]:
        return self.columns[:1]

    @property
    def decoder_only(self) -> bool:
        return self.mode == t2t.PROMPT

    def head(self, family: Family) -> Head:
        if self.causal and not family.is_decoder:
            raise ToolkitError(
                f"task.mode: causal generation needs a decoder-only model (GPT-2, Llama); this "
                f"{family.kind} family generates text-to-text: set task.mode: text-to-text"
            )
        return t2t.seq2seq_head(family)

    def bind(self, head: Head) -> None:
        self.settings.generation.check_head(head)
        self.mode = head.mode

    def capabilities(self) -> Capabilities:
        return Capabilities()

    def augment_view(self) -> View:
        """Causal: the text. Otherwise the prompt, and the completion for `targets: true` steps."""
        s = self.settings
        if self.causal:
            return View([Slot(s.text_column)], [])
        return View([Slot(s.prompt_column)], [Slot(s.completion_column)])

    def prepare(self, splits: Splits) -> None:
        for split in ("train", "validation", "test"):
            self.check_rows(getattr(splits, split), splits.where(split))

    def check_rows(self, table: Dataset, where: str) -> None:
        for column in self.columns:
            require_text(table, column, where)

    def from_model(self, config: PretrainedConfig) -> None:
        """Nothing beyond the head: the mode comes from the saved model's family."""

    def model_config(self) -> dict[str, Any]:
        return {}

    def preprocess(self, batch: Batch, tokenizer: PreTrainedTokenizerBase) -> Batch:
        s = self.settings
        if self.causal:
            return self.blocks(batch[s.text_column], tokenizer)
        prompts = self.format_prompts(batch[s.prompt_column], tokenizer)
        t2t.check_prompt_lengths(tokenizer, prompts, s.block_size, "task.block_size")
        return t2t.encode_pairs(
            tokenizer, self.decoder_only, prompts, batch.get(s.completion_column),
            s.block_size, s.max_target_length, self.chat(tokenizer),
        )  # fmt: skip

    def chat(self, tokenizer: PreTrainedTokenizerBase) -> bool:
        """Prompt→completion on a decoder: whether prompts go through the chat template."""
        if self.causal and self.settings.chat_template is True:
            raise ToolkitError("task.chat_template: true needs mode: prompt-completion")
        return not self.causal and t2t.uses_chat(
            self.settings.chat_template, tokenizer, self.decoder_only
        )

    def format_prompts(self, prompts: list[str], tokenizer: PreTrainedTokenizerBase) -> list[str]:
        chat = self.chat(tokenizer)
        return [t2t.render_prompt(tokenizer, prompt, chat) for prompt in prompts]

    def blocks(self, texts: list[str], tokenizer: PreTrainedTokenizerBase) -> Batch:
        """Causal LM examples: with packing, texts joined by EOS and cut into full blocks (the
        last, shorter block is kept so small held-out splits lose no tokens); else one text each."""
        size = self.settings.block_size
        ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        eos = [tokenizer.eos_token_id]
        if self.settings.packing:
            stream = list(chain.from_iterable(row + eos for row in ids))
            pieces = [stream[i : i + size] for i in range(0, len(stream), size)]
            pieces = [piece for piece in pieces if len(piece) > 1]
        else:
            pieces = [(row + eos)[:size] for row in ids]
        return {
            "input_ids": pieces,
            "attention_mask": [[1] * len(piece) for piece in pieces],
            "labels": [list(piece) for piece in pieces],
            "length": [len(piece) for piece in pieces],
        }

    def collator(self, tokenizer: PreTrainedTokenizerBase) -> DataCollatorForSeq2Seq:
        return t2t.collator(tokenizer)

    def predict(
        self, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
        precision: str,
    ) -> dict:  # fmt: skip
        """Held-out loss (→ perplexity) and generations: all rows for text-to-text, `samples`
        rows drawn across the split continued from their opening words for causal LM."""
        sources, references = self.sources_and_references(table)
        generations = self.generations(loaded, sources, batch_size)
        loss = t2t.mean_token_loss(loaded.model, tokenized, loaded.tokenizer, batch_size)
        return {"sources": sources, "references": references, "generated": generations.texts,
                "ended": generations.ended, "loss": loss}  # fmt: skip

    def sources_and_references(self, table: Dataset) -> tuple[list[str], list[str]]:
        s = self.settings
        if not self.causal:
            return list(table[s.prompt_column]), list(table[s.completion_column])
        # Drawn across the split with the run's seed: its first rows are often one part of the
        # source (Genesis, for the Bible).
        rows = sample_indices(len(table), s.samples, self.seed)
        texts = list(table.select(rows)[s.text_column])
        words = [text.split() for text in texts]
        cut = [max(1, len(w) // 3) for w in words]  # continue from the opening third
        return [" ".join(w[:c]) for w, c in zip(words, cut)], [
            " ".join(w[c:]) for w, c in zip(words, cut)
        ]

    def score(self, outputs: dict, tokenized: Dataset) -> dict[str, Any]:
        from toolkit.generation import eos_metrics

        loss = outputs["loss"]
        result: dict[str, Any] = {"loss": loss, "perplexity": metrics.perplexity(loss)}
        if not self.causal:
            result.update(metrics.rouge_metrics(outputs["generated"], outputs["references"]))
        result["samples" if not self.causal else "blocks"] = (
            len(outputs["references"]) if not self.causal else len(tokenized)
        )
        result.update(eos_metrics(outputs["ended"]))
        result["generation_backend"] = self.generation_backend
        return result

    def postprocess(self, outputs: dict, table: Dataset) -> list[Record]:
        rows = zip(outputs["sources"], outputs["references"], outputs["generated"])
        return [{"prompt": p, "reference": r, "generated": g} for p, r, g in rows]

    def predict_rows(
        self, loaded: LoadedModel, table: Dataset, tokenized: Dataset, batch_size: int,
        precision: str,
    ) -> Batch:  # fmt: skip
        """`generated`: the completion of every prompt (causal mode: the continuation of every
        text)."""
        return {"generated": self.generate(loaded, list(table[self.columns[0]]), batch_size)}

    def generate(self, loaded: LoadedModel, sources: list[str], batch_size: int) -> list[str]:
        return self.generations(loaded, sources, batch_size).texts

    def generations(self, loaded: LoadedModel, sources: list[str], batch_size: int) -> Generations:
        """Batched, length-sorted generation from `sources` (cut to block_size tokens)."""
        from toolkit.generation import generate_all

        generation = self.settings.generation
        result = generate_all(
            loaded.model, loaded.tokenizer, self.format_prompts(sources, loaded.tokenizer),
            batch_size=batch_size, max_new_tokens=generation.max_new_tokens,
            num_beams=generation.num_beams, max_input_length=self.settings.block_size,
            backend=generation.backend,
        )  # fmt: skip
        self.generation_backend = result.backend
        return result

    def report(self, records: list[Record], rows: list[dict]) -> ReportPieces:
        return generated_text(records, self.SAMPLE_FIELDS)
