"""Model families, keyed on the checkpoint's `config.model_type`, and loading helpers.

A family says what the architecture is (encoder, decoder, encoder-decoder), which head class
serves each task, which config keys hold its dropout, which modules LoRA targets, and whether
the tokenizer needs a pad token added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolkit.checkpoint_files import (
    check_folder,
    config_error,
    local_checkpoint,
    local_folder,
    reading_weights,
    refuse_auto_map,
    tokenizer_error,
)
from toolkit.console import quiet_gguf_loading
from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from toolkit.tasks.base import Head


@dataclass(frozen=True)
class Family:
    """What the toolkit needs to know about one architecture."""

    kind: str  # "encoder" | "decoder" | "encoder-decoder"
    dropout_keys: tuple[str, ...]
    lora_targets: tuple[str, ...]
    needs_pad_token: bool = False
    layers: str = "encoder.layer"  # attribute path from `model.base_model` to the layer stack
    task_prefix: bool = False  # T5 was pre-trained with "translate X to Y: "-style prefixes
    fp16_overflows: bool = False  # T5's activations overflow fp16 to NaN (a known issue)
    rms_norm: bool = False  # RMSNorm right on the token embeddings (T5, Llama): singular at 0

    @property
    def is_decoder(self) -> bool:
        """Decoder-only: generates left to right from a prompt (GPT-2, Llama)."""
        return self.kind == "decoder"

    @property
    def is_encoder(self) -> bool:
        """Encoder-only: reads, does not generate by itself (BERT)."""
        return self.kind == "encoder"

    @property
    def is_encoder_decoder(self) -> bool:
        return self.kind == "encoder-decoder"


_BERT = Family(
    "encoder", ("hidden_dropout_prob", "attention_probs_dropout_prob"), ("query", "value")
)
_GPT2 = Family("decoder", ("resid_pdrop", "embd_pdrop", "attn_pdrop"), ("c_attn",), True, "h")
_LLAMA = Family(
    "decoder", ("attention_dropout",), ("q_proj", "v_proj"), True, "layers", rms_norm=True
)
_T5 = Family(
    "encoder-decoder", ("dropout_rate",), ("q", "v"), layers="encoder.block", task_prefix=True,
    fp16_overflows=True, rms_norm=True,
)  # fmt: skip
_BART = Family(
    "encoder-decoder",
    ("dropout", "attention_dropout", "activation_dropout"),
    ("q_proj", "v_proj"),
    layers="encoder.layers",
)

FAMILIES: dict[str, Family] = {
    "bert": _BERT,
    "roberta": _BERT,
    "xlm-roberta": _BERT,
    "electra": _BERT,
    "distilbert": Family(
        "encoder", ("dropout", "attention_dropout"), ("q_lin", "v_lin"), layers="transformer.layer"
    ),
    "gpt2": _GPT2,
    "gpt_neo": Family(
        "decoder",
        ("embed_dropout", "attention_dropout", "resid_dropout"),
        ("q_proj", "v_proj"),
        True,
        "h",
    ),
    "llama": _LLAMA,
    "mistral": _LLAMA,
    "qwen2": _LLAMA,
    "t5": _T5,
    "mt5": _T5,
    "umt5": _T5,
    "bart": _BART,
    "mbart": _BART,
    "marian": _BART,
    # A saved bert2bert (or any EncoderDecoderModel); its own dropout lives in the sub-configs.
    "encoder-decoder": Family("encoder-decoder", (), ()),
}


@dataclass
class LoadedModel:
    model: Any  # a transformers PreTrainedModel, or a peft PeftModel around one
    tokenizer: Any  # a transformers PreTrainedTokenizerBase
    family: Family
    model_type: str
    head: Head

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @property
    def trainable_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)


def load_config(
    name: str, source: dict[str, Any] | None = None, trust_remote_code: bool = False
) -> Any:
    """AutoConfig for a hub id or local directory, with errors the user can act on; custom code
    (an auto_map) is refused unless trusted, and transformers never prompts about it."""
    from transformers import AutoConfig

    folder = local_checkpoint(name)
    if folder is not None:
        check_folder(folder, f"model.name: {name!r}", trust_remote_code)
    try:
        config = AutoConfig.from_pretrained(
            str(folder or name), **(source or {}), trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError, TypeError) as exc:
        raise config_error(name, folder, exc) from None
    if not trust_remote_code:  # a hub checkpoint's config.json, now downloaded (no code ran)
        refuse_auto_map(config, f"model.name: {name!r}")
    return config


def family_of(config: Any, name: str) -> Family:
    family = FAMILIES.get(config.model_type)
    if family is None:
        known = ", ".join(sorted(FAMILIES))
        raise ToolkitError(
            f"model.name: {name!r} is a {config.model_type!r} model, which is not a supported "
            f"family (supported model types: {known})"
        )
    return family


def load_tokenizer(
    name: str, family: Family, source: dict[str, Any] | None = None, trust_remote_code=False
) -> Any:
    from transformers import AutoTokenizer

    folder = local_folder(name)
    if folder is not None:  # a run's model dir, read here first (load_config checked model.name)
        check_folder(folder, f"model.name: {name!r}", trust_remote_code)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            str(folder or name), **(source or {}), trust_remote_code=trust_remote_code
        )
    except Exception as exc:  # tokenizers raises bare Exceptions for a malformed tokenizer.json
        raise tokenizer_error(name, exc) from None
    # Training and loss scoring pad on the right: with left padding, decoders without explicit
    # position ids would shift every real token's position. Generation switches to left itself.
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None and family.needs_pad_token:
        # GPT-2-style vocabularies have no pad token; reusing EOS is the standard fix and keeps
        # the vocabulary (and so the embedding matrix) unchanged. Padding is masked anyway.
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.pad_token is None:
        raise ToolkitError(f"model.name: the tokenizer of {name!r} has no pad or EOS token")
    return tokenizer


def apply_dropout(config: Any, family: Family, dropout: float | None) -> list[str]:
    """Set every family dropout key on `config`; returns the keys changed."""
    if dropout is None:
        return []
    changed = [key for key in family.dropout_keys if hasattr(config, key)]
    for key in changed:
        setattr(config, key, dropout)
    return changed


def load_for_task(
    name: str,
    head_for: Callable[[Family], Head],
    config_updates: dict[str, Any],
    dropout: float | None = None,
    source: dict[str, Any] | None = None,
    model_options: dict[str, Any] | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load tokenizer and task head model of a checkpoint, with family fixes applied.

    Args:
        head_for: the task's choice of head for a family (`Task.head`; it raises a
            ToolkitError for a family the task cannot use).
        source: from_pretrained arguments that locate the checkpoint (revision, gguf_file).
        model_options: further from_pretrained arguments for the model only (QLoRA's
            quantization_config).
    """
    from toolkit.tasks.base import HeadKind

    trust = {"trust_remote_code": trust_remote_code}
    config = load_config(name, source, **trust)
    family = family_of(config, name)
    head = head_for(family)
    check_head(head, config, name)
    tokenizer = load_tokenizer(name, family, source, **trust)
    config.update(config_updates)
    apply_dropout(config, family, dropout)
    if config.pad_token_id is None:
        config.pad_token_id = tokenizer.pad_token_id
    folder = local_folder(name)
    if (source or {}).get("gguf_file"):
        quiet_gguf_loading()  # transformers' de-quantizing progress bar
    with reading_weights(None if (source or {}).get("gguf_file") else folder):
        if head.kind is HeadKind.BERT2BERT:
            revision = (source or {}).get("revision")
            model = load_bert2bert(name, family, tokenizer, dropout, revision, **trust)
        else:
            model = head.kind.auto_class().from_pretrained(
                name, config=config, **(source or {}), **(model_options or {}), **trust
            )
    if (source or {}).get("gguf_file"):
        forget_gguf_quantizer(model)
    return LoadedModel(model, tokenizer, family, config.model_type, head)


def forget_gguf_quantizer(model: Any) -> None:
    """transformers de-quantises GGUF weights to full precision on load but keeps its GGUF
    "quantizer" attached, which makes Trainer refuse full fine-tuning and save_pretrained
    record a quantization config; the weights are plain tensors, so drop both."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:
        quantizer.remove_quantization_config(model)


def check_head(head: Head, config: Any, name: str) -> None:
    """Refuse, before loading weights, a head transformers has no class for on this model."""
    from toolkit.tasks.base import HeadKind

    if head.kind is HeadKind.BERT2BERT:
        return
    mapping = getattr(head.kind.auto_class(), "_model_mapping", None)
    if mapping is not None and type(config) not in mapping:
        raise ToolkitError(
            f"model.name: {name!r} is a {config.model_type!r} model, for which transformers has "
            f"no {head.kind.auto_class().__name__.removeprefix('AutoModelFor')} head; use another "
            "checkpoint for this task"
        )


def load_bert2bert(
    name: str, family: Family, tokenizer: Any, dropout: float | None, revision: str | None,
    trust_remote_code: bool = False,
) -> Any:  # fmt: skip
    """An EncoderDecoderModel from two copies of an encoder checkpoint: the decoder copy gets
    cross-attention and a causal mask; [CLS] starts decoding and [SEP] ends it."""
    from transformers import EncoderDecoderModel

    keys = family.dropout_keys if dropout is not None else ()
    kwargs = {f"{side}_{key}": dropout for key in keys for side in ("encoder", "decoder")}
    kwargs.update(encoder_trust_remote_code=trust_remote_code)
    kwargs.update(decoder_trust_remote_code=trust_remote_code)
    model = EncoderDecoderModel.from_encoder_decoder_pretrained(
        name, name, encoder_revision=revision, decoder_revision=revision, **kwargs
    )
    start = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
    end = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
    for config in (model.config, model.generation_config):
        config.decoder_start_token_id = start
        config.eos_token_id = end
        config.pad_token_id = tokenizer.pad_token_id
    return model
