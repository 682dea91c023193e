"""Question answering on SQuAD-format data (v1, and v2 with `allow_no_answer`), on every family.

Encoders (BERT) and decoders (GPT-2, Llama) answer extractively: a start/end head runs over
overlapping windows of the context and `toolkit.qa_postprocess` maps its logits back to a span.
T5 answers generatively: `question: ... context: ...` in, the answer text out. Both are scored
with SQuAD exact match and token F1.
"""

from __future__ import annotations

import contextlib
import json
from textwrap import shorten
from typing import Any

import numpy as np

from toolkit import metrics
from toolkit.data import require_text
from toolkit.errors import ToolkitError
from toolkit.qa_postprocess import postprocess, prepare_features
from toolkit.tasks import register
from toolkit.tasks import text_to_text as t2t

NO_ANSWER = "unanswerable"  # T5's target for a question without an answer (SQuAD v2)
MIN_WINDOW_STEP = 8  # context tokens each window must move past the stride overlap
LABELS = ("start_positions", "end_positions")
SHOWN_ROWS = 5


@register("question-answering", "qa")
class QuestionAnswering:
    """Extractive QA on encoders and decoders, generative QA on encoder-decoders."""

    metric_names = ("loss",)
    compute_metrics = None  # validation reports the loss; EM/F1 need the full post-processing

    def __init__(self, recipe: Any):
        self.settings = recipe.task
        self.generative = False

    @property
    def columns(self) -> list[str]:
        s = self.settings
        return [s.question_column, s.context_column, s.answers_column]

    def head(self, family: Any) -> str:
        """A span head where the family has one (GPT-2 and Llama do); T5 generates the answer."""
        self.generative = family.kind == "encoder-decoder"
        return "AutoModelForSeq2SeqLM" if self.generative else "AutoModelForQuestionAnswering"

    def from_model(self, config: Any) -> None:
        self.generative = bool(getattr(config, "is_encoder_decoder", False))

    def model_config(self) -> dict[str, Any]:
        return {}

    def prepare(self, splits: Any) -> None:
        """Check every split; drop rows whose answer_start is off when the recipe says so."""
        from toolkit.report import console

        for split in ("train", "validation", "test"):
            where, table = f"data.{split}", getattr(splits, split)
            bad = self.bad_answer_rows(table, where)
            if not bad:
                continue
            if self.settings.bad_answer_rows == "refuse":
                raise ToolkitError(bad_answers_message(where, bad, len(table)))
            if len(bad) == len(table):
                raise ToolkitError(f"{where}: no row has an answer_start matching its answer")
            dropped = set(bad)
            setattr(splits, split, table.select([r for r in range(len(table)) if r not in dropped]))
            console.print(
                f"{where}: dropped {len(bad)} of {len(table)} rows, whose answer_start does not "
                "point at their answer text"
            )

    def check_rows(self, table: Any, where: str) -> None:
        """Refuse rows `prepare` would refuse or drop: eval must score against sound answers."""
        bad = self.bad_answer_rows(table, where)
        if bad:
            raise ToolkitError(bad_answers_message(where, bad, len(table)))

    def bad_answer_rows(self, table: Any, where: str) -> list[int]:
        """Rows whose answers do not sit where answer_start says; other faults raise at once."""
        s = self.settings
        require_text(table, s.question_column, where)
        require_text(table, s.context_column, where)
        bad = []
        for row, (context, raw) in enumerate(zip(table[s.context_column], table[s.answers_column])):
            answers = checked_answers(raw, where, row)
            if not answers["text"] and not s.allow_no_answer:
                raise ToolkitError(
                    f"{where} row {row}: no gold answer; for SQuAD v2-style data set "
                    "task.allow_no_answer: true"
                )
            spans = zip(answers["text"], answers["answer_start"])
            if not all(points_at(str(context), text, start) for text, start in spans):
                bad.append(row)
        return bad

    def preprocess(self, batch: dict[str, list], tokenizer: Any) -> dict[str, list]:
        """Windows with span labels (extractive), or prompt/answer token ids (generative)."""
        s = self.settings
        questions = [str(q) for q in batch[s.question_column]]
        contexts = [str(c) for c in batch[s.context_column]]
        answers = [answers_of(a) for a in batch[s.answers_column]]
        if self.generative:
            prompts = [qa_prompt(q, c) for q, c in zip(questions, contexts)]
            check_prompt_lengths(tokenizer, prompts, questions, s.max_length)
            targets = [a["text"][0] if a["text"] else NO_ANSWER for a in answers]
            limit = s.generation.max_new_tokens  # a longer target could never be generated
            return t2t.encode_pairs(tokenizer, False, prompts, targets, s.max_length, limit)
        if not getattr(tokenizer, "is_fast", False):
            raise ToolkitError("model.name: extractive QA needs a fast tokenizer (for offsets)")
        check_question_lengths(tokenizer, questions, s.max_length, s.stride)
        features = prepare_features(tokenizer, questions, contexts, s.max_length, s.stride, answers)
        features["length"] = [len(ids) for ids in features["input_ids"]]
        return features

    def collator(self, tokenizer: Any) -> Any:
        return t2t.collator(tokenizer) if self.generative else SpanCollator(tokenizer)

    def predict(
        self, loaded: Any, table: Any, tokenized: Any, batch_size: int, precision: str
    ) -> dict[str, list]:
        """Answer every question of `table`; returns questions, gold answers, predictions."""
        s = self.settings
        rows = table[:]
        questions, contexts = rows[s.question_column], rows[s.context_column]
        outputs = {
            "questions": questions,
            "golds": [answers_of(a)["text"] for a in rows[s.answers_column]],
        }
        if self.generative:
            outputs["predictions"] = self.generate(loaded, questions, contexts, batch_size)
            return outputs
        features = self.global_features(tokenized, rows, loaded.tokenizer)
        starts, ends = span_logits(loaded.model, loaded.tokenizer, features, batch_size, precision)
        answers = postprocess(
            starts, ends, features, contexts, n_best=s.n_best,
            max_answer_length=s.max_answer_length,
            null_threshold=s.null_threshold if s.allow_no_answer else None,
        )  # fmt: skip
        outputs["predictions"] = [answer["prediction_text"] for answer in answers]
        outputs["scores"] = [finite(answer["score"]) for answer in answers]
        return outputs

    def global_features(self, tokenized: Any, rows: dict[str, list], tokenizer: Any) -> dict:
        """The features as columns, with `example_id` counting over the whole split.

        A batched map numbers examples from 0 in every batch; a new example starts wherever the
        id changes. Only batches of a single row defeat that, and then we tokenize again.
        """
        features = tokenized[:]  # plain lists: indexing a Dataset column row by row is slow
        example_ids = np.cumsum(np.diff(features["example_id"], prepend=-1) != 0) - 1
        if example_ids.size and example_ids[-1] + 1 == len(rows[self.settings.question_column]):
            features["example_id"] = example_ids.tolist()
            return features
        return self.preprocess(rows, tokenizer)  # one call over all rows: ids are global

    def generate(
        self, loaded: Any, questions: list[str], contexts: list[str], batch_size: int
    ) -> list[str]:
        from toolkit.generation import generate_batched

        s = self.settings
        texts = generate_batched(
            loaded.model, loaded.tokenizer, [qa_prompt(q, c) for q, c in zip(questions, contexts)],
            max_new_tokens=s.generation.max_new_tokens, num_beams=s.generation.num_beams,
            batch_size=batch_size, max_input_length=s.max_length,
        )  # fmt: skip
        if not s.allow_no_answer:
            return texts
        return ["" if text.strip().lower() == NO_ANSWER else text for text in texts]

    def score(self, outputs: dict, tokenized: Any) -> dict[str, Any]:
        """SQuAD exact match and F1 (0-100), each the best over a question's gold answers."""
        return metrics.squad_metrics(outputs["predictions"], outputs["golds"])

    def postprocess(self, outputs: dict, table: Any) -> list[dict[str, Any]]:
        """One record per question: the question, its gold answers, the prediction (and score)."""
        records = [
            {"question": q, "answers": list(golds), "prediction": p}
            for q, golds, p in zip(outputs["questions"], outputs["golds"], outputs["predictions"])
        ]
        for record, score in zip(records, outputs.get("scores", ())):
            record["score"] = score  # start + end logit; generation has no comparable score
        return records


class SpanCollator:
    """Pads the model inputs and span labels of each window on the right, since the labels are
    positions in the unpadded sequence; bookkeeping columns (offsets, example ids) are dropped."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.keep = {*tokenizer.model_input_names, *LABELS}

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, Any]:
        kept = [{k: v for k, v in feature.items() if k in self.keep} for feature in features]
        return self.tokenizer.pad(kept, padding=True, return_tensors="pt", padding_side="right")


def span_logits(
    model: Any, tokenizer: Any, features: dict, batch_size: int, precision: str
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Start and end logits of every window, unpadded, in the features' order.

    Windows are batched longest first, so each batch pads to nearly its own length.
    """
    import torch

    model.eval()
    device = next(model.parameters()).device
    pad = SpanCollator(tokenizer)
    names = [name for name in features if name in pad.keep and name not in LABELS]
    lengths = [len(ids) for ids in features["input_ids"]]
    order = np.argsort(lengths, kind="stable")[::-1].tolist()
    starts: list[np.ndarray] = [None] * len(order)  # type: ignore[list-item]
    ends: list[np.ndarray] = [None] * len(order)  # type: ignore[list-item]
    with torch.inference_mode():
        for begin in range(0, len(order), batch_size):
            rows = order[begin : begin + batch_size]
            batch = pad([{name: features[name][row] for name in names} for row in rows])
            with autocast(device, precision):
                output = model(**{key: value.to(device) for key, value in batch.items()})
            start, end = (x.float().cpu().numpy() for x in (output.start_logits, output.end_logits))
            for i, row in enumerate(rows):
                starts[row], ends[row] = start[i, : lengths[row]], end[i, : lengths[row]]
    return starts, ends


def autocast(device: Any, precision: str) -> Any:
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
    return torch.autocast(device.type, dtype=dtype) if dtype else contextlib.nullcontext()


def qa_prompt(question: str, context: str) -> str:
    return f"question: {question.strip()} context: {context.strip()}"


def answers_of(raw: Any) -> dict[str, list]:
    """The SQuAD answers dict of a row; csv files hold it as a JSON string."""
    return json.loads(raw) if isinstance(raw, str) else raw


def checked_answers(raw: Any, where: str, row: int) -> dict[str, list]:
    """`answers_of`, refusing anything that is not {text: [...], answer_start: [...]}."""
    try:
        answers = answers_of(raw)
    except ValueError:
        raise ToolkitError(f"{where} row {row}: answers is not valid JSON ({raw[:60]!r})") from None
    if (
        not isinstance(answers, dict)
        or not isinstance(answers.get("text"), list)
        or not isinstance(answers.get("answer_start"), list)
        or len(answers["text"]) != len(answers["answer_start"])
    ):
        raise ToolkitError(
            f"{where} row {row}: answers must be {{text: [...], answer_start: [...]}} with one "
            f"start per text (got {str(raw)[:60]!r})"
        )
    return answers


def points_at(context: str, text: Any, start: Any) -> bool:
    """Whether `text` is a non-blank answer found in `context` at character `start`."""
    if not isinstance(text, str) or not text.strip() or isinstance(start, bool):
        return False
    is_index = isinstance(start, (int, np.integer)) and start >= 0
    return is_index and context[start : start + len(text)] == text


def bad_answers_message(where: str, rows: list[int], total: int) -> str:
    shown = ", ".join(map(str, rows[:SHOWN_ROWS])) + (", ..." if len(rows) > SHOWN_ROWS else "")
    return (
        f"{where}: answer_start does not point at the answer text in {len(rows)} of {total} "
        f"rows (rows {shown}); fix them, or set task.bad_answer_rows: drop to skip them"
    )


def check_question_lengths(
    tokenizer: Any, questions: list[str], max_length: int, stride: int
) -> None:
    """Long contexts are split into windows, but every window repeats the whole question: one
    too long leaves the context no room (the tokenizer would panic rather than raise)."""
    specials = tokenizer.num_special_tokens_to_add(pair=True)
    limit = max_length - specials - stride - MIN_WINDOW_STEP
    encoded = tokenizer([q.lstrip() for q in questions], add_special_tokens=False)["input_ids"]
    for question, ids in zip(questions, encoded):
        if len(ids) > limit:
            raise ToolkitError(
                f"task.max_length: the question {shorten(question, 60)!r} is {len(ids)} tokens, "
                f"but {max_length}-token windows with stride {stride} leave room for at most "
                f"{max(limit, 0)}; raise task.max_length, lower task.stride or shorten it"
            )


def check_prompt_lengths(
    tokenizer: Any, prompts: list[str], questions: list[str], max_length: int
) -> None:
    """T5 sees the whole context at once: a prompt cut short could lose the answer, so refuse."""
    lengths = [len(ids) for ids in tokenizer(prompts)["input_ids"]]
    for length, question in zip(lengths, questions):
        if length > max_length:
            raise ToolkitError(
                f"task.max_length: the input of question {shorten(question, 60)!r} is {length} "
                f"tokens, more than {max_length}; raise task.max_length or shorten its context"
            )


def finite(value: float) -> float | None:
    """A JSON-safe score: None for the infinities of an example without any window."""
    return round(float(value), 4) if np.isfinite(value) else None
