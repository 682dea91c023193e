"""The `augment` section of a recipe: a list of steps, each with the settings of its method.

Steps are told apart by `method` (a pydantic discriminated union, like the task section), so a
setting of another method (`pivot` on a synonym step) is an error instead of a silent no-op. The
same classes validate `toolkit augment`'s command-line options.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union, get_args

from pydantic import Field, model_validator

from toolkit.recipe.section import Section


class StepCommon(Section):
    """Settings every method has."""

    n: int = Field(1, ge=1, le=20, description="Variants made per training row.")
    targets: bool = Field(
        False,
        description="Generation prompt-completion / text-to-text: also augment the completion "
        "(by default only the input side is edited). Ignored by other tasks' fixed rules.",
    )
    filter_model: str | None = Field(
        None,
        description="Classification: a trained classifier (run dir or checkpoint); variants "
        "whose label it predicts differently from the row's label are dropped.",
    )
    trust_remote_code: bool = Field(
        False,
        description="Let transformers run the Python code this step's checkpoints ship (an "
        "auto_map in config.json or tokenizer_config.json): model, forward_model/backward_model, "
        "filter_model. Off: such a checkpoint is refused, never run or prompted about. The "
        "recipe's model.trust_remote_code does not extend to augmentation models.",
    )


class WordStep(StepCommon):
    """Word-level edits: WordNet synonym swap, EDA's random swap/deletion/insertion, typos."""

    method: Literal["synonym", "swap", "delete", "insert", "typo"] = Field(
        description="synonym: WordNet synonym swap; swap/delete/insert: EDA operations; "
        "typo: character typos (keyboard neighbours, swapped/dropped/doubled letters)."
    )
    p: float = Field(0.15, gt=0, le=1, description="Share of the words each variant changes.")
    protect: list[str] = Field(
        [], description="Words or phrases never edited (case-insensitive), e.g. product names."
    )


class BackTranslationStep(StepCommon):
    """Translate to a pivot language and back."""

    method: Literal["back_translation"] = Field(description="Round trip through a pivot language.")
    engine: Literal["apertium", "neural"] = Field(
        "apertium",
        description="apertium: rule-based, offline (Debian apertium + apertium-eng-spa); "
        "neural: a seq2seq checkpoint pair (forward_model, backward_model).",
    )
    source_lang: str = Field("en", description="Language of the text (ISO 639-1, e.g. en).")
    pivot: str = Field("es", description="Pivot language (ISO 639-1, e.g. es).")
    forward_model: str | None = Field(
        None, description="Neural: source→pivot checkpoint, e.g. Helsinki-NLP/opus-mt-en-es."
    )
    backward_model: str | None = Field(
        None, description="Neural: pivot→source checkpoint, e.g. Helsinki-NLP/opus-mt-es-en."
    )
    batch_size: int = Field(32, ge=1, description="Neural: sentences per generate call.")
    num_beams: int = Field(1, ge=1, le=16, description="Neural: beam width (1: greedy).")
    max_length: int = Field(256, ge=8, le=4096, description="Neural: longest translation, tokens.")
    backend: Literal["auto", "ctranslate2", "transformers"] = Field(
        "auto",
        description="Neural: ctranslate2 runs the same checkpoints converted once (cached), "
        "several times faster than transformers' generate on CPU; auto uses it when the "
        "architecture converts, else transformers.",
    )
    int8: bool = Field(
        False,
        description="Neural, ctranslate2 backend: int8 weights, about 1.7x faster again on CPU, "
        "translations slightly different.",
    )

    @model_validator(mode="after")
    def _models_for_neural(self) -> BackTranslationStep:
        if self.source_lang == self.pivot:
            raise ValueError("pivot must differ from source_lang")
        if self.engine == "neural" and not (self.forward_model and self.backward_model):
            raise ValueError("engine neural needs forward_model and backward_model")
        if self.engine == "apertium" and (self.forward_model or self.backward_model):
            raise ValueError("forward_model/backward_model are for engine: neural")
        if self.int8 and self.backend == "transformers":
            raise ValueError("int8 needs backend: ctranslate2 (or auto)")
        return self


class ContextualStep(StepCommon):
    """Contextual word substitution with a BERT-family checkpoint."""

    method: Literal["contextual"] = Field(description="Contextual word substitution.")
    p: float = Field(0.15, gt=0, le=1, description="Share of the words each variant changes.")
    model: str = Field(
        "assets/all-MiniLM-L6-v2",
        description="A masked LM (fills masked words) or a sentence encoder without an MLM head "
        "(ranks WordNet synonyms by how little they move the sentence embedding).",
    )
    top_k: int = Field(10, ge=1, le=100, description="Candidates considered per word.")
    batch_size: int = Field(64, ge=1, description="Sentences per forward pass.")
    protect: list[str] = Field([], description="Words or phrases never edited (case-insensitive).")


STEP_SECTIONS = (WordStep, BackTranslationStep, ContextualStep)
AugmentStep = Annotated[Union[STEP_SECTIONS], Field(discriminator="method")]  # noqa: UP007


def method_names() -> list[str]:
    return [
        name for step in STEP_SECTIONS for name in get_args(step.model_fields["method"].annotation)
    ]


def step_section_for(method: str) -> type[Section] | None:
    return next(
        (s for s in STEP_SECTIONS if method in get_args(s.model_fields["method"].annotation)), None
    )


def step_keys() -> list[tuple[str, list[tuple[str, Any, str]]]]:
    """(methods, [(key, default, description)]): the keys every step has, then each class's
    own, for `toolkit augment --help` (the method itself is `--method`, so left out)."""

    def keys(section: type[Section], skip: set[str]) -> list[tuple[str, Any, str]]:
        fields = section.model_fields.items()
        return [(k, f.default, f.description or "") for k, f in fields if k not in skip]

    common = set(StepCommon.model_fields)
    groups = [("every method", keys(StepCommon, set()))]
    for step in STEP_SECTIONS:
        names = ", ".join(get_args(step.model_fields["method"].annotation))
        groups.append((names, keys(step, common | {"method"})))
    return groups
