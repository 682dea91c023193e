"""Class weights for classification (`task.class_weights`): a weighted cross-entropy loss for
the Trainer's `compute_loss_func`, with the recipe's label smoothing (the Trainer applies none
once a loss function is given)."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Literal

from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    import torch

Weights = Literal["balanced"] | list[float]


def check_weights(value: object) -> object:
    """The recipe value: 'balanced', or a list of numbers none negative and not all zero."""
    if value is None or value == "balanced":
        return value
    if not isinstance(value, list) or not all(
        isinstance(w, (int, float)) and not isinstance(w, bool) for w in value
    ):
        raise ValueError("use 'balanced' or a list of numbers, one weight per label")
    if any(w < 0 for w in value):
        raise ValueError("class weights must not be negative")
    if not any(w > 0 for w in value):
        raise ValueError("class weights are all zero (at least one must be above zero)")
    return value


def class_weights(weights: Weights, labels: list[str], label_names: list[str]) -> list[float]:
    """One weight per label: given, or sklearn's 'balanced' n_rows / (n_classes * rows of
    the class) from the train labels (`labels`, in the label names' normal form)."""
    if weights != "balanced":
        if len(weights) != len(label_names):
            raise ToolkitError(
                f"task.class_weights: {len(weights)} weights for {len(label_names)} labels "
                f"(give one per label, in the order {', '.join(label_names[:10])})"
            )
        return [float(w) for w in weights]
    counts = Counter(labels)
    missing = [name for name in label_names if not counts[name]]
    if missing:
        raise ToolkitError(
            f"task.class_weights: 'balanced' needs train rows of every label; {missing[0]!r} "
            "has none (give the weights as a list)"
        )
    return [len(labels) / (len(label_names) * counts[name]) for name in label_names]


class WeightedLoss:
    """`compute_loss_func(outputs, labels, num_items_in_batch=None)`: cross-entropy with class
    weights and label smoothing. With `num_items_in_batch` (training: the rows of all the
    accumulated batches) it returns the sum over this batch divided by it, as the Trainer then
    expects; else the weighted mean (evaluation)."""

    def __init__(self, weights: list[float], label_smoothing: float = 0.0):
        self.weights = weights
        self.label_smoothing = label_smoothing

    def __call__(
        self, outputs: object, labels: torch.Tensor, num_items_in_batch: object = None
    ) -> torch.Tensor:
        import torch
        from torch.nn import functional

        logits = outputs["logits"] if isinstance(outputs, dict) else outputs.logits
        logits = logits.view(-1, logits.shape[-1])
        weight = torch.tensor(self.weights, device=logits.device, dtype=logits.dtype)
        reduction = "mean" if num_items_in_batch is None else "sum"
        loss = functional.cross_entropy(
            logits, labels.view(-1).to(logits.device), weight=weight,
            label_smoothing=self.label_smoothing, reduction=reduction,
        )  # fmt: skip
        if num_items_in_batch is None:
            return loss
        return loss / torch.as_tensor(num_items_in_batch, device=loss.device, dtype=loss.dtype)
