"""`toolkit predict` against `transformers.pipeline("text-classification")` on the same rows.

Both sides start from the demo run's saved model (runs/sentiment_bert/model) and a csv of
unlabeled polarity sentences, and end with a csv of predicted labels: the pipeline side is what a
user writes from the transformers docs (read the rows, `pipeline(...)(texts, batch_size=...,
truncation=True)`, write the labels); the toolkit side is the whole `toolkit predict` path
(length-sorted batches within 2,048-row chunks, per-class probabilities, staged atomic output).
Wall times include loading the model (after one untimed warm-up run each, so neither side
pays the first imports); medians of `--repeats` runs each, interleaved. Every row's
predicted label is compared between the two.

Usage: OMP_NUM_THREADS=1 python bench/bench_predict.py [--rows 2000] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sentences(count: int, folder: Path) -> Path:
    """The first `count` polarity sentences, without their labels."""
    with (ROOT / "assets" / "polarity.csv").open(newline="", encoding="utf-8") as handle:
        texts = [row["text"] for _, row in zip(range(count), csv.DictReader(handle))]
    path = folder / "sentences.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text"])
        writer.writerows([text] for text in texts)
    return path


def labels_of(path: Path, column: str) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [row[column] for row in csv.DictReader(handle)]


def with_pipeline(run: Path, data: Path, out: Path, batch_size: int) -> None:
    """No toolkit code: transformers' own pipeline, as documented."""
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(run / "model"), device="cpu")
    texts = labels_of(data, "text")
    results = classify(texts, batch_size=batch_size, truncation=True, max_length=128)
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "score"])
        writer.writerows([t, r["label"], r["score"]] for t, r in zip(texts, results))


def with_toolkit(run: Path, data: Path, out: Path, batch_size: int) -> None:
    from toolkit.predict.runner import Request, predict_file

    predict_file(Request(run, data, out, batch_size, "cpu", overwrite=True))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default=str(ROOT / "runs" / "sentiment_bert"))
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from toolkit.console import quiet_libraries

    quiet_libraries()
    run, folder = Path(args.run), Path(tempfile.mkdtemp(prefix="bench_predict_"))
    data = sentences(args.rows, folder)
    sides = {"transformers.pipeline": with_pipeline, "toolkit predict": with_toolkit}
    times: dict[str, list[float]] = {name: [] for name in sides}
    warm = sentences(16, Path(tempfile.mkdtemp(prefix="bench_predict_warm_")))
    for fn in sides.values():  # imports and first-call costs, paid once by each side untimed
        fn(run, warm, warm.with_name("out.csv"), args.batch_size)
    for _ in range(args.repeats):
        for name, fn in sides.items():
            start = time.perf_counter()
            fn(run, data, folder / f"{name.split()[0]}.csv", args.batch_size)
            times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        wall = statistics.median(values)
        print(f"{name:22s} {wall:.2f} s  {args.rows / wall:.1f} samples/s")
    plain, ours = (statistics.median(v) for v in times.values())
    print(f"speed ratio toolkit / pipeline: {plain / ours:.2f}x ({args.rows} rows, batch size "
          f"{args.batch_size}, {args.repeats} runs each)")  # fmt: skip
    a = labels_of(folder / "transformers.pipeline.csv", "label")
    b = labels_of(folder / "toolkit.csv", "label")
    print(f"same predicted label: {sum(x == y for x, y in zip(a, b))}/{len(a)} rows")
    print(json.dumps({k: [round(v, 3) for v in vs] for k, vs in times.items()}))


if __name__ == "__main__":
    main()
