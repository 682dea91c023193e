"""LoRA vs full fine-tuning of MiniLM-L6 on the polarity sentences, through `toolkit run`.

The same rows (1,600 training, 400 test sentences drawn with seed 42 from assets/polarity.csv),
the same recipe (1 epoch, batch 32, max_length 128, dropout 0.1, fp32, no mid-run evaluation),
each run in its own `python -m toolkit run` process:
  full       full fine-tuning, lr 1e-4 (the demo recipe's rate)
  lora       peft LoRA r=8 alpha=16 on query/value + the classifier, lr 1e-4 (the same rate)
  lora-5e-3  the same adapters at lr 5e-3: they start at zero, and in one epoch (50 steps) learn
             next to nothing at 1e-4 or 1e-3 (both stayed at chance here)
Reports trainable parameters, the process's peak RSS (os.wait4's ru_maxrss of that child alone),
samples/s and test accuracy, and the LoRA / full ratios.

Usage: python bench/bench_lora.py [--train-rows 1600] [--only full,lora,lora-5e-3]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "assets" / "all-MiniLM-L6-v2"
DATA = ROOT / "assets" / "polarity.csv"
RESULTS = ROOT / "bench" / "results" / "lora"
RUNS = {
    "full": {"learning_rate": 1e-4, "peft": None},
    "lora": {"learning_rate": 1e-4, "peft": {"r": 8, "alpha": 16, "dropout": 0.05}},
    "lora-5e-3": {"learning_rate": 5e-3, "peft": {"r": 8, "alpha": 16, "dropout": 0.05}},
}


def write_splits(train_rows: int, test_rows: int = 400, validation_rows: int = 100) -> dict:
    """Fixed, disjoint train/validation/test files (validation is only a formality here)."""
    with DATA.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    random.Random(42).shuffle(rows)
    parts = {
        "test": rows[:test_rows],
        "validation": rows[test_rows : test_rows + validation_rows],
        "train": rows[test_rows + validation_rows : test_rows + validation_rows + train_rows],
    }
    files = {}
    for name, part in parts.items():
        files[name] = RESULTS / f"{name}.csv"
        with files[name].open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(part)
    return {name: str(path) for name, path in files.items()}


def recipe_for(name: str, files: dict) -> Path:
    settings = RUNS[name]
    recipe = {
        "model": {"name": str(MODEL)},
        "task": {"name": "sentiment", "max_length": 128},
        "data": files,
        "regularization": {"dropout": 0.1, "weight_decay": 0.01},
        "train": {
            "epochs": 1,
            "batch_size": 32,
            "learning_rate": settings["learning_rate"],
            "warmup_ratio": 0.1,
            "precision": "fp32",
            "seed": 42,
            "eval_every": "no",
            "save_checkpoints": False,
            "logging_steps": 10,
        },
        "eval": {"splits": ["test"]},
        "output": {"dir": str(RESULTS / name)},
    }
    if settings["peft"]:
        recipe["peft"] = settings["peft"]
    path = RESULTS / f"{name}.yaml"
    path.write_text(yaml.safe_dump(recipe, sort_keys=False))
    return path


def timed_run(recipe: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one `toolkit run` child process."""
    command = [sys.executable, "-m", "toolkit", "run", str(recipe), "--overwrite"]
    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{recipe.name}: toolkit run failed with exit code {child.returncode}")
    return time.perf_counter() - start, usage.ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=1600)
    parser.add_argument("--only", default=",".join(RUNS))
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    files = write_splits(args.train_rows)
    results = {}
    for name in args.only.split(","):
        wall, peak = timed_run(recipe_for(name, files))
        metrics = json.loads((RESULTS / name / "metrics.json").read_text())
        train = metrics["train"]
        results[name] = {
            "trainable_parameters": train["trainable_parameters"],
            "parameters": train["parameters"],
            "peak_rss_mib": peak / 2**20,
            "samples_per_s": train["train_samples_per_second"],
            "train_s": train["train_runtime"],
            "wall_s_whole_command": wall,
            "test_accuracy": metrics["test"]["accuracy"],
        }
    print(f"\n{args.train_rows} training / 400 test sentences, 1 epoch; {os.cpu_count()} CPUs")
    header = f"{'run':10} {'trainable':>11} {'peak RSS MiB':>13} {'samples/s':>10} {'test acc':>9}"
    print(header)
    for name, row in results.items():
        print(
            f"{name:10} {row['trainable_parameters']:11,} {row['peak_rss_mib']:13.0f} "
            f"{row['samples_per_s']:10.1f} {row['test_accuracy']:9.4f}"
        )
    if "full" in results:
        full = results["full"]
        for name in (n for n in results if n != "full"):
            row = results[name]
            ratio = {key: row[key] / full[key] for key in row if key != "test_accuracy"}
            print(
                f"{name} / full: trainable {ratio['trainable_parameters']:.4f}x, "
                f"peak RSS {ratio['peak_rss_mib']:.2f}x, samples/s {ratio['samples_per_s']:.2f}x, "
                f"accuracy {row['test_accuracy'] - full['test_accuracy']:+.4f}"
            )
    (RESULTS / "lora.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
