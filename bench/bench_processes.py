"""Two processes (DDP over gloo) against one on this CPU, at the same effective batch.

The demo recipe (MiniLM-L6 on polarity sentences) with `--set` overrides: 1 epoch, effective
batch 32 either as 1 process × 32 or 2 processes × 16, each process with cores / processes
threads. Prints samples/s, the ratio, and the training loss at each logging step of both runs
(identical data order is not guaranteed across world sizes, so the curves should agree within
noise, not exactly).

Usage: python bench/bench_processes.py [--train-rows 1600]
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
OUT = ROOT / "bench" / "results" / "processes"


def one_run(processes: int, rows: int) -> dict:
    out = OUT / f"p{processes}"
    per_device = 32 // processes
    overrides = [
        "train.epochs=1", f"train.batch_size={per_device}", "train.logging_steps=5",
        "train.eval_every=no", "regularization.early_stopping=null", "eval.splits=[test]",
        f"output.dir={out}", f"data.test_size={400 / 4000}",
        f"data.validation_size={(4000 - 400 - rows) / 4000}",
    ]  # fmt: skip
    cores = os.cpu_count() or 2
    env = {**os.environ, "OMP_NUM_THREADS": str(max(1, cores // processes))}
    command = [sys.executable, "-m", "toolkit", "run", str(RECIPE), "--overwrite"]
    command += [f"--set={o}" for o in overrides] + ["--num-processes", str(processes)]
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=ROOT, capture_output=True)
    wall = time.perf_counter() - start
    metrics = json.loads((out / "metrics.json").read_text())
    losses = [r["loss"] for r in map(json.loads, (out / "log.jsonl").read_text().splitlines())
              if "loss" in r]  # fmt: skip
    return {"processes": processes, "wall_s": round(wall, 1), "metrics": metrics, "losses": losses}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-rows", type=int, default=1600)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    runs = [one_run(1, args.train_rows), one_run(2, args.train_rows)]
    for run in runs:
        train = run["metrics"]["train"]
        print(
            f"{run['processes']} process(es): {train['train_samples_per_second']:.1f} samples/s, "
            f"world_size {train['world_size']}, steps {train['global_step']}, "
            f"test accuracy {run['metrics']['test']['accuracy']:.4f}, wall {run['wall_s']} s"
        )
    speeds = [r["metrics"]["train"]["train_samples_per_second"] for r in runs]
    print(f"ratio 2 processes / 1 process: {speeds[1] / speeds[0]:.2f}x")
    print("loss at each logging step (1 process | 2 processes):")
    for a, b in zip(runs[0]["losses"], runs[1]["losses"]):
        print(f"  {a:.4f} | {b:.4f}")


if __name__ == "__main__":
    main()
