"""Back-translation throughput: toolkit's neural engine vs nlpaug's BackTranslationAug.

All sides round-trip the same 512 polarity sentences (assets/polarity.csv, from `make assets`;
3 to 49 words) through the SAME two local checkpoints with the SAME decoding: greedy, batch_size
32, at most 64 new tokens (nlpaug passes `max_length` to generate, which counts the decoder
start token, so it gets 65). The pivots are compared to show the decoding really is the same.

No real Marian weights exist offline. The stand-ins are MarianMTModels (256d, 3+3 layers) laid
out as opus-mt checkpoints are (</s> 0, <unk> 1, <pad> last and the decoder start), with a
byte-level BPE tokenizer (vocab 8,000) trained on the polarity sentences:
  [A] random weights: they never emit EOS, so every sentence decodes to the 64-token cap
      whatever its input; sorting by length can only save encoder padding.
  [B] the same architecture trained for a few minutes to copy its input (en -> en). It learns
      where to stop long before it learns the words: after 400 steps it writes "the the ... ."
      and ends with EOS after as many tokens as its input (checked below), which is what
      matters for speed: output length follows input length, as in a real translation model.
      nlpaug's unsorted batches decode until their longest sentence ends, the toolkit's
      length-sorted ones end together. Trained once and kept in bench/results/.
Rows: nlpaug; toolkit with backend transformers (its generate, length-sorted); toolkit with
backend ctranslate2 (the default: the same checkpoint converted once, conversion cached and not
timed); toolkit ctranslate2 int8 (opt-in; changes outputs slightly). Medians of 3 interleaved
runs after a warm-up, sentences/s per round trip.
Then the apertium engine (if installed) on 1,000 sentences: sentences/s, mean edit rate, examples.

Run (about 10 minutes on 2 cores the first time, 5 later): make assets &&
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_back_translation.py
One thread per process is steadier on a 2-core machine that other processes share: with 2
threads a busy neighbour stalls every OpenMP barrier (runs fell from ~30 to 4-11 sentences/s).
"""

from __future__ import annotations

import csv
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SENTENCES, REPEATS, BATCH, MAX_NEW = 512, 3, 32, 64
SIZES = dict(
    d_model=256,
    encoder_layers=3,
    decoder_layers=3,
    encoder_attention_heads=4,
    decoder_attention_heads=4,
    encoder_ffn_dim=1024,
    decoder_ffn_dim=1024,
    max_position_embeddings=512,
)
COPY_MODEL = Path(__file__).resolve().parent / "results" / "bt_copy_model"
COPY_STEPS, COPY_BATCH, COPY_WARMUP = 400, 32, 100


def polarity() -> list[str]:
    with open("assets/polarity.csv", encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def build_tokenizer(corpus: list[str]) -> Any:
    """A byte-level BPE tokenizer (vocab 8000) trained on the corpus, in opus-mt's layout."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=8000, special_tokens=["</s>", "<unk>"])
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>")
    fast.add_special_tokens({"pad_token": "<pad>"})  # last, as in opus-mt: the decoder start
    return fast


def marian(tokenizer: Any, seed: int) -> Any:
    import torch
    from transformers import MarianConfig, MarianMTModel

    torch.manual_seed(seed)
    config = MarianConfig(
        vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id, decoder_start_token_id=tokenizer.pad_token_id,
        **SIZES,
    )  # fmt: skip
    model = MarianMTModel(config)
    model.generation_config.num_beams = 1  # nlpaug decodes with the generation config
    return model


def copy_model(corpus: list[str]) -> str:
    """Scenario B's checkpoint: trained to copy its input, so its outputs end like real ones."""
    import torch

    if (COPY_MODEL / "config.json").is_file():
        return str(COPY_MODEL)
    tokenizer = build_tokenizer(corpus)
    model = marian(tokenizer, seed=0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1, (s + 1) / COPY_WARMUP))
    rng, start = random.Random(0), time.perf_counter()
    for step in range(COPY_STEPS):
        batch = tokenizer(rng.sample(corpus, COPY_BATCH), return_tensors="pt", padding=True)
        labels = batch.input_ids.masked_fill(batch.attention_mask == 0, -100)
        loss = model(**batch, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        warmup.step()
        optimizer.zero_grad()
        if step % 100 == 0 or step == COPY_STEPS - 1:
            print(f"  copy model step {step}: loss {loss.item():.3f} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip
    model.eval().save_pretrained(COPY_MODEL)
    tokenizer.save_pretrained(COPY_MODEL)
    return str(COPY_MODEL)


def random_models(root: Path, corpus: list[str]) -> tuple[str, str]:
    """Scenario A: two random Marian models (forward, backward) saved with the tokenizer."""
    tokenizer = build_tokenizer(corpus)
    folders = []
    for seed, name in enumerate(("fwd", "bwd")):
        marian(tokenizer, seed).save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        folders.append(str(root / name))
    return folders[0], folders[1]


def nlpaug_side(fwd: str, bwd: str) -> Any:
    import nlpaug.augmenter.word as naw

    return naw.BackTranslationAug(
        from_model_name=fwd, to_model_name=bwd, device="cpu", batch_size=BATCH,
        max_length=MAX_NEW + 1, force_reload=True,
    )  # fmt: skip


def toolkit_side(fwd: str, bwd: str, backend: str, int8: bool = False) -> Any:
    from toolkit.augment.back_translation import BackTranslation
    from toolkit.recipe.augment import BackTranslationStep

    step = BackTranslationStep(
        method="back_translation", engine="neural", forward_model=fwd, backward_model=bwd,
        batch_size=BATCH, num_beams=1, max_length=MAX_NEW, backend=backend, int8=int8,
    )  # fmt: skip
    return BackTranslation.from_step(step)


def timed(run: Callable[[list[str]], Any], texts: list[str]) -> float:
    start = time.perf_counter()
    run(texts)
    return SENTENCES / (time.perf_counter() - start)


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import torch

    threads = torch.get_num_threads()
    return f"{cpu}; {os.cpu_count()} cores; torch {torch.__version__}, {threads} threads"


def scenario(texts: list[str], fwd: str, bwd: str) -> None:
    """Median sentences/s of nlpaug and the toolkit's backends, and a same-output check."""
    theirs = nlpaug_side(fwd, bwd)
    sides = {
        "transformers": toolkit_side(fwd, bwd, "transformers"),
        "ctranslate2": toolkit_side(fwd, bwd, "ctranslate2"),
        "ctranslate2 int8": toolkit_side(fwd, bwd, "ctranslate2", int8=True),
    }
    runs = {"nlpaug BackTranslationAug": theirs.augment}
    for name, side in sides.items():
        runs[f"toolkit {name}"] = lambda batch, side=side: side.augment(batch, 1, random.Random(0))
    for run in runs.values():  # warm-up: oneDNN picks its kernels on first use
        run(texts[:BATCH])
    speeds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(REPEATS):  # interleaved, so drifting load hits every row alike
        for name, run in runs.items():
            speeds[name].append(timed(run, texts))
    base = statistics.median(speeds["nlpaug BackTranslationAug"])
    for name, values in speeds.items():
        median = statistics.median(values)
        runs_text = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:27} {median:6.1f} sentences/s  x{median / base:.2f}  (runs: {runs_text})")
    same_pivots(texts, theirs, sides)


def same_pivots(texts: list[str], theirs: Any, sides: dict[str, Any]) -> None:
    """Forward translations of each toolkit backend against nlpaug's, under the same cap."""
    from toolkit.augment import back_translation as bt

    model = theirs.model
    reference = model.translate_one_step_batched(texts, model.src_tokenizer, model.src_model)
    bt.LENGTH_FACTOR = 10**6  # only max_length caps, as in nlpaug
    try:
        for name, side in sides.items():
            pivots = side.engine.translate(texts, "forward")
            same = sum(a.strip() == b for a, [b] in zip(reference, pivots))
            words = sum(len(a.split()) == len(b.split()) for a, [b] in zip(reference, pivots))
            print(f"  same pivot as nlpaug, toolkit {name}: {same}/{len(texts)} "
                  f"(same number of words: {words}/{len(texts)})")  # fmt: skip
    finally:
        bt.LENGTH_FACTOR = 2
    tokenizer = model.src_tokenizer
    size = [len(ids) for ids in tokenizer(texts + reference).input_ids]
    gaps = [size[len(texts) + i] - size[i] for i in range(len(texts))]
    near = sum(abs(gap) <= 2 for gap in gaps)
    print(f"  nlpaug's pivots: output minus input tokens median {statistics.median(gaps):+.0f}, "
          f"within 2 tokens for {near}/{len(texts)}")  # fmt: skip


def apertium(corpus: list[str]) -> None:
    from toolkit.augment.back_translation import BackTranslation
    from toolkit.recipe.augment import BackTranslationStep

    if shutil.which("apertium") is None:
        print("apertium: not installed (apt-get install apertium apertium-eng-spa), skipped")
        return
    texts = corpus[:1000]
    aug = BackTranslation.from_step(BackTranslationStep(method="back_translation"))
    start = time.perf_counter()
    out = aug.augment(texts, 1, random.Random(0))
    seconds = time.perf_counter() - start
    rate = statistics.mean(v.edit_rate for [v] in out)
    print(
        f"apertium en->es->en: {len(texts) / seconds:.0f} sentences/s on {len(texts)}, "
        f"mean edit rate {rate:.3f}"
    )
    for i in (2, 3, 10, 25, 40):
        print(f"  {texts[i]}\n    -> {out[i][0].text}")


def main() -> None:
    import torch

    print("machine:", machine())
    threads = os.environ.get("OMP_NUM_THREADS", "")
    print("command:", " ".join([f"OMP_NUM_THREADS={threads}", sys.executable, *sys.argv]))
    corpus = polarity()
    texts = random.Random(0).sample(corpus, SENTENCES)
    words = sorted(len(t.split()) for t in texts)
    print(
        f"{SENTENCES} polarity sentences, words min/median/max {words[0]}/"
        f"{words[SENTENCES // 2]}/{words[-1]}; Marian {SIZES['d_model']}d "
        f"{SIZES['encoder_layers']}+{SIZES['decoder_layers']} layers, vocab 8000; greedy, "
        f"batch {BATCH}, at most {MAX_NEW} new tokens on all sides; {REPEATS} runs each"
    )
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        os.environ["TOOLKIT_CACHE"] = str(Path(folder) / "cache")  # conversions made here
        print("\n[A] random weights: no EOS, every sentence decodes to the 64-token cap")
        scenario(texts, *random_models(Path(folder), corpus))
        print("\n[B] trained to copy its input: outputs end with EOS, as long as their input")
        trained = copy_model(corpus)
        scenario(texts, trained, trained)
    print()
    apertium(corpus)


if __name__ == "__main__":
    main()
