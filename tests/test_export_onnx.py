"""`toolkit export --format onnx`: parity of the ONNX model with PyTorch on the run's held-out
rows (classification, extractive QA, a merged LoRA adapter), dynamic batch and sequence length,
the export folder, --overwrite, and the inputs it refuses. (A GPT-2 sequence classifier exports
too; it is left out here because each export costs seconds of the suite's budget.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import fails_cleanly, run_ok

# One worker builds conftest's trained_runs (session-scoped, so once per xdist worker) for
# every module that takes a trained run.
pytestmark = pytest.mark.xdist_group("trained_runs")

pytest.importorskip("onnxruntime")
RUNS = ("sentiment", "qa", "lora")  # in this order: the LoRA export replaces a copy of the first


@pytest.fixture(scope="module")
def exported(trained_runs, tmp_path_factory) -> dict[str, Path]:
    """Copies of the sentiment, QA and LoRA runs (BERT), each exported to its default folder
    RUN/exports/onnx through the CLI. An export takes seconds, so the LoRA export doubles as the
    overwrite case: its folder already holds an export (a copy of the sentiment run's, plus a
    stray file), which is refused without --overwrite and replaced with it."""
    from typer.testing import CliRunner

    root = tmp_path_factory.mktemp("exported")
    runs = {name: Path(shutil.copytree(trained_runs[name], root / name)) for name in RUNS}
    old = runs["lora"] / "exports" / "onnx"
    for name in RUNS:
        args = ["export", runs[name], "--format", "onnx"]
        if name == "lora":
            shutil.copytree(runs["sentiment"] / "exports" / "onnx", old)
            (old / "stale.txt").write_text("from the old export")
            fails_cleanly(CliRunner(), args, "already holds an export", "--overwrite")
            assert (old / "stale.txt").is_file()
            args.append("--overwrite")
        output = run_ok(CliRunner(), args)
        assert f"written: {runs[name] / 'exports' / 'onnx'}" in output
    return runs


def held_out(run: Path, onnx: bool):
    """(task, loaded model, table, tokenized) of the run's test split, the way `toolkit eval`
    loads them; `onnx`: with the model swapped for the run's ONNX export."""
    from toolkit.evaluation.scoring import load_target, tokenize_table
    from toolkit.export.onnx import load_onnx_model

    task, loaded, _, table, _ = load_target(run, "test", None, None, [])
    if onnx:
        loaded.model = load_onnx_model(run / "exports" / "onnx")
    return task, loaded, table, tokenize_table(task, loaded, table)


def assert_parity(onnx: np.ndarray, reference: np.ndarray) -> None:
    """Within 1e-4 of PyTorch, and far below the spread between rows: the tiny runs' logits
    differ from row to row by only ~1e-4, which a bound of 1e-4 alone would not resolve."""
    spread = np.ptp(reference, axis=0).min()
    assert spread > 0
    assert np.abs(onnx - reference).max() < min(1e-4, spread / 1000)


@pytest.mark.parametrize("name", ["sentiment", "lora"])
def test_classification_logits_match_pytorch_on_the_held_out_rows(exported, name):
    logits = {}
    for onnx in (False, True):
        task, loaded, table, tokenized = held_out(exported[name], onnx)
        # batches of 7: length-sorted, so each batch pads to its own length (dynamic shapes)
        logits[onnx] = task.predict(loaded, table, tokenized, 7, "fp32")
    assert logits[True].shape == (len(table), 2)
    assert_parity(logits[True], logits[False])


def test_qa_start_and_end_logits_match_pytorch(exported):
    from toolkit.tasks.qa_spans import span_logits

    spans, answers = {}, {}
    for onnx in (False, True):
        task, loaded, table, tokenized = held_out(exported["qa"], onnx)
        features = task.global_features(tokenized, table[:], loaded.tokenizer)
        spans[onnx] = span_logits(loaded.model, loaded.tokenizer, features, 5, "fp32")
        answers[onnx] = task.predict(loaded, table, tokenized, 5, "fp32")["predictions"]
    for side in (0, 1):  # start, end logits of every window
        torch_side, onnx_side = spans[False][side], spans[True][side]
        assert len(onnx_side) == len(torch_side) > len(table) // 2
        assert [len(w) for w in onnx_side] == [len(w) for w in torch_side]
        assert_parity(np.concatenate(onnx_side), np.concatenate(torch_side))
    assert answers[True] == answers[False]


def test_dynamic_batch_and_sequence_length(exported):
    """Shapes unlike the exporter's example (batch 2): one row of 3 tokens, 5 rows of 29."""
    import torch
    from transformers import AutoModelForSequenceClassification
    from transformers.modeling_outputs import SequenceClassifierOutput

    from toolkit.export.onnx import load_onnx_model

    model = load_onnx_model(exported["sentiment"] / "exports" / "onnx").eval()
    reference = AutoModelForSequenceClassification.from_pretrained(
        exported["sentiment"] / "model"
    ).eval()
    assert model.device.type == "cpu" and model.config.id2label == reference.config.id2label
    generator = torch.Generator().manual_seed(0)
    got_all, want_all = [], []
    for rows, length in ((1, 3), (5, 29)):
        ids = torch.randint(5, 60, (rows, length), generator=generator)
        mask = torch.ones_like(ids)
        mask[-1, length // 2 :] = 0  # a padded row
        with torch.inference_mode():
            got, want = model(input_ids=ids, attention_mask=mask), reference(ids, mask)
        assert isinstance(got, SequenceClassifierOutput) and got.logits.shape == (rows, 2)
        got_all.append(got.logits.numpy())
        want_all.append(want.logits.numpy())
    assert_parity(np.concatenate(got_all), np.concatenate(want_all))


def test_export_folder_holds_model_config_tokenizer_recipe_and_record(exported):
    from toolkit.export import read_export

    run = exported["lora"]
    folder = run / "exports" / "onnx"
    names = {p.name for p in folder.iterdir()}
    assert {"model.onnx", "config.json", "tokenizer.json", "recipe.yaml"} <= names
    assert "toolkit_export.json" in names
    assert not names & {"adapter_config.json", "adapter_model.safetensors", "model.safetensors"}
    assert (folder / "recipe.yaml").read_text() == (run / "recipe.yaml").read_text()
    record = json.loads((folder / "toolkit_export.json").read_text())
    assert record["format"] == "onnx" and record["run"] == str(run.resolve())
    assert record["toolkit_version"]
    info = read_export(folder)
    assert (info.format, info.folder, info.run) == ("onnx", folder, run.resolve())
    assert read_export(run) is None  # a run is not an export
    config = json.loads((folder / "config.json").read_text())  # the merged model's own config
    assert config["architectures"] == ["BertForSequenceClassification"]
    assert (
        not list(folder.parent.glob(".onnx.partial*"))
        and not (folder.parent / ".onnx.old").exists()
    )


def test_overwrite_replaced_the_old_export_whole(exported):
    folder = exported["lora"] / "exports" / "onnx"
    assert not (folder / "stale.txt").exists()
    record = json.loads((folder / "toolkit_export.json").read_text())
    assert record["run"] == str(exported["lora"].resolve())


def test_a_folder_of_other_files_is_never_replaced(trained_runs, tmp_path, runner):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    args = ["export", trained_runs["sentiment"], "--format", "onnx", "--out", mine, "--overwrite"]
    fails_cleanly(runner, args, "toolkit_export.json", str(mine))
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_bad_input(trained_runs, tmp_path, runner):
    not_a_run = tmp_path / "folder"
    not_a_run.mkdir()
    (not_a_run / "notes.txt").write_text("x")
    absent = [not_a_run / "exports"]
    fails_cleanly(runner, ["export", not_a_run, "--format", "onnx"], "not a run", absent=absent)
    fails_cleanly(runner, ["export", tmp_path / "nowhere", "--format", "onnx"], "RUN")
    run = trained_runs["sentiment"]
    fails_cleanly(runner, ["export", run, "--format", "tflite"], "'tflite'", "onnx", "ctranslate2")
    fails_cleanly(runner, ["export", run], "--format", "onnx")
    for generative in ("translation", "generation"):
        out = tmp_path / generative
        args = ["export", trained_runs[generative], "--format", "onnx", "--out", out]
        fails_cleanly(runner, args, "--format ctranslate2", absent=[out])
    fails_cleanly(runner, ["export", run, "--format", "onnx", "--out", run], "holds the run")


@pytest.mark.parametrize("name", ["sentiment", "qa"])
def test_predict_runs_on_the_export_folder_and_agrees_with_torch(exported, name, tmp_path):
    """`toolkit predict EXPORT_FOLDER` (the engine read from toolkit_export.json) and
    `--engine onnx` on the run give torch's predictions."""
    from conftest import read_jsonl, write_jsonl
    from typer.testing import CliRunner

    run = exported[name]
    columns = ["text"] if name == "sentiment" else ["question", "context"]
    rows = [{c: row[c] for c in columns} for row in read_jsonl(run / "splits" / "test.jsonl")]
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    written = {}
    for key, args in {
        "torch": [run, "--engine", "torch"],
        "folder": [run / "exports" / "onnx"],
        "engine": [run, "--engine", "onnx"],
    }.items():
        out = tmp_path / f"{key}.jsonl"
        run_ok(CliRunner(), ["predict", args[0], data, "--out", out, *args[1:]])
        written[key] = read_jsonl(out)
    label = "label" if name == "sentiment" else "answer"
    for key in ("folder", "engine"):
        assert [r[label] for r in written[key]] == [r[label] for r in written["torch"]]
        for ours, theirs in zip(written[key], written["torch"]):
            assert ours["score"] == pytest.approx(theirs["score"], abs=1e-4)
