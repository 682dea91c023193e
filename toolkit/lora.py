"""LoRA and QLoRA through peft: the recipe's `peft` section, adapter run directories, merging.

A peft run trains low-rank adapters on the family's attention projections (`Family.lora_targets`,
or `peft.target_modules`) plus the task head in full; everything else stays as the checkpoint
has it. Its `model/` holds the adapter (adapter_config.json, adapter_model.safetensors), the
tokenizer and the base config with the head settings (label names); `toolkit eval` loads the base
named in adapter_config.json plus the adapter, and `toolkit merge` folds the adapter in and writes
a full model any transformers Auto class loads. `model.freeze_*` is refused with a peft section:
the base is frozen anyway. QLoRA trains the same adapters on a 4-bit base; eval and merge load
the base in full precision.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import ToolkitError
from toolkit.tasks.base import HeadKind

if TYPE_CHECKING:
    from toolkit.models import Family, LoadedModel
    from toolkit.recipe.schema import Recipe
    from toolkit.tasks.base import Head

# Heads a task adds on top of the checkpoint: new weights, so they train in full with the adapter.
HEAD_MODULES = ("classifier", "pre_classifier", "score", "classification_head", "qa_outputs")
QLORA_NEEDS = (
    "peft.method qlora needs a CUDA GPU and the bitsandbytes package (pip install bitsandbytes); "
    "use method: lora on CPU"
)


def check_peft(recipe: Recipe, model_type: str, family: Family, head: Head) -> None:
    """Preflight, before any data, weights or files: refuse what a peft run cannot do."""
    settings = recipe.peft
    if settings.method == "qlora" and not qlora_available():
        raise ToolkitError(QLORA_NEEDS)
    if recipe.model.freeze_layers or recipe.model.freeze_embeddings:
        raise ToolkitError(
            "model.freeze_layers/freeze_embeddings: with a peft section the base model is frozen "
            "already (only the adapters and the task head train); drop them"
        )
    if head.kind is HeadKind.BERT2BERT:
        raise ToolkitError(
            "peft: text-to-text on an encoder builds a bert2bert model whose cross-attention "
            "starts from random weights, which a frozen base cannot learn; drop the peft section "
            "or use a T5- or GPT-2-family checkpoint"
        )
    if settings.target_modules is None and not family.lora_targets:
        raise ToolkitError(
            f"peft.target_modules: no default LoRA targets for {model_type!r} models; list the "
            "names of the linear layers to adapt"
        )


def qlora_available() -> bool:
    import importlib.util

    import torch

    return torch.cuda.is_available() and importlib.util.find_spec("bitsandbytes") is not None


def load_options(recipe: Recipe) -> dict[str, Any]:
    """Extra from_pretrained arguments for the base model: QLoRA's 4-bit NF4 quantization."""
    if recipe.peft is None or recipe.peft.method != "qlora":
        return {}
    import torch
    from transformers import BitsAndBytesConfig

    compute = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    quantization = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute,
    )
    return {"quantization_config": quantization}


def apply_peft(loaded: LoadedModel, recipe: Recipe) -> None:
    """Wrap `loaded.model` in a peft LoRA model as the recipe says; prints the trainable count."""
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    from toolkit.console import console

    settings, model = recipe.peft, loaded.model
    targets = list(settings.target_modules or loaded.family.lora_targets)
    check_targets(model, targets)
    heads = [name for name, _ in model.named_children() if name in HEAD_MODULES]
    names = [name for name, _ in model.named_modules()]
    for extra in settings.modules_to_save:
        if not any(name.endswith(extra) for name in names):
            raise ToolkitError(f"peft.modules_to_save: {extra!r} matches no module of the model")
    if settings.method == "qlora":
        model = prepare_model_for_kbit_training(model)
    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=targets,
        modules_to_save=[*heads, *settings.modules_to_save] or None,
        task_type=task_type(model),
        fan_in_fan_out=any(is_conv1d(module) for module in matching(model, targets)),
        revision=recipe.model.revision,
    )
    try:
        with quiet_peft():
            wrapped = get_peft_model(model, config)
    except ValueError as exc:  # anything check_targets let through
        raise ToolkitError(f"peft: {str(exc).strip().splitlines()[0][:300]}") from None
    # eval and merge find the base here: make a local directory absolute, so they work from any cwd
    wrapped.peft_config["default"].base_model_name_or_path = base_reference(recipe.model.name)
    loaded.model = wrapped
    trainable, total = wrapped.get_nb_trainable_parameters()
    trained_in_full = ", ".join([*heads, *settings.modules_to_save]) or "nothing"
    console.print(
        f"[bold]peft[/] {settings.method} r={settings.r} alpha={settings.alpha} "
        f"dropout={settings.dropout} on {', '.join(targets)}; trained in full: {trained_in_full}; "
        f"{trainable:,} of {total:,} parameters trainable ({100 * trainable / total:.2f}%)"
    )


def task_type(model: Any) -> str | None:
    """peft's task type for a transformers head class (None: a plain PeftModel, e.g. masked LM)."""
    name = type(model).__name__
    heads = {"SequenceClassification": "SEQ_CLS", "QuestionAnswering": "QUESTION_ANS"}
    if name.partition("For")[2] in heads:
        return heads[name.partition("For")[2]]
    if getattr(model.config, "is_encoder_decoder", False):
        return "SEQ_2_SEQ_LM"
    return "CAUSAL_LM" if name.endswith(("ForCausalLM", "LMHeadModel")) else None


@contextmanager
def quiet_peft() -> Iterator[None]:
    """peft 0.21 asks transformers 5 a deprecated question on every wrap; hide the warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*is_gradient_checkpointing", FutureWarning)
        yield


def adaptable(module: Any) -> bool:
    """Layers peft's LoRA can wrap (bitsandbytes' 4-bit Linear is an nn.Linear too)."""
    import torch

    kinds = (torch.nn.Linear, torch.nn.Embedding, torch.nn.Conv1d, torch.nn.Conv2d)
    return isinstance(module, kinds) or is_conv1d(module)


def is_conv1d(module: Any) -> bool:  # GPT-2's transposed linear layer
    from transformers.pytorch_utils import Conv1D

    return isinstance(module, Conv1D)


def matching(model: Any, targets: list[str]) -> list[Any]:
    """Modules a target list selects, with peft's rule: the full name or a dotted suffix."""
    return [
        module
        for name, module in model.named_modules()
        if any(name == t or name.endswith("." + t) for t in targets)
    ]


def check_targets(model: Any, targets: list[str]) -> None:
    """Every target must name at least one module, and only layers LoRA can adapt."""
    modules = model.named_modules()
    layers = [
        n.rsplit(".", 1)[-1]
        for n, m in modules
        if adaptable(m) and n.split(".")[0] not in HEAD_MODULES
    ]
    known = f"its adaptable layers are named: {', '.join(list(dict.fromkeys(layers))[:16])}"
    for target in targets:
        found = matching(model, [target])
        if not found:
            raise ToolkitError(f"peft.target_modules: {target!r} matches no module; {known}")
        wrong = sorted({type(m).__name__ for m in found if not adaptable(m)})
        if wrong:
            raise ToolkitError(
                f"peft.target_modules: {target!r} names {', '.join(wrong)} modules, not layers "
                f"LoRA can adapt; {known}"
            )


def base_reference(name: str) -> str:
    path = Path(name).expanduser()
    return str(path.resolve()) if path.is_dir() else name


def save_head_config(model: Any, folder: Path) -> None:
    """Beside the adapter: the base config with the head settings (label names) it trained with."""
    model.get_base_model().config.save_pretrained(str(folder))


def load_run_model(
    model_dir: Path, head_for: Callable[[Family], Head], source: dict[str, Any] | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:  # fmt: skip
    """A run's model: a full checkpoint, or the base of adapter_config.json plus the adapter
    (`source`, the recipe's revision/gguf_file, helps find that base; `trust_remote_code`, the
    recipe's model.trust_remote_code)."""
    from toolkit.checkpoint_files import ADAPTER_PATTERNS, reading_weights
    from toolkit.models import load_for_task, load_tokenizer

    model_dir, trust = Path(model_dir), {"trust_remote_code": trust_remote_code}
    if not (model_dir / "adapter_config.json").is_file():
        return load_for_task(str(model_dir), head_for, {}, **trust)
    adapter = json.loads((model_dir / "adapter_config.json").read_text(encoding="utf-8"))
    base = adapter.get("base_model_name_or_path")
    if not base:
        raise ToolkitError(f"{model_dir}/adapter_config.json: no base_model_name_or_path")
    origin = {k: v for k, v in (source or {}).items() if k == "gguf_file"}
    if adapter.get("revision"):
        origin["revision"] = adapter["revision"]
    try:
        settings = head_settings(model_dir, trust_remote_code)
        loaded = load_for_task(base, head_for, settings, source=origin, **trust)
    except ToolkitError as exc:
        raise ToolkitError(
            f"{model_dir}: cannot load the adapter's base model {base!r} (adapter_config.json "
            f"base_model_name_or_path): {exc}"
        ) from None
    from peft import PeftModel

    with quiet_peft(), reading_weights(model_dir, ADAPTER_PATTERNS):
        loaded.model = PeftModel.from_pretrained(loaded.model, str(model_dir))
    loaded.tokenizer = load_tokenizer(str(model_dir), loaded.family, **trust)
    return loaded


def head_settings(model_dir: Path, trust_remote_code: bool = False) -> dict[str, Any]:
    """Label names saved beside the adapter (see save_head_config)."""
    from toolkit.models import load_config

    if not (model_dir / "config.json").is_file():
        return {}
    saved = load_config(str(model_dir), trust_remote_code=trust_remote_code)
    return {"id2label": saved.id2label, "label2id": saved.label2id}


def merge_run(run_dir: Path, out_dir: Path | None = None, overwrite: bool = False) -> Path:
    """`toolkit merge`: base + adapter folded into one full model (with the tokenizer) in
    `out_dir` (default `<run>/merged`), written beside it first and moved into place whole."""
    from toolkit.recipe.load import load_recipe
    from toolkit.rundir import RunDir
    from toolkit.tasks.registry import task_for

    run = RunDir(run_dir)
    model_dir, recipe_file = run.open()
    if not (model_dir / "adapter_config.json").is_file():
        raise ToolkitError(
            f"{run.path}: not a peft run (no {model_dir}/adapter_config.json); its model is a "
            "full model already"
        )
    target = RunDir(out_dir if out_dir is not None else run.path / "merged", key="--out")
    with target.claim(merge_inputs(run.path, model_dir), overwrite, kind="merge"):
        recipe = load_recipe(recipe_file)
        loaded = load_run_model(
            model_dir, task_for(recipe).head, recipe.model.source(), recipe.model.trust_remote_code
        )
        merged = loaded.model.merge_and_unload()
        staging = target.start_staging(None, kind="merge")
        try:
            merged.save_pretrained(str(staging.path))
            loaded.tokenizer.save_pretrained(str(staging.path))
        except BaseException:
            shutil.rmtree(staging.path, ignore_errors=True)
            raise
        target.publish()  # an old out_dir is removed only after the swap
    return target.path


def merge_inputs(run: Path, model_dir: Path) -> dict[str, Path]:
    """What a merged model is never written over: the run, and the adapter's local base."""
    adapter = json.loads((model_dir / "adapter_config.json").read_text(encoding="utf-8"))
    base = adapter.get("base_model_name_or_path")
    found = {"the run": run}
    if isinstance(base, str) and base and Path(base).expanduser().is_dir():
        found["the adapter's base model"] = Path(base).expanduser()
    return found
