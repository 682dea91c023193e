"""Shared fixtures: tiny random BERT, GPT-2 and T5 checkpoints with tokenizers trained on fixture
text, saved to disk so the real `from_pretrained` path runs; and a toy sentiment data set whose
label is decided by a cue word, so a model that learns anything scores well above chance."""

from __future__ import annotations

import csv
import os
import random
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

# Tests never use the network: say so before huggingface_hub reads its settings, so a hub id
# fails at once instead of after retries (`make test` sets the same variables).
for _variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.setdefault(_variable, "1")

POSITIVE = ["good", "great", "superb", "lovely", "wonderful"]
NEGATIVE = ["bad", "awful", "dull", "terrible", "boring"]
FILLER = (
    "the film story acting plot music scenes cast director script was is and a of very quite "
    "rather truly with its in this that movie ending characters"
).split()


def toy_rows(count: int, seed: int = 0) -> list[dict[str, str]]:
    """Sentences of filler words with one cue word; the cue decides the label."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = "positive" if i % 2 == 0 else "negative"
        words = rng.choices(FILLER, k=rng.randint(4, 12))
        words.insert(
            rng.randrange(len(words) + 1), rng.choice(POSITIVE if label == "positive" else NEGATIVE)
        )
        rows.append({"text": " ".join(words), "label": label})
    return rows


def write_csv(path: Path, rows: list[dict], fieldnames: list[str] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fieldnames or list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def corpus() -> list[str]:
    return [row["text"] for row in toy_rows(400, seed=1)] + [" ".join(POSITIVE + NEGATIVE + FILLER)]


def train_wordpiece(folder: Path):
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        corpus(), trainers.WordPieceTrainer(vocab_size=200, special_tokens=specials)
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
    )
    fast.save_pretrained(folder)
    return fast


def train_bytelevel(folder: Path, specials: list[str], template: str | None = None, **named):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus(), trainer)
    if template:
        tok.post_processor = processors.TemplateProcessing(
            single=template,
            special_tokens=[(t, tok.token_to_id(t)) for t in specials if t in template],
        )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, **named)
    fast.save_pretrained(folder)
    return fast


def seeded_init() -> None:
    """Fixture weights are random but the same on every run, so no test depends on luck."""
    import torch

    torch.manual_seed(int(os.environ.get("TOOLKIT_TEST_SEED", "0")))


def build_bert(folder: Path) -> Path:
    from transformers import BertConfig, BertModel

    tok = train_wordpiece(folder)
    config = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
    )
    seeded_init()
    BertModel(config).save_pretrained(folder)
    return folder


def build_gpt2(folder: Path) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    # Like the real GPT-2: one special token, no pad token (the toolkit must cope).
    tok = train_bytelevel(
        folder, ["<|endoftext|>"], eos_token="<|endoftext|>", bos_token="<|endoftext|>"
    )
    eos = tok.eos_token_id
    config = GPT2Config(
        vocab_size=len(tok),
        n_embd=32,
        n_layer=2,
        n_head=2,
        n_positions=128,
        bos_token_id=eos,
        eos_token_id=eos,
    )
    seeded_init()
    GPT2LMHeadModel(config).save_pretrained(folder)
    return folder


def build_t5(folder: Path) -> Path:
    from transformers import T5Config, T5ForConditionalGeneration

    # Like the real T5: pad 0, EOS 1 appended to every input, unk 2.
    tok = train_bytelevel(
        folder,
        ["<pad>", "</s>", "<unk>"],
        template="$A </s>",
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
    )
    config = T5Config(
        vocab_size=len(tok),
        d_model=32,
        d_kv=16,
        d_ff=64,
        num_layers=2,
        num_decoder_layers=2,
        num_heads=2,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        decoder_start_token_id=tok.pad_token_id,
    )
    seeded_init()
    T5ForConditionalGeneration(config).save_pretrained(folder)
    return folder


BUILDERS = {"bert": build_bert, "gpt2": build_gpt2, "t5": build_t5}


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    return {name: build(root / name) for name, build in BUILDERS.items()}


@pytest.fixture(scope="session")
def toy_csv(tmp_path_factory) -> Path:
    return write_csv(tmp_path_factory.mktemp("data") / "toy.csv", toy_rows(240))


@pytest.fixture(autouse=True)
def private_augment_cache(tmp_path, monkeypatch) -> Path:
    """Each test its own augmentation cache: no hit from another test, nothing in ~/.cache."""
    monkeypatch.setenv("TOOLKIT_CACHE", str(tmp_path / "toolkit-cache"))
    return tmp_path / "toolkit-cache"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def make_recipe(
    path: Path, model_dir: Path | str, data_file: Path | str, out: Path, **sections
) -> Path:
    """Write a small, fast recipe; keyword sections are merged over the defaults."""
    recipe = {
        "model": {"name": str(model_dir)},
        "task": {"name": "sentiment", "max_length": 32},
        "data": {"train": str(data_file), "validation_size": 0.15, "test_size": 0.15},
        "train": {
            "epochs": 1,
            "batch_size": 16,
            "learning_rate": 1e-3,
            "logging_steps": 5,
            "save_checkpoints": False,
        },
        "output": {"dir": str(out)},
    }
    for section, values in sections.items():
        if section == "task" and "name" in values:  # another task: its own keys only
            recipe["task"] = {}
        recipe.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path
