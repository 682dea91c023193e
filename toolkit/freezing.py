"""Freezing parts of a model before training (`model.freeze_embeddings`, `model.freeze_layers`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from toolkit.models import Family


def freeze_input_embeddings(model: Any) -> int:
    """Stop gradients into the word embeddings; returns how many parameters were frozen."""
    weight = model.get_input_embeddings().weight
    weight.requires_grad_(False)
    return weight.numel()


def freeze_lower_layers(model: Any, family: Family, count: int) -> int:
    """Freeze all embeddings and the lowest `count` layers; returns parameters frozen.

    Backward then stops at the first trainable layer, so each frozen layer also saves its share
    of the backward pass, not only its optimizer update.
    """
    frozen = freeze_input_embeddings(model)
    for name, module in model.base_model.named_modules():  # position/type embeddings, their norm
        if name.split(".")[-1] in ("embeddings", "wpe"):
            frozen += freeze_module(module)
    stack = model.base_model
    for attribute in family.layers.split("."):
        stack = getattr(stack, attribute)
    if count > len(stack):
        raise ToolkitError(f"model.freeze_layers: {count} exceeds the model's {len(stack)} layers")
    for layer in stack[:count]:
        frozen += freeze_module(layer)
    return frozen


def freeze_module(module: Any) -> int:
    count = 0
    for parameter in module.parameters():
        if parameter.requires_grad:
            parameter.requires_grad_(False)
            count += parameter.numel()
    return count
