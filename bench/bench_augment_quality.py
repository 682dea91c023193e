"""Does augmentation help a low-resource classifier? MiniLM-L6 on 200 polarity sentences.

For each seed, 200 training sentences (100 per label) are drawn from the Pang & Lee polarity
corpus; a fixed 200-sentence validation split and a fixed 800-sentence test split (disjoint from
every training draw) score every run. Conditions, each a `toolkit run` of the same recipe:
  none        no augment section
  <methods>   one augment step each (e.g. synonym, eda = swap+delete+insert, back_translation)
All runs use the same training settings (the demo's model, head and frozen lower layers; 6
epochs, batch 16, early stopping on validation accuracy), so only the augment section differs.
Prints test accuracy per run, mean ± std per condition, and the gain over `none`.

Usage: python bench/bench_augment_quality.py [--seeds 0 1 2] [--conditions none synonym ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POLARITY = ROOT / "assets" / "polarity.csv"
WORK = ROOT / "bench" / "results" / "augment_quality"

CONDITIONS = {
    "none": [],
    "synonym": [{"method": "synonym", "p": 0.15, "n": 2}],
    "eda": [
        {"method": "synonym", "p": 0.1, "n": 1},
        {"method": "swap", "p": 0.1, "n": 1},
        {"method": "delete", "p": 0.1, "n": 1},
        {"method": "insert", "p": 0.1, "n": 1},
    ],
    "back_translation": [{"method": "back_translation", "engine": "apertium", "pivot": "es"}],
    "contextual": [{"method": "contextual", "p": 0.15, "n": 2}],
}


def read_rows() -> list[dict]:
    with POLARITY.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write(path: Path, rows: list[dict]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return path


def fixed_splits(rows: list[dict]) -> tuple[list[dict], list[dict], list[dict]]:
    """Pool, validation (200) and test (800): one shuffle with a fixed seed."""
    shuffled = rows.copy()
    random.Random(1234).shuffle(shuffled)
    return shuffled[1000:], shuffled[:200], shuffled[200:1000]


def draw_train(pool: list[dict], seed: int, size: int) -> list[dict]:
    rng = random.Random(seed)
    by_label: dict[str, list[dict]] = {}
    for row in pool:
        by_label.setdefault(row["label"], []).append(row)
    picked = [r for rows in by_label.values() for r in rng.sample(rows, size // len(by_label))]
    rng.shuffle(picked)
    return picked


def recipe(train: Path, val: Path, test: Path, steps: list, seed: int, out: Path) -> dict:
    return {
        "model": {"name": str(ROOT / "assets" / "all-MiniLM-L6-v2"), "freeze_layers": 2},
        "task": {"name": "sentiment", "text_column": "text", "label_column": "label"},
        "data": {"train": str(train), "validation": str(val), "test": str(test)},
        "augment": steps,
        "regularization": {
            "dropout": 0.1,
            "weight_decay": 0.01,
            "early_stopping": {"metric": "accuracy", "patience": 2},
        },
        "train": {
            "epochs": 6,
            "batch_size": 16,
            "learning_rate": 1e-4,
            "warmup_ratio": 0.1,
            "group_by_length": True,
            "seed": seed,
        },
        "eval": {"splits": ["test"]},
        "output": {"dir": str(out)},
    }


def one_run(name: str, seed: int, files: tuple[Path, Path, Path]) -> dict:
    from toolkit.recipe.load import validate_recipe
    from toolkit.train import run

    out = WORK / f"{name}-seed{seed}"
    raw = recipe(*files, CONDITIONS[name], seed, out)
    start = time.perf_counter()
    run(validate_recipe(raw, source=name), overwrite=True, dry_run=False)
    metrics = json.loads((out / "metrics.json").read_text())
    rows_out = json.loads((out / "splits.json").read_text()).get("train_augmentation", {})
    return {
        "condition": name,
        "seed": seed,
        "test_accuracy": metrics["test"]["accuracy"],
        "train_rows": rows_out.get("rows_out", 200),
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--conditions", nargs="+", default=list(CONDITIONS))
    parser.add_argument("--train-size", type=int, default=200)
    args = parser.parse_args()
    from toolkit.console import quiet_libraries

    quiet_libraries()
    WORK.mkdir(parents=True, exist_ok=True)
    pool, val, test = fixed_splits(read_rows())
    val_file, test_file = write(WORK / "val.csv", val), write(WORK / "test.csv", test)
    results = []
    for seed in args.seeds:
        train_file = write(WORK / f"train-{seed}.csv", draw_train(pool, seed, args.train_size))
        for name in args.conditions:
            results.append(one_run(name, seed, (train_file, val_file, test_file)))
            print(json.dumps(results[-1]), flush=True)
    report(results, args)


def report(results: list[dict], args) -> None:
    print(f"\n{args.train_size} training sentences, test 800, seeds {args.seeds}")
    base = {r["seed"]: r["test_accuracy"] for r in results if r["condition"] == "none"}
    for name in args.conditions:
        accs = [r["test_accuracy"] for r in results if r["condition"] == name]
        gains = [r["test_accuracy"] - base[r["seed"]] for r in results
                 if r["condition"] == name and r["seed"] in base]  # fmt: skip
        spread = statistics.stdev(accs) if len(accs) > 1 else 0.0
        gain = f"  gain {statistics.mean(gains):+.4f}" if gains and name != "none" else ""
        print(f"{name:18s} test accuracy {statistics.mean(accs):.4f} ± {spread:.4f}{gain}")
    (WORK / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
