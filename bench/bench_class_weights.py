"""Class weights (`task.class_weights: balanced`) on an imbalanced slice of the sentence
polarity corpus: every negative sentence and one positive in ten (about 10:1 the other way
round from the issue's 90/10, minority = positive), the demo recipe's model and settings but
`--epochs` epochs. Macro-F1 on the (equally imbalanced) test split, with and without the
weights, per split seed; prints the means and the gain.

Usage: python bench/bench_class_weights.py [--seeds 42,0,1] [--epochs 1] [--keep 0.1]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / "results" / "class_weights"
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def imbalanced(keep: float) -> Path:
    """All negatives, and every n-th positive (n = 1 / keep), in corpus order."""
    with (ROOT / "assets" / "polarity.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    step = round(1 / keep)
    positives = [r for r in rows if r["label"] == "positive"][::step]
    kept = [r for r in rows if r["label"] == "negative"] + positives
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "imbalanced.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(kept)
    print(f"{len(kept)} rows: {len(kept) - len(positives)} negative, {len(positives)} positive")
    return path


def run(data: Path, seed: int, epochs: int, weights: str | None) -> dict:
    out = WORK / f"{weights or 'none'}_{seed}"
    argv = [
        sys.executable, "-m", "toolkit", "run", str(ROOT / "recipes" / "sentiment_bert.yaml"),
        f"--set=output.dir={out}", f"--set=data.train={data}", f"--set=data.split_seed={seed}",
        f"--set=train.epochs={epochs}", "--set=data.validation_size=0.1",
        "--set=data.test_size=0.2", "--overwrite",
        *([f"--set=task.class_weights={weights}"] if weights else []),
    ]  # fmt: skip
    subprocess.run(argv, check=True, env=ENV, cwd=ROOT)
    return json.loads((out / "metrics.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="42,0,1")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--keep", type=float, default=0.1)
    args = parser.parse_args()
    data = imbalanced(args.keep)
    found: dict[str, list[float]] = {"none": [], "balanced": []}
    recall: dict[str, list[float]] = {"none": [], "balanced": []}
    for seed in [int(s) for s in args.seeds.split(",")]:
        for weights in (None, "balanced"):
            metrics = run(data, seed, args.epochs, weights)
            key = weights or "none"
            found[key].append(metrics["test"]["f1_macro"])
            recall[key].append(metrics["test"]["per_class"]["positive"]["recall"])
            print(f"seed {seed} {key}: macro-F1 {found[key][-1]:.4f}, minority recall "
                  f"{recall[key][-1]:.4f}, weights {metrics['train'].get('class_weights')}",
                  flush=True)  # fmt: skip
    for key, values in found.items():
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{key:9s} macro-F1 {statistics.mean(values):.4f} +- {spread:.4f}, minority "
              f"recall {statistics.mean(recall[key]):.4f}")  # fmt: skip
    gain = statistics.mean(found["balanced"]) - statistics.mean(found["none"])
    print(f"balanced - none: {gain * 100:+.1f} macro-F1 points")


if __name__ == "__main__":
    main()
