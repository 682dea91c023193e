"""Question-answering rows: reading SQuAD answers, and refusing rows the task cannot use
(answers that are not where answer_start says, questions or prompts too long to fit)."""

from __future__ import annotations

import json
from textwrap import shorten
from typing import TYPE_CHECKING, Any

import numpy as np

from toolkit.data import where_row, where_rows
from toolkit.errors import ToolkitError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

MIN_WINDOW_STEP = 8  # context tokens each window must move past the stride overlap
SHOWN_ROWS = 5


def answers_of(raw: Any) -> dict[str, list]:
    """The SQuAD answers dict of a row; csv files hold it as a JSON string."""
    return json.loads(raw) if isinstance(raw, str) else raw


def checked_answers(raw: Any, where: str, row: int) -> dict[str, list]:
    """`answers_of`, refusing anything that is not {text: [...], answer_start: [...]}."""
    try:
        answers = answers_of(raw)
    except ValueError:
        raise ToolkitError(
            f"{where_row(where, row)}: answers is not valid JSON ({raw[:60]!r})"
        ) from None
    if (
        not isinstance(answers, dict)
        or not isinstance(answers.get("text"), list)
        or not isinstance(answers.get("answer_start"), list)
        or len(answers["text"]) != len(answers["answer_start"])
    ):
        raise ToolkitError(
            f"{where_row(where, row)}: answers must be {{text: [...], answer_start: [...]}} with "
            f"one start per text (got {str(raw)[:60]!r})"
        )
    return answers


def points_at(context: str, text: Any, start: Any) -> bool:
    """Whether `text` is a non-blank answer found in `context` at character `start`."""
    if not isinstance(text, str) or not text.strip() or isinstance(start, bool):
        return False
    is_index = isinstance(start, (int, np.integer)) and start >= 0
    return is_index and context[start : start + len(text)] == text


def bad_answers_message(where: str, rows: list[int], total: int) -> str:
    return (
        f"{where}: answer_start does not point at the answer text in {len(rows)} of {total} "
        f"rows ({where_rows(where, rows, SHOWN_ROWS)}); fix them, or set "
        "task.bad_answer_rows: drop to skip them"
    )


def check_question_lengths(
    tokenizer: PreTrainedTokenizerBase, questions: list[str], max_length: int, stride: int
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
    tokenizer: PreTrainedTokenizerBase, prompts: list[str], questions: list[str], max_length: int
) -> None:
    """T5 sees the whole context at once: a prompt cut short could lose the answer, so refuse."""
    lengths = [len(ids) for ids in tokenizer(prompts)["input_ids"]]
    for length, question in zip(lengths, questions):
        if length > max_length:
            raise ToolkitError(
                f"task.max_length: the input of question {shorten(question, 60)!r} is {length} "
                f"tokens, more than {max_length}; raise task.max_length or shorten its context"
            )
