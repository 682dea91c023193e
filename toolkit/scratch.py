"""From-scratch models: a tokenizer trained on the recipe's training split and a randomly
initialised BERT, GPT-2 or T5 built from `model.scratch`, saved as an ordinary checkpoint.

Saving to disk (rather than handing objects around) keeps one code path: everything downstream
loads the new model with `from_pretrained`, exactly like a downloaded checkpoint, and the run's
saved model/ is a normal checkpoint that another recipe can fine-tune.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import ToolkitError
from toolkit.rundir import RunDir
from toolkit.tasks.base import HeadKind

if TYPE_CHECKING:
    from toolkit.recipe.schema import ScratchSection

SENTINELS = [f"<extra_id_{k}>" for k in range(100)]  # T5's span-corruption placeholders
HEADS = {"bert": HeadKind.MASKED_LM, "gpt2": HeadKind.CAUSAL_LM, "t5": HeadKind.SEQ2SEQ_LM}


def build_checkpoint(recipe: Any, columns: list[str], build: bool = True) -> Path:
    """Train the tokenizer and save tokenizer plus random model next to the run directory.

    The folder `<output.dir parent>/.<output.dir name>.scratch/` is rebuilt on every run; the
    training split is carved exactly as the run itself will carve it, so held-out text never
    shapes the vocabulary.
    """
    from toolkit.data import build_splits

    section = recipe.model.scratch
    length = getattr(recipe.task, "block_size", None) or getattr(recipe.task, "max_length", 0)
    if length > section.max_positions:  # BERT/GPT-2 positions past the table crash mid-training
        raise ToolkitError(
            f"model.scratch.max_positions: {section.max_positions} is shorter than the task's "
            f"{length}-token inputs; raise it or shorten the task's length"
        )
    folder = RunDir(recipe.output.dir).scratch
    if not build:  # another process (the main one) has built it
        return folder
    texts = list(training_texts(build_splits(recipe.data, columns).train, columns))
    if not texts:
        raise ToolkitError("model.scratch: the training split has no text to train a tokenizer on")
    tokenizer = train_tokenizer(section, texts)
    tokenizer.save_pretrained(folder)
    model = build_model(section, tokenizer)
    model.save_pretrained(folder)
    return folder


def training_texts(table: Any, columns: list[str]) -> Iterable[str]:
    """Every non-empty string cell of the task's columns (other columns are not text)."""
    for column in columns:
        for value in table[column]:
            if isinstance(value, str) and value.strip():
                yield value


def train_tokenizer(section: Any, texts: list[str]) -> Any:
    """A fast tokenizer of the family's kind, trained on `texts`, with the family's specials."""
    builders = {"bert": wordpiece, "gpt2": byte_level_bpe, "t5": unigram_with_sentinels}
    tokenizer = builders[section.model_type](texts, section.vocab_size)
    tokenizer.model_max_length = section.max_positions
    return tokenizer


def wordpiece(texts: list[str], vocab_size: int) -> Any:
    """BERT: lower-cased WordPiece, `[CLS] text [SEP]` framing."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(
        texts, trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]",
    )  # fmt: skip


def byte_level_bpe(texts: list[str], vocab_size: int) -> Any:
    """GPT-2: byte-level BPE (never an unknown token) with one special, <|endoftext|>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    end = "<|endoftext|>"
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token=end, bos_token=end, unk_token=end
    )


def unigram_with_sentinels(texts: list[str], vocab_size: int) -> Any:
    """T5: SentencePiece-style Unigram, pad 0 / EOS 1 / unk 2, EOS appended to every input,
    and the 100 `<extra_id_k>` sentinels that span corruption needs."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    specials = ["<pad>", "</s>", "<unk>", *SENTINELS]
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=specials, unk_token="<unk>"
    )
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
        extra_special_tokens=SENTINELS,
    )  # fmt: skip


def build_model(section: Any, tokenizer: Any) -> Any:
    """A randomly initialised model with its language-modelling head (seeded by the caller)."""
    config = CONFIGS[section.model_type](section, tokenizer)
    return HEADS[section.model_type].auto_class().from_config(config)


def bert_config(s: ScratchSection, tokenizer: Any) -> Any:
    from transformers import BertConfig

    return BertConfig(
        vocab_size=len(tokenizer), hidden_size=s.hidden_size, num_hidden_layers=s.layers,
        num_attention_heads=s.heads, intermediate_size=inner_size(s),
        max_position_embeddings=s.max_positions, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip


def gpt2_config(s: ScratchSection, tokenizer: Any) -> Any:
    from transformers import GPT2Config

    end = tokenizer.eos_token_id
    return GPT2Config(
        vocab_size=len(tokenizer), n_embd=s.hidden_size, n_layer=s.layers, n_head=s.heads,
        n_inner=inner_size(s), n_positions=s.max_positions, bos_token_id=end, eos_token_id=end,
    )  # fmt: skip


def t5_config(s: ScratchSection, tokenizer: Any) -> Any:
    from transformers import T5Config

    return T5Config(
        vocab_size=len(tokenizer), d_model=s.hidden_size, d_kv=s.hidden_size // s.heads,
        d_ff=inner_size(s), num_layers=s.layers, num_decoder_layers=s.layers, num_heads=s.heads,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
        decoder_start_token_id=tokenizer.pad_token_id,
    )  # fmt: skip


def inner_size(s: ScratchSection) -> int:
    return s.intermediate_size or 4 * s.hidden_size


# The family's config from the scratch sizes; token ids come from the new tokenizer.
CONFIGS = {"bert": bert_config, "gpt2": gpt2_config, "t5": t5_config}
