"""CTranslate2 as the generation backend (task.generation.backend) and `toolkit export --format
ctranslate2`, on the session's trained T5 translation and GPT-2 generation runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import fails_cleanly, make_recipe, run_ok, toy_pairs, write_jsonl

# One worker builds conftest's trained_runs (session-scoped, so once per xdist worker) for
# every module that takes a trained run.
pytestmark = pytest.mark.xdist_group("trained_runs")

FIELDS = {"translation": "prediction", "generation": "generated"}


def copied(run: Path, tmp_path: Path) -> Path:
    """A private copy of a session run, so writing into it changes no other test's run."""
    return Path(shutil.copytree(run, tmp_path / "run"))


def talkative(trained_runs, tiny_models, name: str, tmp_path: Path) -> Path:
    """A copy of the run whose outputs are not all empty: the trained tiny T5 learned to stop at
    once, so its copy gets the untrained (random, same architecture) weights back."""
    run = copied(trained_runs[name], tmp_path)
    if name == "translation":
        shutil.copy2(tiny_models["t5"] / "model.safetensors", run / "model" / "model.safetensors")
    return run


def recipe_with(run: Path, tmp_path: Path, **generation: object) -> Path:
    """The run's recipe with task.generation settings changed, beside the run."""
    raw = yaml.safe_load((run / "recipe.yaml").read_text())
    raw["task"]["generation"] = {**raw["task"].get("generation", {}), **generation}
    path = tmp_path / f"recipe-{'-'.join(f'{k}{v}' for k, v in generation.items())}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def evaluated(runner, run: Path, recipe: Path) -> tuple[dict, list[dict]]:
    """`toolkit eval RUN --recipe R` on the test split: its metrics and prediction rows."""
    run_ok(runner, ["eval", run, "--recipe", recipe])
    metrics = json.loads((run / "eval" / "test.json").read_text())
    rows = (run / "eval" / "test_predictions.jsonl").read_text().splitlines()
    return metrics, [json.loads(row) for row in rows]


@pytest.mark.parametrize("name", ["translation", "generation"])
def test_ctranslate2_generates_what_transformers_does(
    trained_runs, tiny_models, tmp_path, runner, name
):
    """T5 (Translator) and GPT-2 (Generator): greedy outputs equal, row for row; `auto` (the
    default, which the run trained with) chose CTranslate2 and recorded it."""
    assert json.loads((trained_runs[name] / "metrics.json").read_text())["test"][
        "generation_backend"
    ] == "ctranslate2"  # fmt: skip
    run = talkative(trained_runs, tiny_models, name, tmp_path)
    metrics, rows = evaluated(runner, run, recipe_with(run, tmp_path, backend="transformers"))
    assert metrics["generation_backend"] == "transformers"
    slow = [row[FIELDS[name]] for row in rows]
    assert len({text for text in slow if text.strip()}) > 1  # varied, non-empty outputs
    metrics, rows = evaluated(runner, run, recipe_with(run, tmp_path, backend="auto"))
    assert metrics["generation_backend"] == "ctranslate2"
    assert [row[FIELDS[name]] for row in rows] == slow


def test_a_model_converts_once(trained_runs, tmp_path, runner, monkeypatch, private_augment_cache):
    """Two evaluations of one model: one conversion, cached under $TOOLKIT_CACHE/ctranslate2."""
    from toolkit import ctranslate2_backend

    conversions = []
    convert = ctranslate2_backend.convert_model
    monkeypatch.setattr(
        ctranslate2_backend, "convert_model", lambda *a: conversions.append(1) or convert(*a)
    )
    run = copied(trained_runs["translation"], tmp_path)
    recipe = recipe_with(run, tmp_path, backend="ctranslate2")
    first, _ = evaluated(runner, run, recipe)
    second, _ = evaluated(runner, run, recipe)
    assert conversions == [1]
    assert first["bleu"] == second["bleu"]
    folders = list((private_augment_cache / "ctranslate2").iterdir())
    assert len(folders) == 1 and (folders[0] / "model.bin").is_file()


def test_auto_falls_back_where_ctranslate2_would_differ(trained_runs, tmp_path, runner):
    """Beam search: transformers under auto (and recorded); explicit ctranslate2 runs it."""
    run = copied(trained_runs["translation"], tmp_path)
    metrics, _ = evaluated(runner, run, recipe_with(run, tmp_path, num_beams=2))
    assert metrics["generation_backend"] == "transformers"
    recipe = recipe_with(run, tmp_path, num_beams=2, backend="ctranslate2")
    assert evaluated(runner, run, recipe)[0]["generation_backend"] == "ctranslate2"


def test_unconvertible_model_falls_back_or_fails(trained_runs, tmp_path, runner, monkeypatch):
    """A converter refusal: auto generates through transformers; explicit ctranslate2 is one
    line, exit 2, and no eval file."""
    from toolkit import ctranslate2_backend

    def refuse(*args: object) -> None:
        raise ValueError("No conversion is registered for the model configuration T5Config")

    monkeypatch.setattr(ctranslate2_backend, "convert_model", refuse)
    run = copied(trained_runs["translation"], tmp_path)
    metrics, _ = evaluated(runner, run, recipe_with(run, tmp_path, backend="auto"))
    assert metrics["generation_backend"] == "transformers"
    shutil.rmtree(run / "eval")
    recipe = recipe_with(run, tmp_path, backend="ctranslate2")
    fails_cleanly(
        runner, ["eval", run, "--recipe", recipe],
        "task.generation.backend: CTranslate2 cannot convert this t5 model", "No conversion",
        banner=True, absent=[run / "eval" / "test.json"],
    )  # fmt: skip


def test_bert2bert_with_ctranslate2_is_refused_before_training(tiny_models, tmp_path, runner):
    pairs = write_jsonl(tmp_path / "pairs.jsonl", toy_pairs(20))
    recipe = make_recipe(
        tmp_path / "r.yaml", tiny_models["bert"], pairs, tmp_path / "out",
        task={"name": "translation", "source_lang": "en", "target_lang": "es",
              "generation": {"backend": "ctranslate2"}},
    )  # fmt: skip
    fails_cleanly(
        runner, ["run", recipe], "task.generation.backend", "bert2bert", banner=True,
        absent=[tmp_path / "out"],
    )  # fmt: skip


def generate_from_export(folder: Path, run: Path) -> list[str]:
    """Greedy outputs of the export folder alone (its tokenizer, recipe and CTranslate2 model)
    for the run's test rows."""
    import ctranslate2
    from transformers import AutoTokenizer

    from toolkit.data import load_table
    from toolkit.evaluation.scoring import saved_head
    from toolkit.recipe.load import load_recipe
    from toolkit.tasks.registry import task_for

    task = task_for(load_recipe(folder / "recipe.yaml"))
    task.bind(saved_head(task, folder))
    table = load_table(str(run / "splits" / "test.jsonl"), "test")
    prompts = (
        [task.format_source(s) for s in task.pairs(table[:])[0]]
        if hasattr(task, "format_source")
        else list(table["prompt"])
    )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokens = [tokenizer.convert_ids_to_tokens(ids) for ids in tokenizer(prompts)["input_ids"]]
    if (folder / "shared_vocabulary.json").is_file():  # T5: an encoder-decoder
        results = ctranslate2.Translator(str(folder)).translate_batch(
            tokens, max_decoding_length=6, min_decoding_length=0, beam_size=1
        )
        ids = [tokenizer.convert_tokens_to_ids(r.hypotheses[0]) for r in results]
    else:
        outputs = ctranslate2.Generator(str(folder)).generate_batch(
            tokens, max_length=6, include_prompt_in_result=False, max_batch_size=1
        )
        ids = [r.sequences_ids[0] for r in outputs]
    return [tokenizer.decode(row, skip_special_tokens=True).strip() for row in ids]


@pytest.mark.parametrize("name", ["translation", "generation"])
def test_export_folder(trained_runs, tiny_models, tmp_path, runner, name):
    """The folder per the export contract; CTranslate2 and transformers both load it, and it
    generates what transformers generates from the run."""
    from transformers import AutoConfig

    from toolkit.export import read_export

    run = talkative(trained_runs, tiny_models, name, tmp_path)
    _, rows = evaluated(runner, run, recipe_with(run, tmp_path, backend="transformers"))
    out = run_ok(runner, ["export", run, "--format", "ctranslate2"])
    folder = run / "exports" / "ctranslate2"
    assert str(folder) in out
    info = read_export(folder)
    assert info is not None and info.format == "ctranslate2" and info.run == run.resolve()
    names = {p.name for p in folder.iterdir()}
    assert {"model.bin", "config.json", "tokenizer.json", "recipe.yaml"} <= names
    assert not {n for n in names if n.endswith(".safetensors")}
    config = json.loads((folder / "config.json").read_text())
    assert (
        config["eos_token"]
        and config["model_type"] == AutoConfig.from_pretrained(run / "model").model_type
    )
    assert generate_from_export(folder, run) == [row[FIELDS[name]] for row in rows]


def test_export_refuses_a_classifier(trained_runs, tmp_path, runner):
    out = tmp_path / "exported"
    fails_cleanly(
        runner, ["export", trained_runs["sentiment"], "--format", "ctranslate2", "--out", out],
        "--format onnx", absent=[out],
    )  # fmt: skip


def test_export_refuses_what_is_not_a_run(tmp_path, runner):
    (tmp_path / "notes").mkdir()
    fails_cleanly(
        runner, ["export", tmp_path / "notes", "--format", "ctranslate2"],
        "is not a run directory", absent=[tmp_path / "notes" / "exports"],
    )  # fmt: skip


def test_lora_model_and_one_token_prompts(tiny_models):
    """A LoRA model generates through a merged copy (the adapter itself stays as it was), and
    one-token prompts batched with longer ones come out as transformers' do."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toolkit.generation import generate_batched, generate_texts

    tokenizer = AutoTokenizer.from_pretrained(tiny_models["gpt2"])
    base = AutoModelForCausalLM.from_pretrained(tiny_models["gpt2"])
    lora = LoraConfig(r=2, target_modules=["c_attn"], init_lora_weights=False)
    model = get_peft_model(base, lora).eval()
    prompts = ["a", "the film was", "b", "truly awful acting and a dull plot", "x y"]
    assert len(tokenizer("a")["input_ids"]) == 1
    fast, backend = generate_texts(model, tokenizer, prompts, max_new_tokens=5, batch_size=8)
    assert backend == "ctranslate2"
    assert fast == generate_batched(model, tokenizer, prompts, max_new_tokens=5, batch_size=8)
    assert hasattr(model, "merge_and_unload")  # still the adapter model, unmerged
    fresh = AutoModelForCausalLM.from_pretrained(tiny_models["gpt2"])
    plain = generate_batched(fresh, tokenizer, prompts, max_new_tokens=5)
    assert plain != fast  # the adapter changes the outputs...
    with model.disable_adapter():  # ...and was not merged into the base weights in place
        assert generate_batched(model, tokenizer, prompts, max_new_tokens=5) == plain
