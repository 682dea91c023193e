"""Memory levers (gradient checkpointing, eval accumulation) and the precision guards a GPU
would reach (simulated: this machine has none)."""

from __future__ import annotations

import json

import pytest
from conftest import make_recipe

from toolkit.cli import app
from toolkit.errors import ToolkitError
from toolkit.models import FAMILIES


def test_precision_guards_on_a_gpu(monkeypatch):
    import torch

    from toolkit.precision import resolve_precision

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    with pytest.raises(ToolkitError, match="T5 overflows to NaN in fp16"):
        resolve_precision("fp16", FAMILIES["t5"])
    assert resolve_precision("fp16", FAMILIES["bert"]) == "fp16"
    # auto on a GPU without bf16: fp16, except for T5, which stays in fp32
    assert resolve_precision("auto", FAMILIES["gpt2"]) == "fp16"
    assert resolve_precision("auto", FAMILIES["t5"]) == "fp32"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert resolve_precision("auto", FAMILIES["t5"]) == "bf16"


@pytest.mark.parametrize("family", ["bert", "gpt2", "t5"])
def test_gradient_checkpointing_trains_the_same_model(
    family, tiny_models, toy_csv, tmp_path, runner
):
    results = []
    for checkpointing in (False, True):
        out = tmp_path / f"run-{checkpointing}"
        train = {"gradient_checkpointing": checkpointing, "eval_accumulation_steps": 2}
        recipe = make_recipe(tmp_path / f"{checkpointing}.yaml", tiny_models[family], toy_csv, out,
                             train=train, regularization={"dropout": 0.0})  # fmt: skip
        result = runner.invoke(app, ["run", str(recipe)])
        assert result.exit_code == 0, result.output
        results.append(json.loads((out / "metrics.json").read_text()))
    plain, recomputed = results
    assert recomputed["train"]["train_loss"] == pytest.approx(
        plain["train"]["train_loss"], rel=1e-4
    )
    assert recomputed["test"]["accuracy"] == plain["test"]["accuracy"]
