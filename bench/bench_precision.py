"""Is bf16 faster than fp32 on this CPU? The evidence behind `train.precision: auto`.

Times (medians) a MiniLM-sized linear layer and one full MiniLM-L6 training step (batch 32 × 28
tokens, forward + backward + fused AdamW) in fp32 and under bf16 autocast, and prints the ratios
together with the CPU's bf16 features and what `auto` resolves to here.

Usage: python bench/bench_precision.py [--repeats N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

MODEL = Path(__file__).resolve().parent.parent / "assets" / "all-MiniLM-L6-v2"


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: oneDNN picks and caches its kernels on first use
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, logging

    from toolkit.models import FAMILIES
    from toolkit.precision import cpu_has_fast_bf16, resolve_precision

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    logging.set_verbosity_error()
    torch.manual_seed(0)
    flags = Path("/proc/cpuinfo").read_text().split()
    print("cpu bf16 features:", [f for f in ("avx512_bf16", "amx_bf16", "amx_tile") if f in flags])
    x, w = torch.randn(896, 384), torch.randn(1536, 384)
    linear = {
        dtype: median_ms(
            lambda d=dtype: torch.nn.functional.linear(x.to(d), w.to(d)), args.repeats * 10
        )
        for dtype in (torch.float32, torch.bfloat16)
    }
    model = AutoModelForSequenceClassification.from_pretrained(MODEL, num_labels=2).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    ids, labels = torch.randint(1000, 20000, (32, 28)), torch.randint(0, 2, (32,))

    def step(bf16: bool) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    steps = {
        name: median_ms(lambda b=bf16: step(b), args.repeats)
        for name, bf16 in (("fp32", False), ("bf16", True))
    }
    print(
        f"linear 896x384 @ 384x1536: fp32 {linear[torch.float32]:.2f} ms, "
        f"bf16 {linear[torch.bfloat16]:.2f} ms, "
        f"bf16 speed-up {linear[torch.float32] / linear[torch.bfloat16]:.2f}x"
    )
    print(
        f"MiniLM-L6 train step:      fp32 {steps['fp32']:.0f} ms, "
        f"bf16 autocast {steps['bf16']:.0f} ms, bf16 speed-up {steps['fp32'] / steps['bf16']:.2f}x"
    )
    print(
        f"AMX present: {cpu_has_fast_bf16()}; precision auto resolves to "
        f"{resolve_precision('auto', FAMILIES['bert'])}"
    )


if __name__ == "__main__":
    main()
