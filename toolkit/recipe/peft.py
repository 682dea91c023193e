"""The `peft` section of a recipe: LoRA (or QLoRA) adapters on a frozen base model.

Kept apart from schema.py like the augment section; toolkit/lora.py does the work.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from toolkit.recipe.section import Section


class PeftSection(Section):
    """Train low-rank adapters (and the task head) instead of every weight."""

    method: Literal["lora", "qlora"] = Field(
        "lora",
        description="lora: adapters on the full-precision base; qlora: the base loaded in 4-bit "
        "NF4 (needs a CUDA GPU and the bitsandbytes package).",
    )
    r: int = Field(8, ge=1, le=1024, description="LoRA rank: width of each low-rank update.")
    alpha: int = Field(
        16, ge=1, description="LoRA scaling: each update is multiplied by alpha / r."
    )
    dropout: float = Field(0.05, ge=0, lt=1, description="Dropout on the LoRA input path.")
    target_modules: list[str] | None = Field(
        None,
        min_length=1,
        description="Module names (or dotted name suffixes) that get adapters; null: the "
        "family's attention projections (BERT query/value, GPT-2 c_attn, T5 q/v, Llama-style "
        "q_proj/v_proj).",
    )
    modules_to_save: list[str] = Field(
        [],
        description="Further modules trained in full and saved with the adapter; the task head "
        "(classifier, score, classification_head, qa_outputs) always is.",
    )
