"""Pre-training: masked LM on BERT, causal LM on GPT-2, span corruption on a from-scratch T5;
the span-corruption collator; from-scratch masked LM, then fine-tuning its model/ on a task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_recipe, read_jsonl, toy_rows, write_csv, write_jsonl

from toolkit.cli import app
from toolkit.tasks.span_corruption import SpanCorruptionCollator

TINY_SCRATCH = {"vocab_size": 300, "hidden_size": 32, "layers": 2, "heads": 2,
                "max_positions": 128}  # fmt: skip


def write_text(path: Path, count: int = 160) -> Path:
    return write_jsonl(path, [{"text": r["text"]} for r in toy_rows(count, 7)])


def pretrain_recipe(
    tmp_path: Path, model: Path | str, out: str = "run", rows: int = 160, **model_keys
) -> Path:
    data = write_text(tmp_path / "text.jsonl", rows)
    return make_recipe(
        tmp_path / f"{out}.yaml", model, data, tmp_path / out,
        model={"name": str(model), **model_keys},
        task={"name": "pretraining", "block_size": 48},
        train={"epochs": 2, "batch_size": 8, "learning_rate": 2e-3, "logging_steps": 2},
    )  # fmt: skip


def logged_losses(run: Path) -> list[float]:
    return [r["loss"] for r in read_jsonl(run / "log.jsonl") if "loss" in r]


def check_run_and_eval(runner, run: Path) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    for split in ("validation", "test"):
        assert metrics[split]["perplexity"] > 1 and metrics[split]["blocks"] >= 1
    examples = read_jsonl(run / "predictions" / "test.jsonl")
    assert examples and {"input", "target", "predicted"} <= set(examples[0])
    result = runner.invoke(app, ["eval", str(run)])
    assert result.exit_code == 0, result.output
    again = json.loads((run / "eval" / "test.json").read_text())
    assert again["loss"] == pytest.approx(metrics["test"]["loss"], rel=1e-4)  # fixed eval noise
    return metrics


@pytest.mark.parametrize("family", ["bert", "gpt2"])
def test_native_objective_on_tiny_checkpoint(family, tiny_models, tmp_path, runner):
    result = runner.invoke(app, ["run", str(pretrain_recipe(tmp_path, tiny_models[family]))])
    assert result.exit_code == 0, result.output
    metrics = check_run_and_eval(runner, tmp_path / "run")
    assert metrics["test"]["perplexity"] < 200  # vocab ~200-300: far below uniform after training


def test_span_corruption_on_scratch_t5(tmp_path, runner):
    recipe = pretrain_recipe(tmp_path, "tiny-t5", scratch={"model_type": "t5", **TINY_SCRATCH})
    result = runner.invoke(app, ["run", str(recipe)])
    assert result.exit_code == 0, result.output
    check_run_and_eval(runner, tmp_path / "run")
    target = read_jsonl(tmp_path / "run" / "predictions" / "test.jsonl")[0]
    assert target["target"].startswith("<extra_id_0>") and "<extra_id_0>" in target["input"]


def test_t5_without_sentinels_is_refused(tiny_models, tmp_path, runner):
    result = runner.invoke(app, ["run", str(pretrain_recipe(tmp_path, tiny_models["t5"]))])
    assert result.exit_code == 2 and "needs sentinel tokens" in result.output


def test_scratch_positions_must_cover_blocks(tmp_path, runner):
    scratch = {"model_type": "gpt2", **TINY_SCRATCH, "max_positions": 32}
    result = runner.invoke(app, ["run", str(pretrain_recipe(tmp_path, "x", scratch=scratch))])
    assert result.exit_code == 2 and "max_positions: 32 is shorter" in result.output


def test_masked_lm_on_gpt2_is_refused(tiny_models, tmp_path, runner):
    recipe = pretrain_recipe(tmp_path, tiny_models["gpt2"])
    result = runner.invoke(app, ["run", str(recipe), "--set", "task.objective=masked-lm"])
    assert result.exit_code == 2
    assert len(result.output.strip().splitlines()) == 1
    assert "set task.objective: causal-lm" in result.output
    assert not (tmp_path / "run").exists()


class FakeTokenizer:
    eos_token_id = 1

    def get_vocab(self) -> dict[str, int]:
        return {f"<extra_id_{k}>": 1000 + k for k in range(100)}


def restore(row: dict[str, list[int]]) -> list[int]:
    """Put each hidden span back in place of its sentinel."""
    spans: dict[int, list[int]] = {}
    for token in row["labels"][:-1]:
        if token >= 1000:
            current = spans.setdefault(token, [])
        else:
            current.append(token)
    return [t for token in row["input_ids"][:-1] for t in spans.get(token, [token])]


def test_span_corruption_collator():
    block = list(range(10, 210))
    rows = [SpanCorruptionCollator(FakeTokenizer(), 0.15, 3.0, seed=5).corrupt(block)]
    rows.append(SpanCorruptionCollator(FakeTokenizer(), 0.15, 3.0, seed=5).corrupt(block))
    assert rows[0] == rows[1]  # same seed, same corruption
    other = SpanCorruptionCollator(FakeTokenizer(), 0.15, 3.0, seed=6).corrupt(block)
    assert other != rows[0]
    row = rows[0]
    assert row["input_ids"][-1] == row["labels"][-1] == 1 and row["labels"][0] == 1000
    assert restore(row) == block
    hidden = sum(1 for token in row["labels"] if 10 <= token < 1000)
    assert hidden == 30  # round(200 × 0.15)
    sentinels = [t for t in row["input_ids"] if t >= 1000]
    assert sentinels == list(range(1000, 1000 + len(sentinels))) and 5 <= len(sentinels) <= 15


def test_scratch_masked_lm_then_fine_tune(tmp_path, runner):
    scratch = {"model_type": "bert", **TINY_SCRATCH}
    recipe = pretrain_recipe(tmp_path, "tiny-bert", "pre", rows=600, scratch=scratch)
    result = runner.invoke(app, ["run", str(recipe), "--set", "train.epochs=5"])
    assert result.exit_code == 0, result.output
    losses = logged_losses(tmp_path / "pre")
    assert len(losses) > 5 and losses[-1] < losses[0] - 1.0
    assert (tmp_path / ".pre.scratch" / "tokenizer.json").is_file()
    data = write_csv(tmp_path / "toy.csv", toy_rows(160))
    fine = make_recipe(tmp_path / "fine.yaml", tmp_path / "pre" / "model", data, tmp_path / "fine")
    result = runner.invoke(app, ["run", str(fine), "--set", "train.epochs=3"])
    assert result.exit_code == 0, result.output
    assert "accuracy" in json.loads((tmp_path / "fine" / "metrics.json").read_text())["test"]
    init, pre, fine = (
        word_embeddings(tmp_path / name) for name in (".pre.scratch", "pre/model", "fine/model")
    )
    assert (fine - pre).abs().mean() < 0.5 * (pre - init).abs().mean()  # fine-tuned from pre


def word_embeddings(folder: Path):
    from safetensors.torch import load_file

    weights = load_file(str(folder / "model.safetensors"))
    return next(v for k, v in weights.items() if k.endswith("word_embeddings.weight"))


def test_shipped_pretraining_recipe_validates(runner):
    recipe = Path(__file__).resolve().parent.parent / "recipes" / "pretrain_bert_scratch.yaml"
    result = runner.invoke(app, ["validate", str(recipe)])
    assert result.exit_code == 0 and "family not checked" not in result.output, result.output
