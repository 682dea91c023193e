"""How fast is `toolkit.qa_postprocess.postprocess`, next to the usual pure-Python n-best loop?

Builds synthetic extractive-QA features (default 10,000 features of 384 tokens, ~2 features per
example, random logits, realistic offsets: [CLS] question [SEP] context [SEP], with the question
and special tokens set to None), then times (median of N runs) the vectorised `postprocess`
and a baseline written here the way the transformers example `postprocess_qa_predictions` does
it: per feature, argsort the logits, loop over every n_best × n_best (start, end) pair in Python,
collect valid candidates per example and sort them. It checks that both pick the same answers
and prints both times and the speed-up.

Usage: python bench/bench_qa_postprocess.py [--features N] [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict

import numpy as np

from toolkit.tasks.qa_spans import postprocess

SEQ_LENGTH, STRIDE, N_BEST, MAX_ANSWER = 384, 128, 20, 30


def synthetic_features(count: int, rng: np.random.Generator) -> tuple[dict, list[str], np.ndarray]:
    """Offsets, example ids and contexts shaped like a tokenized SQuAD split, plus each feature's
    first and last context position."""
    offsets, example_ids, contexts, ranges = [], [], [], []
    while len(offsets) < count:
        windows = min(int(rng.choice([1, 2, 3])), count - len(offsets))
        question = int(rng.integers(8, 30))
        room = SEQ_LENGTH - question - 3  # [CLS] question [SEP] context [SEP]
        words = room + (windows - 1) * (room - STRIDE)
        lengths = rng.integers(2, 9, size=words)
        starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1]))
        spans = list(zip(starts.tolist(), (starts + lengths).tolist()))
        for w in range(windows):
            window = spans[w * (room - STRIDE) : w * (room - STRIDE) + room]
            offsets.append([None] * (question + 2) + window + [None])
            example_ids.append(len(contexts))
            ranges.append((question + 2, question + 1 + len(window)))
        contexts.append("".join(rng.choice(list("abcdefgh"), size=int(starts[-1] + lengths[-1]))))
    features = {"offset_mapping": offsets, "example_id": example_ids}
    return features, contexts, np.asarray(ranges)


def synthetic_logits(
    ranges: np.ndarray, peaked: bool, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Standard-normal logits; `peaked` adds a bump at a random start and end a few tokens later,
    like a trained model, so that most of the n-best grid holds valid spans."""
    start_logits, end_logits = rng.normal(size=(2, len(ranges), SEQ_LENGTH))
    if peaked:
        positions = np.arange(SEQ_LENGTH)
        answer = rng.integers(ranges[:, 0], ranges[:, 1] - 10)[:, None]
        start_logits += 6 * np.exp(-(((positions - answer) / 4) ** 2))
        end_logits += 6 * np.exp(-(((positions - answer - 5) / 4) ** 2))
    return start_logits, end_logits


def baseline(start_logits, end_logits, features, contexts, n_best, max_answer_length) -> list:
    """Straightforward n-best search: Python double loop over top-n start/end indices."""
    by_example = defaultdict(list)
    for index, example in enumerate(features["example_id"]):
        by_example[example].append(index)
    answers = []
    for example, context in enumerate(contexts):
        candidates = []
        for index in by_example[example]:
            offsets = features["offset_mapping"][index]
            start_indexes = np.argsort(start_logits[index])[-1 : -n_best - 1 : -1].tolist()
            end_indexes = np.argsort(end_logits[index])[-1 : -n_best - 1 : -1].tolist()
            for start in start_indexes:
                for end in end_indexes:
                    if start >= len(offsets) or end >= len(offsets):
                        continue
                    if offsets[start] is None or offsets[end] is None:
                        continue
                    if end < start or end - start + 1 > max_answer_length:
                        continue
                    score = start_logits[index][start] + end_logits[index][end]
                    candidates.append((score, offsets[start][0], offsets[end][1]))
        candidates = sorted(candidates, key=lambda c: c[0], reverse=True)[:n_best]
        score, start, end = candidates[0] if candidates else (-np.inf, -1, -1)
        answers.append({"prediction_text": context[start:end], "score": score, "start": start})
    return answers


def median_s(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        begin = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - begin)
    return statistics.median(times), result


def compare(start_logits, end_logits, features, contexts, repeats: int) -> bool:
    """Time both implementations on one set of logits; print the times; are the answers equal?"""
    data = (start_logits, end_logits, features, contexts, N_BEST, MAX_ANSWER)
    fast, ours = median_s(lambda: postprocess(*data), repeats)
    slow, theirs = median_s(lambda: baseline(*data), repeats)
    same = all(
        a["prediction_text"] == b["prediction_text"]
        and a["start"] == b["start"]
        and np.isclose(a["score"], b["score"])
        for a, b in zip(ours, theirs)
    )
    print(f"  vectorised postprocess: {fast:.3f} s")
    print(f"  pure-Python baseline:   {slow:.3f} s")
    print(f"  speed-up: {slow / fast:.1f}x; same predictions: {same}")
    return same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    features, contexts, ranges = synthetic_features(args.features, rng)
    print(
        f"{args.features} features × {SEQ_LENGTH} tokens, {len(contexts)} examples, "
        f"n_best={N_BEST}, max_answer_length={MAX_ANSWER}, median of {args.repeats}"
    )
    agree = True
    for name, peaked in [("noise logits", False), ("peaked (model-like) logits", True)]:
        print(name)
        logits = synthetic_logits(ranges, peaked, rng)
        agree &= compare(*logits, features, contexts, args.repeats)
    if not agree:
        raise SystemExit("the two implementations disagree")


if __name__ == "__main__":
    main()
