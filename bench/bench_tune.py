"""Hyper-parameter search on the sentiment demo: `toolkit tune`'s best recipe vs the plain script.

`toolkit tune recipes/sentiment_bert_tune.yaml --trials 12` (the demo recipe plus a search over
learning rate, epochs, warmup and dropout, with median pruning), then the best recipe on the
test split of five split seeds (42, 0, 1, 2, 3) against the issue's reference script
(bench_sentiment.plain_trainer: plain Trainer, dynamic padding, fp32, 3 epochs, batch 32, lr 5e-5,
trained on train + validation). Prints the test accuracy of each per seed, their means and the
difference, the tune's wall time and the share of pruned trials; writes bench/results/tune.json.

The search sees split seed 42's validation split only; for the other seeds the chosen values are
simply reused (some of their test rows were in seed 42's train or validation split).

`--quick`: 2 trials of 6 steps, split seed 42 only, 320 training rows (a smoke check).

Usage: python bench/bench_tune.py [--quick] [--trials N] [--split-seeds 42,0,1,2,3]
       [--resume bench/results/tune_PID]  (continue a killed bench's study)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sentiment import RESULTS, ROOT, plain_trainer, shared_splits, toolkit_run  # noqa: E402

RECIPE = ROOT / "recipes" / "sentiment_bert_tune.yaml"
QUICK = ["train.max_steps=6", "train.eval_every=steps", "train.eval_steps=3"]


def run_tune(
    trials: int, overrides: list[str], resume: Path | None
) -> tuple[Path, float, dict[str, int]]:
    """`toolkit tune` in a fresh tune directory, or continuing the study in `resume` (a killed
    bench goes on where it stopped): the directory, the trials' summed seconds, trials by state.
    The seconds are Optuna's own start-to-end times of the trials, so a resumed tune counts only
    the time spent in trials, not the pause between the two commands."""
    import optuna

    out = resume or RESULTS / f"tune_{os.getpid()}"
    if resume is None:
        shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "toolkit", "tune", str(RECIPE), f"--trials={trials}"]
    cmd += [f"--out={out}", *(f"--set={item}" for item in overrides)]
    subprocess.run(cmd, check=True, cwd=ROOT)
    study = optuna.load_study(study_name=out.name, storage=f"sqlite:///{out / 'study.db'}")
    states: dict[str, int] = {}
    seconds = 0.0
    for trial in study.get_trials(deepcopy=False):
        states[trial.state.name] = states.get(trial.state.name, 0) + 1
        if trial.datetime_start and trial.datetime_complete:
            seconds += (trial.datetime_complete - trial.datetime_start).total_seconds()
    return out, seconds, states


def compare(
    best: Path, seeds: list[int], limit: int | None
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Test accuracy and training seconds of the reference script and of the best recipe, per
    split seed; each seed's pair is kept in the tune dir's compare.json, so a resumed bench
    does not train it again."""
    from datasets import concatenate_datasets

    done_file = best.parent / "compare.json"
    done = json.loads(done_file.read_text()) if done_file.exists() else {}
    rows: dict[str, list[float]] = {"reference": [], "tuned": []}
    seconds: dict[str, list[float]] = {"reference": [], "tuned": []}
    for seed in seeds:
        if str(seed) not in done:
            recipe, splits = shared_splits(None, seed)
            splits.train = concatenate_datasets([splits.train, splits.validation])
            if limit:  # shuffled first: the joined splits need not mix the labels
                splits.train = splits.train.shuffle(seed=0).select(range(limit))
            reference = plain_trainer("reference", recipe, splits, pad_to_128=False)
            tuned = toolkit_run(limit, seed, recipe=best)
            done[str(seed)] = {"reference": reference, "tuned": tuned}
            done_file.write_text(json.dumps(done, indent=1) + "\n")
        for side in rows:
            rows[side].append(done[str(seed)][side]["test_accuracy"])
            seconds[side].append(done[str(seed)][side]["train_s"])
        print(f"split_seed {seed}: reference {rows['reference'][-1]:.4f} "
              f"tuned {rows['tuned'][-1]:.4f}", flush=True)  # fmt: skip
    return rows, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 short trials, one seed")
    parser.add_argument("--trials", type=int, default=None, help="trials (default 12; quick 2)")
    parser.add_argument("--split-seeds", default=None, help="default 42,0,1,2,3 (quick: 42)")
    parser.add_argument("--resume", type=Path, default=None, help="continue this tune dir")
    args = parser.parse_args()
    trials = args.trials or (2 if args.quick else 12)
    wanted = args.split_seeds or ("42" if args.quick else "42,0,1,2,3")
    seeds = [int(seed) for seed in wanted.split(",")]
    RESULTS.mkdir(parents=True, exist_ok=True)
    out, wall, states = run_tune(trials, QUICK if args.quick else [], args.resume)
    pruned = states.get("PRUNED", 0) / max(sum(states.values()), 1)
    rows, seconds = compare(out / "best_recipe.yaml", seeds, 320 if args.quick else None)
    means = {name: statistics.mean(values) for name, values in rows.items()}
    print(f"\n{'split_seed':12}" + "".join(f"{seed:>8}" for seed in seeds) + "    mean")
    for name, values in rows.items():
        print(f"{name:12}" + "".join(f"{v:8.4f}" for v in values) + f"  {means[name]:.4f}")
    gain = means["tuned"] - means["reference"]
    print(f"tuned - reference: {100 * gain:+.2f} points")
    ratio = statistics.median(t / r for t, r in zip(seconds["tuned"], seconds["reference"]))
    print(f"training time, tuned / reference: median {ratio:.2f}x")
    print(f"tune: {trials} trials in {wall:.0f} s, {100 * pruned:.0f}% pruned ({states})")
    result = {"accuracy": rows, "means": means, "tune_wall_s": wall, "states": states,
              "trials": trials, "quick": args.quick,
              "train_s": seconds, "best": (out / "best_recipe.yaml").read_text()}  # fmt: skip
    (RESULTS / "tune.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
