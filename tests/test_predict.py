"""`toolkit predict`: every task's predictions on unlabeled rows equal the run's own test
predictions, a file of many chunks streams through in order with flat memory, and bad input or
an interrupt never leaves a file at --out."""

from __future__ import annotations

import csv
import json
import shutil
import tracemalloc
from pathlib import Path

import pytest
import yaml
from conftest import fails_cleanly, read_jsonl, run_ok, toy_rows, write_csv, write_jsonl
from typer.testing import CliRunner

from toolkit.predict import runner

# One worker builds conftest's trained_runs (session-scoped, so once per xdist worker) for
# every module that takes a trained run.
pytestmark = pytest.mark.xdist_group("trained_runs")


def read_rows(path: Path) -> list[dict]:
    """Rows of a predict output, whatever its format."""
    suffix = path.suffix
    if suffix in (".csv", ".tsv"):
        with path.open(newline="", encoding="utf-8") as handle:
            return list(csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ","))
    if suffix == ".json":
        return json.loads(path.read_text())
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    return read_jsonl(path)


def write_input(path: Path, rows: list[dict]) -> Path:
    """`rows` in the format of `path`'s suffix (a folder: a saved `datasets` table)."""
    if path.suffix == ".jsonl":
        return write_jsonl(path, rows)
    from datasets import Dataset

    table = Dataset.from_list(rows)
    if path.suffix == ".parquet":
        table.to_parquet(str(path))
    else:
        table.save_to_disk(str(path))
    return path


# task -> (input columns, input format, output format, saved record key -> output column)
CASES = {
    "sentiment": (["text"], ".csv", ".jsonl", {"prediction": "label", "score": "score"}),
    "sentiment_gpt2": (["text"], ".jsonl", ".csv", {"prediction": "label"}),
    "lora": (["text"], ".parquet", ".parquet", {"prediction": "label", "score": "score"}),
    "qa": (["question", "context"], ".jsonl", ".json", {"prediction": "answer", "score": "score"}),
    "translation": (["translation"], "", ".tsv", {"prediction": "translation_es"}),
    "generation": (["prompt"], ".jsonl", ".jsonl", {"generated": "generated"}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_predict_equals_the_runs_own_test_predictions(name, trained_runs, tmp_path):
    """Unlabeled test rows in (each case another input and output format), the same
    predictions out as the run wrote for its test split, in the same order."""
    run = trained_runs[name]
    columns, source, target, same = CASES[name]
    rows = [{c: row[c] for c in columns} for row in read_jsonl(run / "splits" / "test.jsonl")]
    if name == "translation":  # unlabeled: the source side alone
        rows = [{"translation": {"en": row["translation"]["en"]}} for row in rows]
    data = write_input(tmp_path / f"rows{source or '_dataset'}", rows)
    out = tmp_path / f"out{target}"
    run_ok(CliRunner(), ["predict", run, data, "--out", out, "--batch-size", 128])
    written, saved = read_rows(out), read_jsonl(run / "predictions" / "test.jsonl")
    assert len(written) == len(saved) == len(rows)
    for row, record, given in zip(written, saved, rows):
        for key, column in same.items():
            if key == "score":
                assert float(row[column]) == pytest.approx(record[key], abs=2e-4)
            else:
                assert row[column] == record[key]
        if name == "qa":
            start, answer = int(row["start"]), row["answer"]
            assert given["context"][start : start + len(answer)] == answer or start == -1
        if "probabilities" in record:
            for label, value in record["probabilities"].items():
                assert float(row[f"prob_{label}"]) == pytest.approx(value, abs=2e-4)


def test_engines_torch_and_ctranslate2_generate_the_same_text(trained_runs, tmp_path):
    """`--engine ctranslate2` on a run directory needs no export (the backend converts and
    caches the model); its greedy continuations equal transformers'."""
    run = trained_runs["generation"]
    rows = [{"prompt": row["prompt"]} for row in read_jsonl(run / "splits" / "test.jsonl")]
    data = write_jsonl(tmp_path / "prompts.jsonl", rows)
    outputs = {}
    for engine in ("torch", "ctranslate2"):
        out = tmp_path / f"{engine}.jsonl"
        run_ok(CliRunner(), ["predict", run, data, "--out", out, "--engine", engine])
        outputs[engine] = [row["generated"] for row in read_jsonl(out)]
    assert len(outputs["torch"]) == len(rows) and outputs["torch"] == outputs["ctranslate2"]
    assert any(text.strip() for text in outputs["torch"])  # something to compare


def test_a_file_of_many_chunks_streams_in_order_with_flat_memory(
    trained_runs, tmp_path, monkeypatch
):
    """480 rows of 16 kB each (7.7 MB) in chunks of 48: ten chunks, every row in order, and
    the memory Python holds does not grow from chunk to chunk."""
    blob = "x" * 16_000
    rows = [{"id": i, "text": row["text"], "blob": blob} for i, row in enumerate(toy_rows(480))]
    data = write_input(tmp_path / "big.parquet", rows)
    seen: list[tuple[int, int]] = []
    predict_chunk = runner.predict_chunk

    def counted(task, loaded, chunk, batch_size, precision):
        seen.append((len(chunk), tracemalloc.get_traced_memory()[0]))
        return predict_chunk(task, loaded, chunk, batch_size, precision)

    monkeypatch.setattr(runner, "predict_chunk", counted)
    monkeypatch.setenv("TOOLKIT_PREDICT_CHUNK_ROWS", "48")
    out = tmp_path / "big.jsonl"
    tracemalloc.start()
    try:
        run_ok(CliRunner(), ["predict", trained_runs["sentiment"], data, "--out", out])
    finally:
        tracemalloc.stop()
    assert [size for size, _ in seen] == [48] * 10
    growth = seen[-1][1] - seen[1][1]
    assert growth < 2_000_000, f"traced memory grew {growth:,} bytes over eight chunks"
    written = read_jsonl(out)
    assert [row["id"] for row in written] == list(range(480))
    assert all(row["blob"] == blob and row["label"] in ("positive", "negative") for row in written)


def test_an_interrupted_predict_leaves_nothing_at_out(trained_runs, tmp_path, monkeypatch):
    """Ctrl-C in the second chunk: exit 130, no file at --out and no staged file beside it."""
    data = write_csv(tmp_path / "rows.csv", [{"text": r["text"]} for r in toy_rows(20)])
    predict_chunk, calls = runner.predict_chunk, []

    def interrupted(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return predict_chunk(*args)

    monkeypatch.setattr(runner, "predict_chunk", interrupted)
    monkeypatch.setenv("TOOLKIT_PREDICT_CHUNK_ROWS", "8")
    out = tmp_path / "out" / "predictions.csv"
    from toolkit.cli import app

    result = CliRunner().invoke(app, ["predict", str(trained_runs["sentiment"]), str(data),
                                      "--out", str(out)])  # fmt: skip
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output
    assert not out.exists() and list(out.parent.iterdir()) == []


def test_a_bad_row_in_a_later_chunk_keeps_the_old_output(trained_runs, tmp_path, monkeypatch):
    """A blank text on line 14 (the second chunk) is named; the file --overwrite would have
    replaced is left as it was."""
    rows = [{"text": r["text"]} for r in toy_rows(20)]
    rows[13]["text"] = "  "
    data = write_jsonl(tmp_path / "rows.jsonl", rows)
    out = tmp_path / "predictions.jsonl"
    out.write_text("old\n")
    monkeypatch.setenv("TOOLKIT_PREDICT_CHUNK_ROWS", "8")
    args = ["predict", trained_runs["sentiment"], data, "--out", out, "--overwrite"]
    fails_cleanly(CliRunner(), args, "rows.jsonl line 14", "empty text", banner=True, lines=4)
    assert out.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["predictions.jsonl", "rows.jsonl"]


@pytest.fixture
def pretraining_run(trained_runs, tmp_path) -> Path:
    """The sentiment run with a pretraining recipe: predict refuses it before any weights load."""
    run = shutil.copytree(trained_runs["sentiment"], tmp_path / "pretrained")
    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["task"] = {"name": "pretraining"}
    (run / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    return run


def test_bad_input_gets_one_line_and_exit_2(trained_runs, pretraining_run, tmp_path):
    run, runner_ = trained_runs["sentiment"], CliRunner()
    data = write_csv(tmp_path / "rows.csv", [{"text": r["text"]} for r in toy_rows(4)])
    wrong = write_csv(tmp_path / "reviews.csv", [{"review": "fine"}])
    empty = tmp_path / "empty.csv"
    empty.write_text("text\n")
    (tmp_path / "sub").mkdir()
    out = tmp_path / "out.csv"
    cases = [
        ([run, wrong, "--out", out], "column 'text' not found", "reviews.csv"),
        ([run, empty, "--out", out], "empty.csv holds no rows"),
        ([run, data, "--out", data], "is the input file"),
        ([run, data, "--out", tmp_path / "sub" / ".." / "rows.csv"], "is the input file"),
        ([run, data, "--out", tmp_path / "out.xlsx"], "unknown suffix '.xlsx'"),
        ([tmp_path / "sub", data, "--out", out], "neither a run directory"),
        ([tmp_path / "nowhere", data, "--out", out], "no such run directory"),
        ([pretraining_run, data, "--out", out], "pretraining run has no predictions"),
        ([run, data, "--out", out, "--engine", "onnx"], "toolkit export", "--format onnx"),
        ([run, data, "--out", out, "--engine", "tensorrt"], "--engine: unknown 'tensorrt'"),
        ([run, tmp_path / "missing.csv", "--out", out], "missing.csv: no such file"),
    ]
    for args, *expected in cases:
        fails_cleanly(runner_, ["predict", *args], *expected, absent=[out, tmp_path / "out.xlsx"])
    out.write_text("mine\n")  # a file predict did not write is replaced only when asked to
    fails_cleanly(runner_, ["predict", run, data, "--out", out], "already exists", "--overwrite")
    assert out.read_text() == "mine\n"
