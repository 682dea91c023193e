"""ONNX Runtime against PyTorch on CPU for the sentiment demo model (runs/sentiment_bert).

Both sides score the same polarity sentences (assets/polarity.csv, every other row from the
top, both labels), tokenized once with the run's tokenizer (max_length 128), sorted by length
and padded into the same batches of 64. PyTorch runs the run's model in inference mode; ONNX
Runtime runs the `toolkit export --format onnx` model through `load_onnx_model`, the nn.Module
`toolkit predict --engine onnx` uses (its tensor-to-numpy conversions included). One thread on
each side (OMP_NUM_THREADS=1, ORT intra_op_num_threads=1: the machine is shared). Times are
forward passes only (no loading), medians of --repeats interleaved passes over all the rows,
after one warm-up batch each. Needs `make demo` first (runs/sentiment_bert).

Usage: OMP_NUM_THREADS=1 python bench/bench_onnx.py [--rows 1500] [--repeats 3]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parent.parent


def batches(run: Path, rows: int, batch_size: int) -> list[dict]:
    """Length-sorted, padded batches of `rows` polarity sentences, longest first."""
    from transformers import AutoTokenizer, DataCollatorWithPadding

    with (ROOT / "assets" / "polarity.csv").open(encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)][: 2 * rows : 2]
    tokenizer = AutoTokenizer.from_pretrained(run / "model")
    encoded = tokenizer(texts, truncation=True, max_length=128)
    features = [{k: encoded[k][i] for k in encoded} for i in range(len(texts))]
    features.sort(key=lambda f: len(f["input_ids"]), reverse=True)
    pad = DataCollatorWithPadding(tokenizer, return_tensors="pt")
    return [pad(features[i : i + batch_size]) for i in range(0, len(features), batch_size)]


def score(model, prepared: list[dict]) -> tuple[float, list]:
    """Seconds for one pass over every batch, and the logits of each batch."""
    import torch

    with torch.inference_mode():
        model(**prepared[-1])  # warm-up: the first call allocates
        start = time.perf_counter()
        logits = [model(**batch).logits for batch in prepared]
    return time.perf_counter() - start, logits


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default=str(ROOT / "runs" / "sentiment_bert"))
    parser.add_argument("--export", default="/tmp/bench_onnx_export", help="export folder")
    parser.add_argument("--rows", type=int, default=1500)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import torch
    from transformers import AutoModelForSequenceClassification

    from toolkit.console import quiet_libraries
    from toolkit.export import read_export
    from toolkit.export.onnx import export_onnx, load_onnx_model

    quiet_libraries()
    torch.set_num_threads(1)  # load_onnx_model gives ORT as many threads as torch has: 1
    run, folder = Path(args.run), Path(args.export)
    if read_export(folder) is None:
        start = time.perf_counter()
        export_onnx(run, folder)
        print(f"exported to {folder} in {time.perf_counter() - start:.1f} s")
    prepared = batches(run, args.rows, args.batch_size)
    rows = sum(len(batch["input_ids"]) for batch in prepared)
    models = {
        "PyTorch": AutoModelForSequenceClassification.from_pretrained(run / "model").eval(),
        "ONNX Runtime": load_onnx_model(folder),
    }
    times: dict[str, list[float]] = {name: [] for name in models}
    logits = {}
    for _ in range(args.repeats):
        for name, model in models.items():
            seconds, logits[name] = score(model, prepared)
            times[name].append(seconds)
    for name, values in times.items():
        wall = statistics.median(values)
        print(f"{name:13s} {wall:6.2f} s  {rows / wall:6.1f} samples/s")
    ratio = statistics.median(times["PyTorch"]) / statistics.median(times["ONNX Runtime"])
    want, got = torch.cat(logits["PyTorch"]), torch.cat(logits["ONNX Runtime"])
    agree = (want.argmax(-1) == got.argmax(-1)).float().mean().item()
    print(f"speed ratio ONNX Runtime / PyTorch: {ratio:.2f}x ({rows} rows, batches of "
          f"{args.batch_size}, {args.repeats} passes each, 1 thread)")  # fmt: skip
    print(f"max |delta logit| {(want - got).abs().max().item():.2e}; same label {agree:.2%}")


if __name__ == "__main__":
    main()
