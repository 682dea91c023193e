"""Decoder fine-tunes (issue 15): the chat-template prompt path, the EOS count of generations on
both backends, a tiny GPT-2 that learns to stop (and one that cannot, with EOS masked), held-out
splits by whole groups, and sample generations drawn across the split."""

from __future__ import annotations

import json
import random
from types import SimpleNamespace

import pytest
from conftest import fails_cleanly, make_recipe, run_ok, write_jsonl

from toolkit import generation
from toolkit import generation_ct2 as fast
from toolkit.errors import ToolkitError
from toolkit.tasks import text_to_text as t2t
from toolkit.tasks.base import Head, HeadKind
from toolkit.tasks.report_pieces import generated_text
from toolkit.tasks.text_generation import TextGeneration, TextGenerationSettings
from toolkit.tasks.translation import Translation, TranslationSettings

CHAT = (
    "{% for m in messages %}<|endoftext|>{{ m['role'] }}\n{{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:\n{% endif %}"
)
ROWS = {"translation": [{"en": "the cast", "es": "eht tsac"}, {"en": "a plot", "es": "a tolp"}]}


def gpt2_tokenizer(folder, chat: bool):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    tokenizer.pad_token = tokenizer.eos_token  # what load_tokenizer does for GPT-2
    tokenizer.chat_template = CHAT if chat else None
    return tokenizer


def decoder_translation(chat_template) -> Translation:
    settings = TranslationSettings(
        name="translation", source_lang="en", target_lang="es", chat_template=chat_template
    )
    task = Translation(settings)
    task.bind(Head(HeadKind.CAUSAL_LM, t2t.PROMPT))
    return task


@pytest.mark.parametrize("chat", [True, False])
def test_prompt_is_masked_and_eos_kept(chat, tiny_models):
    """Chat or plain template: labels are IGNORE over exactly the rendered prompt, then the
    target's ids and EOS, which the collator keeps even though pad = EOS."""
    tokenizer = gpt2_tokenizer(tiny_models["gpt2"], chat)
    task = decoder_translation("auto")
    assert task.chat(tokenizer) is chat
    encoded = task.preprocess(ROWS, tokenizer)
    prompts = task.format_sources(["the cast", "a plot"], tokenizer)
    assert ("assistant:\n" in prompts[0]) is chat and "the cast" in prompts[0]
    for ids, labels, prompt, target in zip(
        encoded["input_ids"], encoded["labels"], prompts, ["eht tsac", "a tolp"]
    ):
        prompt_ids = tokenizer(prompt)["input_ids"]
        masked = len(prompt_ids)
        assert ids[:masked] == prompt_ids and labels[:masked] == [t2t.IGNORE] * masked
        assert labels[masked:] == ids[masked:] and labels[-1] == tokenizer.eos_token_id
        assert tokenizer.decode(labels[masked:-1]) == (target if chat else " " + target)
    batch = task.collator(tokenizer)([{k: encoded[k][i] for k in encoded} for i in (0, 1)])
    for row, labels in zip(batch["labels"].tolist(), encoded["labels"]):
        assert row[: len(labels)] == labels  # the real EOS stays a label; padding is IGNORE
        assert set(row[len(labels) :]) <= {t2t.IGNORE}


def test_prompt_completion_chat_path(tiny_models):
    tokenizer = gpt2_tokenizer(tiny_models["gpt2"], chat=True)
    settings = TextGenerationSettings(name="text-generation", mode="prompt-completion")
    task = TextGeneration(settings)
    encoded = task.preprocess({"prompt": ["the cast"], "completion": ["good"]}, tokenizer)
    prompt = tokenizer(task.format_prompts(["the cast"], tokenizer)[0])["input_ids"]
    labels = encoded["labels"][0]
    assert (
        labels[: len(prompt)] == [t2t.IGNORE] * len(prompt)
        and t2t.IGNORE not in labels[len(prompt) :]
    )
    assert tokenizer.decode(labels[len(prompt) :]) == "good" + tokenizer.eos_token
    causal = TextGeneration(TextGenerationSettings(name="text-generation", chat_template=True))
    with pytest.raises(ToolkitError, match="prompt-completion"):
        causal.chat(tokenizer)


def test_chat_template_settings(tiny_models):
    plain = gpt2_tokenizer(tiny_models["gpt2"], chat=False)
    assert not decoder_translation("auto").chat(plain)
    assert not decoder_translation(False).chat(gpt2_tokenizer(tiny_models["gpt2"], chat=True))
    with pytest.raises(ToolkitError, match="task.chat_template: true"):
        decoder_translation(True).chat(plain)


def test_chat_template_true_without_one_fails_cleanly(tiny_models, tmp_path, runner):
    data = write_jsonl(tmp_path / "pairs.jsonl", [{"translation": p} for p in ROWS["translation"]])
    recipe = make_recipe(
        tmp_path / "r.yaml", tiny_models["gpt2"], data, tmp_path / "run",
        task={"name": "translation", "source_lang": "en", "target_lang": "es",
              "chat_template": True},
        data={"train": str(data), "validation": str(data), "test": str(data)},
    )  # fmt: skip
    fails_cleanly(runner, ["run", recipe], "task.chat_template", banner=True, lines=20)


# --- the EOS count -----------------------------------------------------------------------------


def test_eos_metrics_on_hand_made_generations():
    assert generation.eos_metrics([True, False, True, True]) == {
        "ended_with_eos": 0.75, "ended_with_eos_count": 3,
    }  # fmt: skip
    assert generation.eos_metrics([False] * 5)["ended_with_eos"] == 0
    assert generation.eos_metrics([]) == {}


def test_transformers_count_on_hand_made_output():
    """Decoder rows after the prompt: EOS then padding (= EOS), no EOS at all, EOS at the last
    place; an encoder-decoder's leading decoder start token (BART: EOS itself) is not a stop."""
    import torch

    eos, pad = 9, 9
    tokenizer = SimpleNamespace(
        pad_token_id=pad, eos_token_id=eos, batch_decode=lambda rows, **_: ["x"] * len(rows)
    )
    made = torch.tensor([[1, 2, 5, eos, pad], [1, 2, 5, 6, 7], [1, 2, 5, 6, eos]])
    model = SimpleNamespace(
        generate=lambda **_: made, generation_config=SimpleNamespace(eos_token_id=[eos, 4])
    )
    inputs = {"input_ids": torch.ones(3, 2, dtype=torch.long)}
    assert generation._generate_batch(model, tokenizer, inputs, {}, True)[1] == [True, False, True]
    starts = torch.tensor([[eos, 5, 6], [eos, 4, 0]])  # 4: a second EOS of the config
    model.generate = lambda **_: starts
    assert generation._generate_batch(model, tokenizer, inputs, {}, False)[1] == [False, True]


def test_ctranslate2_count_on_hand_made_output(monkeypatch):
    eos = 9
    rows = [[5, 6, eos], [5, 6, 7], [eos]]
    engine = SimpleNamespace(
        generate_batch=lambda tokens, **_: [SimpleNamespace(sequences_ids=[r]) for r in rows]
    )
    monkeypatch.setattr(fast, "engine_for", lambda model, tokenizer: engine)
    tokenizer = SimpleNamespace(
        eos_token_id=eos, convert_ids_to_tokens=lambda ids: [str(i) for i in ids],
        decode=lambda ids, **_: " ".join(map(str, ids)),
    )  # fmt: skip
    config = SimpleNamespace(
        eos_token_id=eos, repetition_penalty=None, no_repeat_ngram_size=None,
        forced_eos_token_id=None,
    )  # fmt: skip
    model = SimpleNamespace(generation_config=config)
    texts, ended = fast.generate_ct2(model, tokenizer, [[1, 2]] * 3, 8, 1, 8)
    assert ended == [True, False, True] and texts == ["5 6", "5 6 7", ""]
    translator = SimpleNamespace(  # encoder-decoders: hypotheses as tokens, "</s>" when it ended
        translate_batch=lambda tokens, **_: [
            SimpleNamespace(hypotheses=[[str(i) if i != eos else "</s>" for i in r]]) for r in rows
        ]
    )
    monkeypatch.setattr(fast, "engine_for", lambda model, tokenizer: translator)
    tokenizer.convert_tokens_to_ids = lambda tokens: [
        eos if t == "</s>" else int(t) for t in tokens
    ]
    assert fast.generate_ct2(model, tokenizer, [[1, 2]] * 3, 8, 1, 8) == (texts, ended)


# --- a tiny GPT-2 that learns to stop ----------------------------------------------------------


def copy_run(runner, tmp_path, model_dir, name: str):
    rng = random.Random(0)
    rows = []
    for _ in range(160):
        letters = " ".join(rng.choices("abcdefgh", k=rng.randint(1, 3)))
        rows.append({"prompt": letters, "completion": letters})
    data = write_jsonl(tmp_path / "copy.jsonl", rows)
    recipe = make_recipe(
        tmp_path / f"{name}.yaml", model_dir, data, tmp_path / name,
        task={"name": "text-generation", "mode": "prompt-completion", "block_size": 32,
              "generation": {"max_new_tokens": 12, "backend": "transformers"}},
        train={"epochs": 20, "batch_size": 16, "learning_rate": 1e-2, "eval_every": "no"},
    )  # fmt: skip
    run_ok(runner, ["run", recipe])
    return json.loads((tmp_path / name / "metrics.json").read_text()), tmp_path / name


def eos_masking_collator(self, tokenizer):
    """The known pad = EOS bug: every pad id in the labels masked, the real EOS with it."""
    inner = t2t.collator(tokenizer)

    def collate(features):
        batch = inner(features)
        batch["labels"][batch["labels"] == tokenizer.pad_token_id] = t2t.IGNORE
        return batch

    return collate


def test_a_fine_tuned_decoder_stops_and_the_metric_sees_when_not(
    tiny_models, tmp_path, monkeypatch, runner
):
    metrics, run = copy_run(runner, tmp_path, tiny_models["gpt2"], "stops")
    for split in ("validation", "test"):
        assert metrics[split]["ended_with_eos"] >= 0.75, metrics[split]
        assert metrics[split]["ended_with_eos_count"] == round(
            metrics[split]["ended_with_eos"] * metrics[split]["samples"]
        )
    if fast.ct2.installed():  # the other backend counts the same stops on the same model
        check_backends_agree(run)
    monkeypatch.setattr(TextGeneration, "collator", eos_masking_collator)
    broken, _ = copy_run(runner, tmp_path, tiny_models["gpt2"], "rambles")
    for split in ("validation", "test"):
        assert broken[split]["ended_with_eos"] <= 0.1, broken[split]


def check_backends_agree(run) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(run / "model"))
    tokenizer = AutoTokenizer.from_pretrained(str(run / "model"))
    prompts = [json.loads(line)["prompt"] for line in (run / "splits" / "test.jsonl").open()]
    results = [
        generation.generate_all(model, tokenizer, prompts, backend=b, max_new_tokens=12)
        for b in ("transformers", "ctranslate2")
    ]
    assert results[1].backend == "ctranslate2"
    assert results[0].ended == results[1].ended and results[0].texts == results[1].texts


# --- held-out splits by group, samples across the split ---------------------------------------


def book_rows(books: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    return [
        {"book": f"book{b}", "text": f"verse {b} {v}"}
        for b in range(books)
        for v in range(rng.randint(5, 40))
    ]


def test_group_split_keeps_books_whole(tmp_path):
    from toolkit.data import build_splits
    from toolkit.recipe.schema import DataSection

    rows = book_rows(60)
    data = write_jsonl(tmp_path / "bible.jsonl", rows)
    section = DataSection(train=str(data), group_column="book", validation_size=0.1, test_size=0.2)
    splits = build_splits(section, ["text"])
    books = {name: set(getattr(splits, name)["book"]) for name in ("train", "validation", "test")}
    assert not books["train"] & books["validation"] and not books["train"] & books["test"]
    assert not books["validation"] & books["test"]
    sizes = splits.sizes()
    assert sum(sizes.values()) == len(rows)
    assert abs(sizes["validation"] - 0.1 * len(rows)) <= 20  # within half the largest book
    assert abs(sizes["test"] - 0.2 * len(rows)) <= 20
    again = build_splits(section, ["text"])
    assert again.test["text"] == splits.test["text"]  # seeded: the same books each time
    other = build_splits(section.model_copy(update={"split_seed": 7}), ["text"])
    assert set(other.test["book"]) != books["test"]


def test_group_split_bad_input_fails_cleanly(tiny_models, tmp_path, runner):
    data = write_jsonl(tmp_path / "bible.jsonl", book_rows(30))
    task = {"name": "text-generation", "mode": "causal", "text_column": "text"}
    bad = make_recipe(
        tmp_path / "bad.yaml", tiny_models["gpt2"], data, tmp_path / "run", task=task,
        data={"group_column": "bok"},
    )  # fmt: skip
    fails_cleanly(runner, ["run", bad], "data.group_column", "'bok'", "did you mean 'book'")
    one = write_jsonl(tmp_path / "one.jsonl", [{"book": "Jude", "text": "a verse"}] * 20)
    single = make_recipe(
        tmp_path / "one.yaml", tiny_models["gpt2"], one, tmp_path / "run", task=task,
        data={"group_column": "book"},
    )  # fmt: skip
    fails_cleanly(runner, ["run", single], "data.group_column", "cannot fill")
    typo = make_recipe(
        tmp_path / "typo.yaml", tiny_models["gpt2"], data, tmp_path / "run", task=task,
        data={"group_colum": "book"},
    )  # fmt: skip
    fails_cleanly(runner, ["validate", typo], "group_column", lines=6)


def test_causal_samples_come_from_across_the_split():
    from datasets import Dataset

    table = Dataset.from_list([{"text": f"row {i} of the held out split"} for i in range(200)])
    settings = TextGenerationSettings(name="text-generation", samples=8)
    picked = [TextGeneration(settings, seed).sources_and_references(table)[0] for seed in (1, 1, 2)]
    rows = [int(source.split()[1]) for source in picked[0]]
    assert len(rows) == 8 and rows == sorted(rows) and rows != list(range(8))
    assert max(rows) - min(rows) > 100  # spread over the split, not its opening rows
    assert picked[0] == picked[1] and picked[0] != picked[2]


def test_report_samples_come_from_across_the_records():
    records = [{"source": f"s{i}", "reference": "r", "prediction": "p"} for i in range(100)]
    pieces = generated_text(records, ("source", "reference", "prediction"))
    shown = [int(row[0][1:]) for row in pieces.samples]
    assert len(shown) == 10 and shown == sorted(shown) and max(shown) > 50
    few = generated_text(records[:3], ("source",))
    assert [row[0] for row in few.samples] == ["s0", "s1", "s2"]
