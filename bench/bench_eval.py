"""`toolkit eval` against a plain `Trainer.predict` on the sentiment demo's recorded test split.

Both load the demo run's saved model and score the same 400 rows with the same batch size
(128); the plain side is what a user writes from the transformers examples: tokenize, a
DataCollatorWithPadding, Trainer.predict, argmax, accuracy. The toolkit side is the whole
`toolkit eval runs/sentiment_bert` path (length-sorted batches, per-class metrics, bootstrap
intervals, predictions written). Wall times include loading the model; medians of 5 runs each,
interleaved. Needs `make demo` first (runs/sentiment_bert).

Usage: python bench/bench_eval.py [--run runs/sentiment_bert] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def plain_predict(run: Path) -> float:
    """Accuracy from Trainer.predict; no toolkit code involved."""
    import numpy as np
    from datasets import load_dataset
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    model_dir = run / "model"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    rows = load_dataset("json", data_files=str(run / "splits" / "test.jsonl"))["train"]
    label2id = model.config.label2id
    encoded = rows.map(
        lambda b: {**tokenizer(b["text"], truncation=True, max_length=128),
                   "labels": [label2id[str(x)] for x in b["label"]]},
        batched=True, remove_columns=rows.column_names,
    )  # fmt: skip
    args = TrainingArguments(output_dir="/tmp/bench_eval_plain", per_device_eval_batch_size=128,
                             report_to=[], disable_tqdm=True)  # fmt: skip
    trainer = Trainer(model=model, args=args, data_collator=DataCollatorWithPadding(tokenizer))
    output = trainer.predict(encoded)
    return float((np.argmax(output.predictions, -1) == output.label_ids).mean())


def toolkit_eval(run: Path) -> float:
    from toolkit.evaluation.scoring import evaluate_target

    metrics, _ = evaluate_target(run, "test", None, None, 128)
    return metrics["accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--run", default=str(ROOT / "runs" / "sentiment_bert"))
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from toolkit.console import quiet_libraries

    quiet_libraries()
    run = Path(args.run)
    rows = sum(1 for _ in (run / "splits" / "test.jsonl").open())
    times: dict[str, list[float]] = {"plain Trainer.predict": [], "toolkit eval": []}
    accuracy = {}
    for _ in range(args.repeats):
        for name, fn in (("plain Trainer.predict", plain_predict), ("toolkit eval", toolkit_eval)):
            start = time.perf_counter()
            accuracy[name] = fn(run)
            times[name].append(time.perf_counter() - start)
    for name, values in times.items():
        wall = statistics.median(values)
        print(
            f"{name:22s} {wall:.2f} s  {rows / wall:.0f} samples/s  accuracy {accuracy[name]:.4f}"
        )
    ratio = statistics.median(times["plain Trainer.predict"]) / statistics.median(
        times["toolkit eval"]
    )
    print(f"speed ratio toolkit / plain: {ratio:.2f}x ({rows} rows, {args.repeats} runs each)")
    print(json.dumps({k: [round(v, 3) for v in vs] for k, vs in times.items()}))


if __name__ == "__main__":
    main()
