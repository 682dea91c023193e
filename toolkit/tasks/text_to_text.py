"""Helpers shared by the tasks that map an input text to an output text (translation,
text-to-text generation, generative QA), across the three families:

- T5-like encoder-decoders: source → encoder, target → labels (the model shifts them itself).
- GPT-2-like decoders: one sequence `prompt target<eos>`, the loss masked on the prompt tokens.
- BERT-like encoders: a bert2bert `EncoderDecoderModel` built from two copies of the checkpoint
  (the decoder gets cross-attention and a causal mask), trained like T5.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Union

import numpy as np
from pydantic import Field

from toolkit.errors import ToolkitError
from toolkit.recipe.section import Section
from toolkit.tasks.base import Head, HeadKind

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import DataCollatorForSeq2Seq, PreTrainedModel, PreTrainedTokenizerBase

    from toolkit.models import Family

IGNORE = -100  # label id the loss skips
LANGUAGE_NAMES = {
    "en": "English", "es": "Spanish", "fr": "French", "de": "German", "ro": "Romanian",
    "it": "Italian", "pt": "Portuguese", "nl": "Dutch", "ru": "Russian", "zh": "Chinese",
    "ja": "Japanese", "ar": "Arabic",
}  # fmt: skip


# Head modes of the text-to-text tasks (see the module docstring)
PROMPT = "prompt"  # decoder-only: prompt and target in one sequence, loss on the target
T5_PREFIX = "t5"  # encoder-decoder pre-trained with task prefixes ("translate X to Y: ")
SEQ2SEQ = "seq2seq"  # other encoder-decoders (BART, Marian, a saved bert2bert)
BERT2BERT = "bert2bert"  # an encoder checkpoint made into an encoder-decoder


class GenerationSettings(Section):
    max_new_tokens: int = Field(64, ge=1, le=4096, description="Tokens generated per example.")
    num_beams: int = Field(1, ge=1, le=16, description="Beam search width (1: greedy).")
    backend: Literal["auto", "transformers", "ctranslate2"] = Field(
        "auto",
        description="Engine that generates at evaluation and prediction. auto: CTranslate2 where "
        "it returns what transformers would (greedy search, an architecture it converts), else "
        "transformers; the metrics record which ran (generation_backend).",
    )

    def check_head(self, head: Head) -> None:
        """Refuse, before any training, an explicit ctranslate2 on a model it cannot convert."""
        if self.backend == "ctranslate2" and head.kind is HeadKind.BERT2BERT:
            raise ToolkitError(
                "task.generation.backend: CTranslate2 cannot convert a bert2bert "
                "encoder-decoder; use backend: auto or transformers"
            )


ChatSetting = Union[bool, Literal["auto"]]  # noqa: UP007 (pydantic reads the union)
CHAT_HELP = (
    "Decoder-only models: render the prompt with the tokenizer's chat template (the prompt as "
    "the user's message, the target as the assistant's answer; the loss stays on the answer). "
    "auto: where the tokenizer has one (Instruct checkpoints)."
)


def uses_chat(setting: ChatSetting, tokenizer: PreTrainedTokenizerBase, decoder_only: bool) -> bool:
    """Whether prompts go through the chat template; `true` without one is refused."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if setting is True and not (decoder_only and has_template):
        why = "the model is not decoder-only" if not decoder_only else "its tokenizer has none"
        raise ToolkitError(f"task.chat_template: true, but {why}; set it to auto or false")
    return decoder_only and has_template and setting is not False


def render_prompt(tokenizer: PreTrainedTokenizerBase, text: str, chat: bool) -> str:
    """The prompt as the model reads it: `text`, or the user turn of a chat with the assistant's
    turn opened. A BOS the template writes is dropped when tokenizing adds one anyway."""
    if not chat:
        return text
    rendered = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )
    bos = tokenizer.bos_token
    if bos and rendered.startswith(bos) and tokenizer.bos_token_id in tokenizer("")["input_ids"]:
        rendered = rendered[len(bos) :]
    return rendered


def seq2seq_head(family: Family) -> Head:
    """The model a text-to-text task trains for this family, and how it feeds it."""
    if family.is_decoder:
        return Head(HeadKind.CAUSAL_LM, PROMPT)
    if family.is_encoder:
        return Head(HeadKind.BERT2BERT, BERT2BERT)
    return Head(HeadKind.SEQ2SEQ_LM, T5_PREFIX if family.task_prefix else SEQ2SEQ)


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def encode_pairs(
    tokenizer: PreTrainedTokenizerBase,
    decoder_only: bool,
    sources: list[str],
    targets: list[str] | None,
    max_source: int,
    max_target: int,
    chat: bool = False,
) -> dict[str, list]:
    """Token ids and labels for (source, target) pairs; see the module docstring for the layouts.
    Without targets (`toolkit predict`'s unlabeled rows): the sources' token ids alone. `chat`:
    the sources are rendered chat prompts, whose assistant turn the target starts right away.

    The EOS closing each target is a label, never masked (also where pad = EOS): it is what
    teaches a fine-tuned decoder to stop."""
    if not decoder_only or targets is None:
        encoded = tokenizer(sources, truncation=True, max_length=max_source)
        if targets is not None:
            encoded["labels"] = tokenizer(
                text_target=targets, truncation=True, max_length=max_target
            )["input_ids"]
        encoded["length"] = [len(ids) for ids in encoded["input_ids"]]
        return dict(encoded)
    prompts = tokenizer(sources, truncation=True, max_length=max_source)["input_ids"]
    answers = tokenizer(
        [t if chat else " " + t for t in targets],
        add_special_tokens=False,
        truncation=True,
        max_length=max_target - 1,
    )
    eos = tokenizer.eos_token_id
    input_ids, labels = [], []
    for prompt, answer in zip(prompts, answers["input_ids"]):
        input_ids.append(prompt + answer + [eos])
        labels.append([IGNORE] * len(prompt) + answer + [eos])
    return {
        "input_ids": input_ids,
        "attention_mask": [[1] * len(ids) for ids in input_ids],
        "labels": labels,
        "length": [len(ids) for ids in input_ids],
    }


def check_prompt_lengths(
    tokenizer: PreTrainedTokenizerBase, sources: list[str], limit: int, key: str
) -> None:
    """A prompt cut short would lose the very text the model must answer from: refuse it."""
    lengths = [len(ids) for ids in tokenizer(sources)["input_ids"]]
    too_long = [i for i, length in enumerate(lengths) if length > limit]
    if too_long:
        first = sources[too_long[0]]
        raise ToolkitError(
            f"data: {len(too_long)} inputs are longer than {key} = {limit} tokens (first: "
            f"{first[:40]!r}…, {lengths[too_long[0]]} tokens); raise {key} or shorten them"
        )


def collator(tokenizer: PreTrainedTokenizerBase) -> DataCollatorForSeq2Seq:
    """Pads inputs with the pad token and labels with IGNORE, batch by batch."""
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(tokenizer, label_pad_token_id=IGNORE, padding=True)


def mean_token_loss(
    model: PreTrainedModel, tokenized: Dataset, tokenizer: PreTrainedTokenizerBase, batch_size: int
) -> float:
    """Held-out cross-entropy per target token (the basis of perplexity), length-sorted batches."""
    import torch

    pad = collator(tokenizer)
    features = tokenized.select_columns(["input_ids", "attention_mask", "labels"])
    order = np.argsort([len(ids) for ids in features["input_ids"]])[::-1].tolist()
    device = next(model.parameters()).device
    decoder_only = not getattr(model.config, "is_encoder_decoder", False)
    total, tokens = 0.0, 0
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            batch = pad([features[i] for i in order[start : start + batch_size]])
            batch = {key: value.to(device) for key, value in batch.items()}
            labels = batch["labels"][:, 1:] if decoder_only else batch["labels"]  # causal shift
            count = int((labels != IGNORE).sum())
            total += float(model(**batch).loss) * count
            tokens += count
    return total / max(tokens, 1)
