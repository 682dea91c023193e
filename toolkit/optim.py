"""Per-layer learning rates (`train.layer_lr_decay`, `train.head_lr_multiplier`).

The Trainer's AdamW with one learning rate treats a freshly initialised head like the pre-trained
layers under it. Two standard refinements, both off by default:
  - layer-wise decay (Howard & Ruder 2018; Sun et al. 2019): layer i of L (0 the lowest) trains
    at lr * decay ** (L - 1 - i), the embeddings at lr * decay ** L, so the top layer keeps lr
    and lower, more general layers move less;
  - a head multiplier: the task head (the classifier, and BERT's pooler, which checkpoints such as
    the sentence-transformers MiniLM ship untrained) trains at lr * multiplier.
Everything else (a T5 decoder, final norms) keeps lr. Weight decay skips biases and norm weights
(every 1-D parameter), as the Trainer's own grouping does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

    from toolkit.models import Family


def parameter_groups(
    model: torch.nn.Module, family: Family, lr: float, weight_decay: float, decay: float,
    head_multiplier: float,
) -> list[dict]:  # fmt: skip
    """AdamW parameter groups: one per (learning rate, weight decay) pair, trainable only."""
    rates = learning_rates(model, family, lr, decay, head_multiplier)
    groups: dict[tuple[float, float], list] = {}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad:
            wd = weight_decay if parameter.ndim >= 2 else 0.0
            groups.setdefault((rates.get(name, lr), wd), []).append(parameter)
    return [{"params": ps, "lr": rate, "weight_decay": wd} for (rate, wd), ps in groups.items()]


def learning_rates(
    model: torch.nn.Module, family: Family, lr: float, decay: float, head_multiplier: float
) -> dict[str, float]:
    """The learning rate of every named parameter that does not train at `lr` itself."""
    base = model.base_model
    prefix = next(n for n, m in model.named_modules() if m is base)
    prefix = f"{prefix}." if prefix else ""
    stack = base
    for attribute in family.layers.split("."):
        stack = getattr(stack, attribute)
    depth = len(stack)
    rates = {}
    for name, _ in base.named_parameters():
        rates[prefix + name] = lr * layer_factor(name, family.layers, depth, decay)
    for name, _ in model.named_parameters():
        if not name.startswith(prefix) or ".pooler." in f".{name}":
            rates[name] = lr * head_multiplier  # the task head, and BERT's pooler
    return rates


def layer_factor(name: str, stack: str, depth: int, decay: float) -> float:
    """decay ** (distance from the top) for a parameter of the base model, by its name."""
    if name.startswith(f"{stack}."):
        index = int(name[len(stack) + 1 :].split(".")[0])
        return decay ** (depth - 1 - index)
    if "embed" in name or name.startswith(("wte.", "wpe.", "shared.")):
        return decay**depth
    return 1.0
