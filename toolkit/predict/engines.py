"""Which model `toolkit predict` runs (`--engine`) and how it is loaded.

TARGET is a run directory or an export folder (`toolkit export`, detected with
`toolkit.export.read_export`). The engines:

- torch: the run's model through transformers; a LoRA adapter is merged into its base first
  (the same outputs, one matrix product less per adapted layer);
- onnx: the export's model.onnx through onnxruntime (`toolkit.export.onnx.load_onnx_model`,
  an nn.Module the tasks' predict code runs unchanged), on CPU; classification and extractive QA;
- ctranslate2: the run's model with its recipe's generation backend set to ctranslate2
  (translation, text generation, T5 QA).

`auto` is an export folder's own format; for a run directory, torch with the recipe's own
generation backend. onnx on a run directory uses RUN/exports/onnx; ctranslate2 needs no export
(the backend converts the run's model once and caches it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit.errors import ToolkitError
from toolkit.rundir import MARKER, RunDir
from toolkit.tasks.base import HeadKind

if TYPE_CHECKING:
    from toolkit.export import ExportInfo
    from toolkit.models import LoadedModel
    from toolkit.recipe.schema import Recipe
    from toolkit.tasks.base import Head, Task

ENGINES = ("auto", "torch", "onnx", "ctranslate2")
DEVICES = ("auto", "cpu", "cuda")
GENERATING = (HeadKind.SEQ2SEQ_LM, HeadKind.CAUSAL_LM, HeadKind.BERT2BERT)
BACKENDS = {"torch": "transformers", "ctranslate2": "ctranslate2"}  # generation backend


@dataclass(frozen=True)
class Source:
    """Where a prediction's model, recipe and calibration come from."""

    engine: str  # torch | onnx | ctranslate2
    model_dir: Path  # the run's model/ (torch, ctranslate2) or the ONNX export folder
    recipe_file: Path
    run: RunDir | None  # the run: its calibration.json (None: an export whose run is gone)
    backend: str | None  # the generation backend to use; None: the recipe's own


def read_export(folder: Path) -> ExportInfo | None:
    """The export folder's record, None for anything else (or before toolkit.export exists)."""
    try:
        from toolkit.export import read_export as read
    except ImportError:
        return None
    return read(folder)


def resolve(target: Path, engine: str) -> Source:
    """The Source of TARGET under `--engine`; refuses what is neither a run nor an export."""
    if not target.exists():
        raise ToolkitError(f"TARGET: {target}: no such run directory or export folder")
    info = read_export(target) if target.is_dir() else None
    if info is not None:
        return from_export(target, info, engine)
    run = RunDir(target)
    if not run.is_run():
        raise ToolkitError(
            f"TARGET: {target} is neither a run directory (no {MARKER}, nor recipe.yaml, "
            "metrics.json and model/) nor an export folder (no toolkit_export.json)"
        )
    model_dir, recipe_file = run.open()
    if engine == "auto":
        return Source("torch", model_dir, recipe_file, run, None)
    if engine == "torch":
        return Source("torch", model_dir, recipe_file, run, BACKENDS["torch"])
    if engine == "ctranslate2":  # the generation backend converts (and caches) by itself
        return Source("ctranslate2", model_dir, recipe_file, run, BACKENDS["ctranslate2"])
    folder = run.export_folder(engine)
    found = read_export(folder) if folder.is_dir() else None
    if found is None or found.format != engine:
        raise ToolkitError(
            f"--engine {engine}: {target} has no {engine} export ({folder}); make it with "
            f"`toolkit export {target} --format {engine}`"
        )
    return Source("onnx", folder, recipe_file, run, None)


def from_export(folder: Path, info: ExportInfo, engine: str) -> Source:
    """An export folder: its own format's engine; ctranslate2 generates with the exported run's
    model and the ctranslate2 backend."""
    if engine not in ("auto", info.format):
        raise ToolkitError(
            f"--engine {engine}: {folder} is a {info.format} export; use --engine "
            f"{info.format}, or give its run directory ({info.run})"
        )
    run = RunDir(info.run)
    has_run = run.is_run()
    recipe_file = folder / "recipe.yaml"
    if not recipe_file.is_file():
        raise ToolkitError(f"TARGET: {folder} has no recipe.yaml; export the run again")
    if info.format == "onnx":
        return Source("onnx", folder, recipe_file, run if has_run else None, None)
    if not has_run:
        raise ToolkitError(
            f"TARGET: {folder} is a {info.format} export of {info.run}, which is no longer a "
            "run directory; predict needs the run's model for that engine"
        )
    return Source(info.format, run.open().model_dir, recipe_file, run, BACKENDS["ctranslate2"])


def check_engine(source: Source, head: Head) -> None:
    """Refuse, before weights load, an engine the run's kind of model cannot use."""
    generates = head.kind in GENERATING
    if source.engine == "onnx" and generates:
        raise ToolkitError(
            "--engine onnx: ONNX exports serve classification and extractive QA; this run "
            "generates text: use --engine torch or ctranslate2"
        )
    if source.engine == "ctranslate2" and not generates:
        raise ToolkitError(
            "--engine ctranslate2: CTranslate2 serves runs that generate text (translation, "
            "generation, T5 QA); use --engine torch or onnx for this one"
        )


def use_backend(recipe: Recipe, backend: str | None) -> None:
    """Set the recipe's generation backend (`--engine torch` / `ctranslate2`), where it has one."""
    generation = getattr(recipe.task, "generation", None)
    if backend is None or generation is None:
        return
    if "backend" in type(generation).model_fields:
        generation.backend = backend
    elif backend != BACKENDS["torch"]:  # only transformers generates without the field
        raise ToolkitError(
            "--engine ctranslate2: this toolkit has no CTranslate2 generation backend yet "
            "(task.generation.backend); use --engine torch"
        )


def load(source: Source, task: Task, recipe: Recipe, device: str) -> tuple[LoadedModel, str]:
    """The loaded model and the precision it predicts in (bf16 on a CUDA GPU that has it)."""
    if source.engine == "onnx":
        if device == "cuda":
            raise ToolkitError("--device cuda: the onnx engine runs on the CPU; drop --device")
        return load_onnx(source.model_dir, task), "fp32"
    return load_torch(source, task, recipe, pick_device(device))


def pick_device(device: str) -> str:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        raise ToolkitError("--device cuda: no CUDA GPU is available here; use --device cpu")
    return (
        "cuda" if device == "auto" and torch.cuda.is_available() else device.replace("auto", "cpu")
    )


def load_torch(source: Source, task: Task, recipe: Recipe, device: str) -> tuple[LoadedModel, str]:
    import torch

    from toolkit.lora import load_run_model, quiet_peft

    trust = recipe.model.trust_remote_code
    loaded = load_run_model(source.model_dir, task.head, recipe.model.source(), trust)
    if hasattr(loaded.model, "merge_and_unload"):  # a peft adapter: fold it in, in memory only
        with quiet_peft():
            loaded.model = loaded.model.merge_and_unload()
    loaded.model.to(device)
    bf16 = device == "cuda" and torch.cuda.is_bf16_supported()
    return loaded, "bf16" if bf16 else "fp32"


def load_onnx(folder: Path, task: Task) -> LoadedModel:
    """The export's tokenizer and config, and its model.onnx as an nn.Module."""
    try:
        from toolkit.export.onnx import load_onnx_model
    except ImportError:
        raise ToolkitError(
            "--engine onnx: ONNX support is missing from this toolkit (toolkit.export.onnx)"
        ) from None
    from toolkit.models import LoadedModel, family_of, load_config, load_tokenizer

    config = load_config(str(folder))
    family = family_of(config, str(folder))
    tokenizer = load_tokenizer(str(folder), family)
    return LoadedModel(
        load_onnx_model(folder), tokenizer, family, config.model_type, task.head(family)
    )
