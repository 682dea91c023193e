"""Shared fixtures: tiny random BERT, GPT-2 and T5 checkpoints with tokenizers trained on fixture
text, saved to disk so the real `from_pretrained` path runs; and a toy sentiment data set whose
label is decided by a cue word, so a model that learns anything scores well above chance."""

from __future__ import annotations

import csv
import json
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
# Under pytest-xdist each worker (and every toolkit subprocess it starts) computes on one thread:
# the tiny models gain nothing from more, and workers spinning on each other's cores lose a lot.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

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


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def read_jsonl(path: Path) -> list[dict]:
    """Every line one JSON object: a blank or broken line fails the test."""
    return [json.loads(line) for line in path.read_text().splitlines()]


# A toy "language": the target is the source with each word reversed, so it is learnable but
# not a copy; the tiny tokenizers were trained on the source words only, which is enough.
def toy_pairs(count: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        words = rng.choices(FILLER, k=rng.randint(2, 5))
        rows.append(
            {"translation": {"en": " ".join(words), "es": " ".join(w[::-1] for w in words)}}
        )
    return rows


NAMES = "alice bob carol dave erin frank grace heidi ivan judy oscar peggy".split()
CITIES = "paris london rome berlin madrid vienna oslo dublin lisbon prague".split()


def qa_rows(count: int, seed: int = 0, long_every: int = 4) -> list[dict]:
    """Passages of "<name> was born in <city> in <year> ." sentences; one in `long_every` is long
    enough to need several 64-token windows. The answer is the city of the person asked about."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        long = long_every and i % long_every == 0
        people = rng.sample(NAMES, k=rng.randint(6, 9) if long else rng.randint(1, 3))
        context, starts = "", {}
        for person in people:
            city = rng.choice(CITIES)
            starts[person] = (city, len(context) + len(f"{person} was born in "))
            context += f"{person} was born in {city} in {rng.randint(1900, 2020)} . "
        name = rng.choice(people)
        city, start = starts[name]
        rows.append(
            {
                "context": context.strip(),
                "question": f"where was {name} born ?",
                "answers": {"text": [city], "answer_start": [start]},
            }
        )
    return rows


def corpus() -> list[str]:
    return [row["text"] for row in toy_rows(400, seed=1)] + [" ".join(POSITIVE + NEGATIVE + FILLER)]


def train_wordpiece(
    folder: Path | None, texts: list[str] | None = None, vocab_size: int = 200, mask: bool = True
):
    """A BERT-style WordPiece tokenizer trained on `texts` (the fixture corpus by default), saved
    to `folder` unless it is None. `mask`: with a [MASK] token (masked-LM pre-training needs it)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] + (["[MASK]"] if mask else [])
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        texts or corpus(), trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=specials)
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
        **({"mask_token": "[MASK]"} if mask else {}),
    )
    if folder is not None:
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


def build_seq2seq(folder: Path, kind: str) -> Path:
    """Tiny random BART or Marian with a byte-level BPE tokenizer (offline stand-ins for the
    hub's facebook/bart-* and Helsinki-NLP/opus-mt-* checkpoints)."""
    from transformers import BartConfig, BartForConditionalGeneration, MarianConfig, MarianMTModel

    if kind == "bart":
        specials = ["<pad>", "</s>", "<unk>", "<s>"]
        tok = train_bytelevel(folder, specials, template="<s> $A </s>", pad_token="<pad>",
                              eos_token="</s>", unk_token="<unk>", bos_token="<s>")  # fmt: skip
    else:  # opus-mt's layout: </s> 0, <unk> 1, and <pad> last, the token the decoder starts from
        tok = train_bytelevel(folder, ["</s>", "<unk>"], template="$A </s>", eos_token="</s>",
                              unk_token="<unk>")  # fmt: skip
        tok.add_special_tokens({"pad_token": "<pad>"})
        tok.save_pretrained(folder)
    sizes = dict(
        vocab_size=len(tok), d_model=32, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=64,
        decoder_ffn_dim=64, max_position_embeddings=128,
        pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
    )  # fmt: skip
    if kind == "bart":
        config = BartConfig(
            **sizes, bos_token_id=tok.bos_token_id, decoder_start_token_id=tok.eos_token_id
        )
        BartForConditionalGeneration(config).save_pretrained(folder)
    else:
        config = MarianConfig(**sizes, decoder_start_token_id=tok.pad_token_id)
        MarianMTModel(config).save_pretrained(folder)
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


def fake_run(tmp_path, model_dir, **task):
    """A run directory whose model/ is a fixture checkpoint: enough to be refused."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "model").symlink_to(model_dir, target_is_directory=True)
    make_recipe(run / "recipe.yaml", model_dir, "train.csv", run, task=task)
    return run


def qa_recipe(tmp_path: Path, model_dir, data_file, task=None, **sections) -> Path:
    """A question-answering recipe (64-token windows, stride 16) writing to tmp_path / "run"."""
    settings = {"name": "qa", "max_length": 64, "stride": 16, "generation": {"max_new_tokens": 6}}
    return make_recipe(
        tmp_path / "r.yaml", model_dir, data_file, tmp_path / "run",
        task={**settings, **(task or {})},
        train={"epochs": 1, "batch_size": 8, "learning_rate": 1e-3, **sections.pop("train", {})},
        **sections,
    )  # fmt: skip


def recipe_file(tmp_path: Path, task: dict, augment: list[dict]) -> Path:
    """A recipe for `toolkit augment --recipe`: the task and augment sections are what count."""
    raw = {
        "model": {"name": "unused-for-augment"},
        "task": task,
        "data": {"train": "unused.jsonl"},
        "augment": augment,
        "train": {"seed": 7},
        "output": {"dir": str(tmp_path / "run")},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


# --- the CLI -----------------------------------------------------------------------------------


def run_ok(runner: CliRunner, args) -> str:
    """Run `toolkit <args>`, which must succeed; returns its output."""
    from toolkit.cli import app

    result = runner.invoke(app, [str(arg) for arg in args])
    assert result.exit_code == 0, result.output
    return result.output


def fails_cleanly(
    runner: CliRunner, args, *expected: str, lines: int = 2, banner: bool = False, absent=()
) -> str:
    """Run `toolkit <args>`, which must refuse cleanly: exit code 2, no traceback, and an
    `error: ` message of at most `lines` lines that holds every `expected` text. Returns the
    output.

    `banner`: the error may follow the model banner (checks that run while tokenizing), so it
    must start the last line instead of the output. `absent`: paths that must not exist after
    (nothing written, no staging directory left behind)."""
    from toolkit.cli import app

    result = runner.invoke(app, [str(arg) for arg in args])
    output = result.output
    assert result.exit_code == 2, output
    assert "Traceback" not in output, output
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    shown = output.strip().splitlines()
    assert (shown[-1] if banner and shown else output).startswith("error: "), output
    assert len(shown) <= lines, output
    for text in expected:
        assert text in output, output
    for path in absent:
        assert not Path(path).exists(), path
    return output


# --- trained runs, shared by the commands that take a run (predict, export, push) -------------


def _train_run(root: Path, name: str, model_dir: Path, data: Path, **sections) -> Path:
    from typer.testing import CliRunner

    folder = root / name
    folder.mkdir()
    recipe = make_recipe(folder / "r.yaml", model_dir, data, folder / "run", **sections)
    with pytest.MonkeyPatch.context() as patch:  # CTranslate2 conversions: not in ~/.cache
        patch.setenv("TOOLKIT_CACHE", str(root / "toolkit-cache"))
        run_ok(CliRunner(), ["run", recipe])
    return folder / "run"


@pytest.fixture(scope="session")
def trained_runs(tiny_models, toy_csv, tmp_path_factory) -> dict[str, Path]:
    """One small trained run per task family the run-taking commands must handle: sentiment on
    BERT (and on GPT-2, and with a LoRA adapter), extractive QA on BERT, translation on T5,
    prompt→completion generation on GPT-2. Built once per session (per xdist worker)."""
    root = tmp_path_factory.mktemp("trained")
    pairs = write_jsonl(root / "pairs.jsonl", toy_pairs(80))
    qa = write_jsonl(root / "qa.jsonl", qa_rows(60))
    prompts = write_jsonl(
        root / "prompts.jsonl",
        [{"prompt": r["text"], "completion": r["label"]} for r in toy_rows(80, seed=4)],
    )
    generation = {"max_new_tokens": 6}
    return {
        "sentiment": _train_run(root, "sentiment", tiny_models["bert"], toy_csv),
        "sentiment_gpt2": _train_run(root, "sentiment_gpt2", tiny_models["gpt2"], toy_csv),
        "lora": _train_run(
            root, "lora", tiny_models["bert"], toy_csv,
            peft={"r": 4, "alpha": 8, "dropout": 0.0}, train={"learning_rate": 5e-3},
        ),
        "qa": _train_run(
            root, "qa", tiny_models["bert"], qa,
            task={"name": "qa", "max_length": 64, "stride": 16, "generation": generation},
            train={"batch_size": 8},
        ),
        "translation": _train_run(
            root, "translation", tiny_models["t5"], pairs,
            task={"name": "translation", "source_lang": "en", "target_lang": "es",
                  "max_source_length": 64, "max_target_length": 32, "generation": generation},
            train={"batch_size": 8},
        ),
        "generation": _train_run(
            root, "generation", tiny_models["gpt2"], prompts,
            task={"name": "text-generation", "mode": "prompt-completion", "block_size": 64,
                  "samples": 4, "generation": generation},
            train={"batch_size": 8},
        ),
    }  # fmt: skip
