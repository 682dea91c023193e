"""`toolkit export RUN --format onnx`: a classification or extractive-QA run as model.onnx.

The exporter is torch's own, `torch.onnx.export(dynamo=True)` (torch.export underneath), with
batch and sequence length dynamic. Optimum's exporter was not an option: optimum 2.x moved it to
optimum-onnx, whose releases (0.1.0 the newest) require transformers < 4.58. The TorchScript
exporter (`dynamo=False`) is deprecated since torch 2.9. An adapter (LoRA) run exports its merged
model. The graph's outputs are named after the fields of the model's ModelOutput (logits, or
start_logits and end_logits), and the ModelOutput class is stored in the ONNX metadata, so the
loader (onnx_model.py) returns what the PyTorch model returns.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import torch  # this module is imported only when an export runs (not by `toolkit --help`)

from toolkit.errors import ToolkitError
from toolkit.export.folder import open_run, write_export_folder
from toolkit.export.onnx_model import MODEL_FILE, OUTPUT_CLASS, OnnxModel, load_onnx_model
from toolkit.tasks.base import HeadKind

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from toolkit.models import LoadedModel
    from toolkit.tasks.base import Head

__all__ = ["OnnxModel", "export_onnx", "load_onnx_model"]

EXPORTABLE = (HeadKind.SEQUENCE_CLASSIFICATION, HeadKind.QUESTION_ANSWERING)
GENERATING = (HeadKind.SEQ2SEQ_LM, HeadKind.CAUSAL_LM, HeadKind.BERT2BERT)
OPSET = 18
SINGLE_FILE_LIMIT = 1_800_000_000  # bytes of weights above which they go to model.onnx.data


def export_onnx(run_dir: Path, out: Path | None = None, overwrite: bool = False) -> Path:
    """Export the run in `run_dir` to an ONNX export folder; returns the folder."""
    from toolkit.evaluation.scoring import saved_head
    from toolkit.recipe.load import load_recipe
    from toolkit.tasks.registry import task_for

    _, model_dir, recipe_file = open_run(run_dir)
    recipe = load_recipe(recipe_file)
    task = task_for(recipe)
    trust = recipe.model.trust_remote_code
    check_exportable(saved_head(task, model_dir, trust))

    def write(folder: Path) -> None:
        from toolkit.lora import load_run_model

        loaded = load_run_model(model_dir, task.head, recipe.model.source(), trust)
        write_onnx(merged(loaded), loaded.tokenizer, folder)

    return write_export_folder(run_dir, out, "onnx", write, overwrite=overwrite)


def check_exportable(head: Head) -> None:
    """Refuse, before any weights load, a run whose model ONNX export does not serve."""
    if head.kind in GENERATING:
        raise ToolkitError(
            "--format onnx: this run generates text, which the ONNX export does not serve; "
            "use --format ctranslate2"
        )
    if head.kind not in EXPORTABLE:
        raise ToolkitError(
            f"--format onnx: exports classification and extractive QA runs; this run trains a "
            f"{head.kind.value} model"
        )


def merged(loaded: LoadedModel) -> torch.nn.Module:
    """The run's model in eval mode; a peft adapter folded into its base first."""
    from toolkit.lora import quiet_peft

    model = loaded.model
    if hasattr(model, "merge_and_unload"):
        with quiet_peft():
            model = model.merge_and_unload()
    return model.eval()


def write_onnx(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, folder: Path) -> None:
    """model.onnx (and the model's own config.json, a merged adapter's included) in `folder`."""
    names, sample = sample_inputs(tokenizer)
    with torch.inference_mode():
        reference = model(**sample)
    fields = [key for key, value in reference.items() if isinstance(value, torch.Tensor)]
    wrapper = Outputs(model, names, fields).eval()
    program = run_exporter(wrapper, tuple(sample[name] for name in names), names, fields)
    program.model.metadata_props[OUTPUT_CLASS] = qualified_name(type(reference))
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    program.save(str(folder / MODEL_FILE), external_data=weights > SINGLE_FILE_LIMIT)
    model.config.architectures = [type(model).__name__]  # as save_pretrained records it
    model.config.save_pretrained(str(folder))


def sample_inputs(tokenizer: PreTrainedTokenizerBase) -> tuple[list[str], dict[str, torch.Tensor]]:
    """A padded batch of two text pairs of different lengths: an example for the exporter
    (batch and length above 1, so torch.export does not specialise either to a constant)."""
    pairs = (["a question about it", "a context with a few more words in it"], ["why", "so"])
    batch = tokenizer(
        [p[0] for p in pairs], [p[1] for p in pairs], padding=True, return_tensors="pt"
    )
    names = [name for name in batch if name in ("input_ids", "attention_mask", "token_type_ids")]
    return names, {name: batch[name] for name in names}


def run_exporter(
    wrapper: torch.nn.Module, args: tuple, names: list[str], fields: list[str]
) -> torch.onnx.ONNXProgram:
    """torch.onnx's torch.export-based exporter, batch and sequence dynamic on every input."""
    from torch.export import Dim

    batch, sequence = Dim("batch"), Dim("sequence")
    shapes = (tuple({0: batch, 1: sequence} for _ in names),)  # forward(*tensors): one tuple
    with quiet_exporter():
        try:
            program = torch.onnx.export(
                wrapper, args, input_names=names, output_names=fields, opset_version=OPSET,
                dynamic_shapes=shapes, dynamo=True, verbose=False,
            )  # fmt: skip
        except Exception as exc:  # torch.export's many error types, all "cannot export this"
            raise ToolkitError(
                f"--format onnx: torch.onnx cannot export this model: {export_failure(exc)}"
            ) from None
    if program is None:
        raise ToolkitError("--format onnx: torch.onnx returned no program")
    return program


@contextmanager
def quiet_exporter() -> Iterator[None]:
    """Hide torch.onnx's notes: optional torchvision ops skipped, dynamic axes renamed."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def export_failure(exc: Exception) -> str:
    """The line of torch.onnx's long report that says what failed."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if "## Exception summary" in lines[:-1]:
        return lines[lines.index("## Exception summary") + 1][:300]
    return lines[0][:300] if lines else type(exc).__name__


class Outputs(torch.nn.Module):
    """The model with positional tensor inputs and a tuple of its output fields: the calling
    convention of an ONNX graph."""

    def __init__(self, model: torch.nn.Module, names: list[str], fields: list[str]):
        super().__init__()
        self.model, self.names, self.fields = model, names, fields

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        output = self.model(**dict(zip(self.names, tensors)))
        return tuple(output[field] for field in self.fields)


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
