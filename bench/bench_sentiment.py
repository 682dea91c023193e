"""Sentiment demo: toolkit vs plain transformers Trainer scripts, in one run.

Three trainings of MiniLM-L6 on the same polarity train split, scored on the same 400-sentence
test split (the toolkit's own carved split, so all three see identical rows):
  pad128   plain Trainer, tokenizer pads to max_length=128 (the example scripts' default), fp32
  dynamic  plain Trainer, DataCollatorWithPadding, fp32
  toolkit  `toolkit run recipes/sentiment_bert.yaml` (whatever the demo recipe says)
Baselines use the issue's settings: 3 epochs, batch 32, lr 5e-5. Prints samples/s, wall time,
test accuracy and the throughput ratios. `--quick` trains on 320 rows for a smoke check.

`--split-seeds 42,0,1,2,3` instead repeats, per split seed, the issue's own reference script
(plain Trainer, dynamic padding, fp32, 3 epochs, batch 32, lr 5e-5, trained on the 3,600
sentences outside the test split: the toolkit's train + validation) and the toolkit's demo recipe
with `data.split_seed` set, both scored on that seed's 400-sentence test split; it prints the
test accuracies per seed and their mean +- std.

Usage: python bench/bench_sentiment.py [--quick] [--only toolkit,dynamic,pad128]
       python bench/bench_sentiment.py --split-seeds 42,0,1,2,3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPE = ROOT / "recipes" / "sentiment_bert.yaml"
RESULTS = ROOT / "bench" / "results"


def shared_splits(limit: int | None, split_seed: int | None = None):
    from toolkit.data import build_splits
    from toolkit.recipe.load import load_recipe

    overrides = [] if split_seed is None else [f"data.split_seed={split_seed}"]
    recipe = load_recipe(RECIPE, overrides)
    os.chdir(ROOT)
    splits = build_splits(recipe.data, [recipe.task.text_column, recipe.task.label_column])
    if limit:
        splits.train = splits.train.select(range(limit))
    return recipe, splits


def plain_trainer(name: str, recipe, splits, pad_to_128: bool) -> dict:
    """What a user writes from the transformers examples: no toolkit code involved."""
    import numpy as np
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
        set_seed,
    )

    set_seed(42)
    model_dir = recipe.model.name
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    names = sorted(set(splits.train["label"]))
    ids = {n: i for i, n in enumerate(names)}

    def encode(batch):
        padding = "max_length" if pad_to_128 else False
        out = tokenizer(batch["text"], truncation=True, max_length=128, padding=padding)
        out["labels"] = [ids[label] for label in batch["label"]]
        return out

    train = splits.train.map(encode, batched=True, remove_columns=["text", "label"])
    test = splits.test.map(encode, batched=True, remove_columns=["text", "label"])
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=len(names))
    args = TrainingArguments(
        output_dir=str(RESULTS / name),
        num_train_epochs=3,
        per_device_train_batch_size=32,
        per_device_eval_batch_size=128,
        learning_rate=5e-5,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        logging_steps=50,
        dataloader_pin_memory=False,
    )
    collator = None if pad_to_128 else DataCollatorWithPadding(tokenizer)
    trainer = Trainer(model=model, args=args, train_dataset=train, data_collator=collator)
    start = time.perf_counter()
    metrics = trainer.train().metrics
    wall = time.perf_counter() - start
    predictions = trainer.predict(test)
    accuracy = float((np.argmax(predictions.predictions, -1) == predictions.label_ids).mean())
    return {
        "samples_per_s": metrics["train_samples_per_second"],
        "train_s": wall,
        "test_accuracy": accuracy,
    }


def toolkit_run(
    limit: int | None, split_seed: int | None = None, overrides: list[str] = (), recipe=RECIPE
) -> dict:
    out = RESULTS / f"toolkit_run_{os.getpid()}"  # two benches at once do not collide
    cmd = [sys.executable, "-m", "toolkit", "run", str(recipe), "--overwrite"]
    cmd += ["--set", f"output.dir={out}"]
    for override in overrides:
        cmd += ["--set", override]
    if split_seed is not None:
        cmd += ["--set", f"data.split_seed={split_seed}"]
    if limit:
        cmd += ["--set", f"train.max_steps={limit // 32 * 3}"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    wall = time.perf_counter() - start
    metrics = json.loads((out / "metrics.json").read_text())
    refit = metrics["train"].get("refit", {})
    return {
        "samples_per_s": metrics["train"]["train_samples_per_second"],
        # the selection run and the refit pass (when the recipe refits) both count
        "train_s": metrics["train"]["train_runtime"] + refit.get("train_runtime", 0.0),
        "refit_epochs": refit.get("selection", {}).get("epochs"),
        "wall_s_whole_command": wall,
        "test_accuracy": metrics["test"]["accuracy"],
        "precision": metrics["train"]["precision"],
    }


def across_splits(seeds: list[int], overrides: list[str], reference_too: bool = True) -> None:
    """The issue's reference script and the toolkit on the test split of each split seed:
    test accuracy and training wall time (the toolkit's selection run + refit) of each."""
    import statistics

    from datasets import concatenate_datasets

    rows = {"reference": [], "toolkit": []}
    seconds = {"reference": [], "toolkit": []}
    for seed in seeds:
        recipe, splits = shared_splits(None, seed)
        # The reference trains on everything outside the test split (3,600 sentences).
        splits.train = concatenate_datasets([splits.train, splits.validation])
        line = f"split_seed {seed}:"
        if reference_too:
            reference = plain_trainer("reference", recipe, splits, pad_to_128=False)
            rows["reference"].append(reference["test_accuracy"])
            seconds["reference"].append(reference["train_s"])
            line += f" reference {reference['test_accuracy']:.4f} in {reference['train_s']:.0f} s"
        ours = toolkit_run(None, seed, overrides)
        rows["toolkit"].append(ours["test_accuracy"])
        seconds["toolkit"].append(ours["train_s"])
        line += f" toolkit {ours['test_accuracy']:.4f} in {ours['train_s']:.0f} s"
        print(line + f" (refit epochs {ours['refit_epochs']})", flush=True)
    print(f"\n{'split_seed':14}" + "".join(f"{seed:>8}" for seed in seeds) + "   mean +- std")
    for name, values in rows.items():
        if not values:
            continue
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        cells = "".join(f"{value:8.4f}" for value in values)
        print(f"{name:14}{cells}   {statistics.mean(values):.4f} +- {spread:.4f}")
        print(f"{'  train s':14}" + "".join(f"{t:8.0f}" for t in seconds[name]))
    if reference_too:
        gain = statistics.mean(rows["toolkit"]) - statistics.mean(rows["reference"])
        ratio = statistics.median(t / r for t, r in zip(seconds["toolkit"], seconds["reference"]))
        print(f"toolkit - reference: {100 * gain:+.2f} points; train time ratio {ratio:.2f}")
    result = {"accuracy": rows, "train_s": seconds, "overrides": overrides}
    (RESULTS / "sentiment_splits.json").write_text(json.dumps(result, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="320 training rows: a smoke check")
    parser.add_argument("--only", default="pad128,dynamic,toolkit")
    parser.add_argument("--split-seeds", help="comma-separated split seeds (see the docstring)")
    parser.add_argument("--set", action="append", default=[], help="recipe override (toolkit)")
    parser.add_argument("--toolkit-only", action="store_true", help="skip the reference script")
    args = parser.parse_args()
    if args.split_seeds:
        RESULTS.mkdir(parents=True, exist_ok=True)
        seeds = [int(seed) for seed in args.split_seeds.split(",")]
        across_splits(seeds, args.set, reference_too=not args.toolkit_only)
        return
    limit = 320 if args.quick else None
    RESULTS.mkdir(parents=True, exist_ok=True)
    recipe, splits = shared_splits(limit)
    wanted = args.only.split(",")
    results = {}
    if "toolkit" in wanted:
        results["toolkit"] = toolkit_run(limit)
    if "dynamic" in wanted:
        results["dynamic"] = plain_trainer("dynamic", recipe, splits, pad_to_128=False)
    if "pad128" in wanted:
        results["pad128"] = plain_trainer("pad128", recipe, splits, pad_to_128=True)
    print(f"\ntrain {len(splits.train)}, test {len(splits.test)} sentences; {os.cpu_count()} CPUs")
    print(f"{'run':10} {'samples/s':>10} {'train s':>8} {'test acc':>9}")
    for name, row in results.items():
        speed, seconds, accuracy = row["samples_per_s"], row["train_s"], row["test_accuracy"]
        print(f"{name:10} {speed:10.1f} {seconds:8.1f} {accuracy:9.4f}")
    if "toolkit" in results:
        for base in ("pad128", "dynamic"):
            if base in results:
                ratio = results["toolkit"]["samples_per_s"] / results[base]["samples_per_s"]
                delta = results["toolkit"]["test_accuracy"] - results[base]["test_accuracy"]
                print(f"toolkit / {base}: {ratio:.2f}x samples/s, accuracy {delta:+.4f}")
    (RESULTS / "sentiment.json").write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
