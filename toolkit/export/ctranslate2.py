"""`toolkit export RUN --format ctranslate2`: a translation or generation run as a CTranslate2
model (model.bin and its vocabulary), the converter back-translation and evaluation use.

Seq2seq (T5, BART, Marian) runs load in a `ctranslate2.Translator`, decoder-only runs (GPT-2,
Llama/SmolLM2) in a `ctranslate2.Generator`; an adapter (LoRA) run exports its merged model. The
conversion comes from the same cache as evaluation's (ctranslate2_backend.py), so a run that was
evaluated through CTranslate2 exports without converting again.

CTranslate2 and transformers both read `config.json`: the folder's one is the model's
transformers config with CTranslate2's keys (special tokens, decoder start token...) added; the
two sets do not overlap, except `layer_norm_epsilon`, whose transformers value is the model's.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from toolkit import ctranslate2_backend as ct2
from toolkit.errors import ToolkitError
from toolkit.export.folder import open_run, write_export_folder
from toolkit.tasks.base import HeadKind

if TYPE_CHECKING:
    from toolkit.models import LoadedModel
    from toolkit.tasks.base import Head

CONVERTIBLE = (HeadKind.SEQ2SEQ_LM, HeadKind.CAUSAL_LM)
KEY = "--format ctranslate2"


def export_ctranslate2(run_dir: Path, out: Path | None = None, overwrite: bool = False) -> Path:
    """Export the run in `run_dir` to a CTranslate2 export folder; returns the folder."""
    from toolkit.evaluation.scoring import saved_head
    from toolkit.recipe.load import load_recipe
    from toolkit.tasks.registry import task_for

    if not ct2.installed():
        raise ToolkitError(f"{KEY}: ctranslate2 is not installed (pip install ctranslate2)")
    _, model_dir, recipe_file = open_run(run_dir)
    recipe = load_recipe(recipe_file)
    task, trust = task_for(recipe), recipe.model.trust_remote_code
    check_convertible(saved_head(task, model_dir, trust))

    def write(folder: Path) -> None:
        from toolkit.lora import load_run_model

        loaded = load_run_model(model_dir, task.head, recipe.model.source(), trust)
        write_ctranslate2(loaded, folder)

    return write_export_folder(run_dir, out, "ctranslate2", write, overwrite=overwrite)


def check_convertible(head: Head) -> None:
    """Only generating models convert; the message says where the others go."""
    if head.kind is HeadKind.BERT2BERT:
        raise ToolkitError(
            f"{KEY}: CTranslate2 cannot convert a bert2bert encoder-decoder (a BERT run); "
            "its generation stays with transformers"
        )
    if head.kind not in CONVERTIBLE:
        raise ToolkitError(
            f"{KEY}: CTranslate2 runs translation and generation models; this run is a "
            f"{head.kind.value} model: use --format onnx"
        )


def write_ctranslate2(loaded: LoadedModel, folder: Path) -> None:
    """CTranslate2's files (from the conversion cache) into `folder`, and the merged config."""
    from toolkit.generation_ct2 import plain_model

    model, tokenizer = plain_model(loaded.model), loaded.tokenizer
    cache = ct2.cache_folder(["model", ct2.model_digest(model, tokenizer)])
    what = f"{KEY}: CTranslate2 cannot convert this {model.config.model_type} model"
    converted = ct2.cached(cache, lambda out: ct2.convert_model(model, tokenizer, out), what)
    for file in sorted(converted.iterdir()):
        if file.is_file() and file.name != "config.json":
            shutil.copy2(file, folder / file.name)
    engine = json.loads((converted / "config.json").read_text(encoding="utf-8"))
    with ct2.dequantized(model.config):  # the weights are plain floats: no GGUF record
        config = model.config.to_dict()
    (folder / "config.json").write_text(
        json.dumps({**engine, **config}, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
