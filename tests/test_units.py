"""Unit checks: metrics against hand-computed values, precision choice, model-family fixes."""

from __future__ import annotations

import pytest

from toolkit.errors import ToolkitError
from toolkit.metrics import classification_metrics
from toolkit.models import FAMILIES, load_tokenizer


def SEQUENCE_HEAD(family):  # noqa: N802  (stands in for a task's head choice)
    from toolkit.tasks.base import Head, HeadKind

    return Head(HeadKind.SEQUENCE_CLASSIFICATION, "head")


def test_classification_metrics_by_hand():
    # gold: a a a b b c ; predicted: a a b b c c
    gold = [0, 0, 0, 1, 1, 2]
    predicted = [0, 0, 1, 1, 2, 2]
    result = classification_metrics(gold, predicted, ["a", "b", "c"])
    assert result["accuracy"] == pytest.approx(4 / 6)
    # per class: a P=1 R=2/3 F1=0.8; b P=1/2 R=1/2 F1=0.5; c P=1/2 R=1 F1=2/3
    assert result["per_class"]["a"] == pytest.approx(
        {"precision": 1, "recall": 2 / 3, "f1": 0.8, "support": 3}
    )
    assert result["per_class"]["c"]["f1"] == pytest.approx(2 / 3)
    assert result["f1_macro"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert result["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]


def test_metrics_count_classes_absent_from_predictions():
    result = classification_metrics([0, 1], [0, 0], ["neg", "pos"])
    assert result["per_class"]["pos"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_precision_choices_on_cpu():
    from toolkit.precision import cpu_has_fast_bf16, resolve_precision

    t5, bert = FAMILIES["t5"], FAMILIES["bert"]
    with pytest.raises(ToolkitError, match="fp16 needs a CUDA GPU"):
        resolve_precision("fp16", bert)
    assert resolve_precision("bf16", t5) == "bf16"
    assert resolve_precision("auto", bert) == ("bf16" if cpu_has_fast_bf16() else "fp32")


def test_gpt2_gets_a_pad_token_and_bert_keeps_its_own(tiny_models):
    gpt2 = load_tokenizer(str(tiny_models["gpt2"]), FAMILIES["gpt2"])
    assert gpt2.pad_token == gpt2.eos_token == "<|endoftext|>"
    bert = load_tokenizer(str(tiny_models["bert"]), FAMILIES["bert"])
    assert bert.pad_token == "[PAD]"


def test_gpt2_classifies_padded_rows_like_unpadded(tiny_models):
    """The head must read the last real token, not a pad: padding may not change a row's logits."""
    import torch

    from toolkit.models import load_for_task

    loaded = load_for_task(str(tiny_models["gpt2"]), SEQUENCE_HEAD, {"num_labels": 2})
    loaded.model.eval()
    tok = loaded.tokenizer
    alone = tok(["the film was good"], return_tensors="pt")
    padded = tok(
        ["the film was good", "a much longer sentence about the acting and the plot"],
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
        single = loaded.model(**alone).logits[0]
        batched = loaded.model(**padded).logits[0]
    assert torch.allclose(single, batched, atol=1e-5)


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_freeze_lower_layers_each_family(family, tiny_models):
    from toolkit.freezing import freeze_lower_layers
    from toolkit.models import load_for_task

    loaded = load_for_task(str(tiny_models[family]), SEQUENCE_HEAD, {"num_labels": 2})
    total = loaded.parameter_count
    frozen = freeze_lower_layers(loaded.model, loaded.family, 1)
    assert 0 < frozen < total and loaded.trainable_count == total - frozen
    trainable = {n for n, p in loaded.model.named_parameters() if p.requires_grad}
    layer_names = {"bert": "encoder.layer.", "gpt2": "transformer.h.", "t5": "encoder.block."}
    prefix = layer_names[family]
    assert not any(f"{prefix}0." in n for n in trainable)
    assert any(f"{prefix}1." in n for n in trainable)
    assert not any("embed" in n or "wte" in n or "wpe" in n or "shared" in n for n in trainable)
    with pytest.raises(ToolkitError, match="exceeds the model's 2 layers"):
        freeze_lower_layers(loaded.model, loaded.family, 3)
