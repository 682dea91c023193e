"""Back-translation throughput: toolkit's neural engine vs nlpaug's BackTranslationAug.

Both round-trip the same 512 polarity sentences (assets/polarity.csv, from `make assets`; 3 to 49
words) through the SAME two local checkpoints with the SAME decoding: greedy, batch_size 32, at
most 64 new tokens (nlpaug passes `max_length` to generate, which counts the decoder start token,
so it gets 65). The pivots of both are compared to show the decoding really is the same.

No real Marian weights exist offline: two random MarianMTModels (256d, 3+3 layers, vocab 8000)
share a byte-level BPE tokenizer trained on the polarity sentences. Random weights do not end a
translation where a real model would, so two scenarios:
  [A] plain random weights: every sentence decodes to about the same length, whatever its input,
      so length-sorting can only save encoder padding;
  [B] the same models with EOS forced at ceil(1.1 x source tokens), a stand-in for a real model
      whose output length follows its input: nlpaug's unsorted batches decode until their
      longest sentence ends, toolkit's length-sorted batches end together.
Rows: nlpaug; toolkit with only the max_length cap, as nlpaug ([A] only: in [B] EOS always comes
first); toolkit as shipped (cap also 2 x input + 8 tokens). Medians of 3 interleaved runs after a
warm-up, sentences/s per round trip.
Then the apertium engine (if installed) on 1,000 sentences: sentences/s, mean edit rate, examples.

Run (about 4 minutes on 2 cores): make assets &&
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_back_translation.py
One thread per process is faster on a 2-core machine that other processes share: with 2 threads
a busy neighbour stalls every OpenMP barrier (runs fell from ~30 to 4-11 sentences/s).
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


def polarity() -> list[str]:
    with open("assets/polarity.csv", encoding="utf-8") as handle:
        return [row["text"] for row in csv.DictReader(handle)]


def length_marian():
    """Marian that ends each translation at ceil(1.1 x its source tokens), like a real model."""
    import torch
    from transformers import AutoConfig, AutoModelForSeq2SeqLM, MarianConfig, MarianMTModel

    class LengthConfig(MarianConfig):
        model_type = "marian_length"

    class LengthMarian(MarianMTModel):
        config_class = LengthConfig

        def forward(self, *args, attention_mask=None, decoder_input_ids=None, **kwargs):
            cache = kwargs.get("cache", kwargs.get("past_key_values"))
            made = (cache.get_seq_length() if cache is not None else 0) + decoder_input_ids.shape[1]
            out = super().forward(
                *args, attention_mask=attention_mask, decoder_input_ids=decoder_input_ids, **kwargs
            )
            due = made >= torch.ceil(attention_mask.sum(-1) * 1.1)
            out.logits[:, -1, self.config.eos_token_id] = torch.where(due, 1e4, -1e4)
            return out

    # Registered, so nlpaug's and toolkit's AutoModelForSeq2SeqLM both load it.
    AutoConfig.register("marian_length", LengthConfig, exist_ok=True)
    AutoModelForSeq2SeqLM.register(LengthConfig, LengthMarian, exist_ok=True)
    return LengthConfig, LengthMarian


def build_tokenizer(corpus: list[str]) -> Any:
    """A byte-level BPE tokenizer (vocab 8000) trained on the corpus, Marian's specials."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=8000, special_tokens=["<pad>", "</s>", "<unk>"])
    tok.train_from_iterator(corpus, trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", tok.token_to_id("</s>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )


def build_models(root: Path, tokenizer: Any, realistic: bool) -> tuple[str, str]:
    """Two random Marian models (forward, backward) saved with the tokenizer."""
    import torch
    from transformers import MarianConfig, MarianMTModel

    config_class, model_class = length_marian() if realistic else (MarianConfig, MarianMTModel)
    folders = []
    for seed, name in enumerate(("fwd", "bwd")):
        torch.manual_seed(seed)  # the same weights in both scenarios
        config = config_class(
            vocab_size=len(tokenizer), pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
            **SIZES,
        )  # fmt: skip
        model = model_class(config)
        model.generation_config.num_beams = 1  # nlpaug decodes with the generation config
        model.save_pretrained(root / name)
        tokenizer.save_pretrained(root / name)
        folders.append(str(root / name))
    return folders[0], folders[1]


def augmenters(fwd: str, bwd: str) -> tuple[Any, Any]:
    """nlpaug's BackTranslationAug and toolkit's BackTranslation on the same two checkpoints."""
    import nlpaug.augmenter.word as naw

    from toolkit.augment.back_translation import BackTranslation
    from toolkit.recipe_augment import BackTranslationStep

    theirs = naw.BackTranslationAug(
        from_model_name=fwd,
        to_model_name=bwd,
        device="cpu",
        batch_size=BATCH,
        max_length=MAX_NEW + 1,
        force_reload=True,
    )
    step = BackTranslationStep(
        method="back_translation",
        engine="neural",
        forward_model=fwd,
        backward_model=bwd,
        batch_size=BATCH,
        num_beams=1,
        max_length=MAX_NEW,
    )
    return theirs, BackTranslation.from_step(step)


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


def neural(corpus: list[str], tokenizer: Any, realistic: bool) -> None:
    """One scenario: median sentences/s of nlpaug and toolkit, and a same-output check."""
    from toolkit.augment import back_translation as bt

    texts = random.Random(0).sample(corpus, SENTENCES)
    with tempfile.TemporaryDirectory() as folder:
        theirs, ours = augmenters(*build_models(Path(folder), tokenizer, realistic))

        def toolkit(length_factor: int) -> Callable[[list[str]], Any]:
            def run(batch: list[str]) -> Any:
                bt.LENGTH_FACTOR = length_factor
                return ours.augment(batch, 1, random.Random(0))

            return run

        runs = {"nlpaug BackTranslationAug": theirs.augment}
        if not realistic:  # there EOS comes first: the input-length cap cannot change anything
            runs["toolkit, same cap only"] = toolkit(10**6)  # only max_length caps, as nlpaug
        runs["toolkit as shipped"] = toolkit(2)  # cap also 2 x input + 8 tokens
        for run in runs.values():  # warm-up: oneDNN picks its kernels on first use
            run(texts[:BATCH])
        speeds: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(REPEATS):  # interleaved, so drifting load hits every row alike
            for name, run in runs.items():
                speeds[name].append(timed(run, texts))
        # Same decoding on both sides: the pivots (forward pass) should match.
        model = theirs.model
        pivots = model.translate_one_step_batched(texts, model.src_tokenizer, model.src_model)
        bt.LENGTH_FACTOR = 10**6
        same = sum(
            a.strip() == b for a, [b] in zip(pivots, ours.engine.translate(texts, "forward"))
        )
        bt.LENGTH_FACTOR = 2
    base = statistics.median(speeds["nlpaug BackTranslationAug"])
    for name, values in speeds.items():
        median = statistics.median(values)
        runs_text = ", ".join(f"{v:.1f}" for v in values)
        print(f"  {name:27} {median:6.1f} sentences/s  x{median / base:.2f}  (runs: {runs_text})")
    print(f"  same pivot translation from both (same cap): {same}/{SENTENCES}")


def apertium(corpus: list[str]) -> None:
    from toolkit.augment.back_translation import BackTranslation
    from toolkit.recipe_augment import BackTranslationStep

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
    print(
        "command:",
        " ".join(
            [f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '')}", sys.executable, *sys.argv]
        ),
    )
    corpus = polarity()
    words = sorted(len(t.split()) for t in random.Random(0).sample(corpus, SENTENCES))
    print(
        f"{SENTENCES} polarity sentences, words min/median/max {words[0]}/"
        f"{words[SENTENCES // 2]}/{words[-1]}; random Marian {SIZES['d_model']}d "
        f"{SIZES['encoder_layers']}+{SIZES['decoder_layers']} layers, vocab 8000; greedy, "
        f"batch {BATCH}, at most {MAX_NEW} new tokens on both sides; {REPEATS} runs each"
    )
    torch.manual_seed(0)
    print(
        "\n[A] plain random weights: they rarely emit EOS where a real model would, so every "
        "sentence decodes to the same length whatever its input (no gain from sorting there)"
    )
    tokenizer = build_tokenizer(corpus)
    neural(corpus, tokenizer, realistic=False)
    print(
        "\n[B] same weights, EOS forced at ceil(1.1 x source tokens), as a real MT model "
        "roughly does: output length follows input length"
    )
    neural(corpus, tokenizer, realistic=True)
    print()
    apertium(corpus)


if __name__ == "__main__":
    main()
