"""Question-answering rows: reading SQuAD answers, refusing rows the task cannot use (answers
that are not where answer_start says, questions or prompts too long to fit), and the report's
view of the wrong answers."""

from __future__ import annotations

import json
from textwrap import shorten
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from toolkit import metrics
from toolkit.data import require_text, where_row, where_rows
from toolkit.errors import ToolkitError
from toolkit.tasks.base import ReportPieces
from toolkit.tasks.report_pieces import score_of

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase

    from toolkit.tasks.base import Record

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


class AnswerColumns(Protocol):
    """What the row checks read of the task's settings (QuestionAnsweringSettings)."""

    question_column: str
    context_column: str
    answers_column: str
    allow_no_answer: bool


def bad_answer_rows(table: Dataset, where: str, s: AnswerColumns) -> list[int]:
    """Rows whose answers do not sit where answer_start says; other faults raise at once."""
    require_text(table, s.question_column, where)
    require_text(table, s.context_column, where)
    bad = []
    for row, (context, raw) in enumerate(zip(table[s.context_column], table[s.answers_column])):
        answers = checked_answers(raw, where, row)
        if not answers["text"] and not s.allow_no_answer:
            raise ToolkitError(
                f"{where_row(where, row)}: no gold answer; for SQuAD v2-style data set "
                "task.allow_no_answer: true"
            )
        spans = zip(answers["text"], answers["answer_start"])
        if not all(points_at(str(context), text, start) for text, start in spans):
            bad.append(row)
    return bad


def report_pieces(
    records: list[Record], rows: list[dict], context_column: str, question_column: str
) -> ReportPieces:
    """Answers matching no gold answer, the most confident first; the first test row's context
    and question to explain, with its gold answers."""

    def golds(r: Record) -> list[str]:
        return [str(a) for a in r.get("answers") or []]

    wrong = [
        r for r in records
        if metrics.normalize_answer(str(r.get("prediction") or ""))
        not in {metrics.normalize_answer(a) for a in golds(r) or [""]}
    ]  # fmt: skip
    wrong.sort(key=score_of, reverse=True)
    lead = f"{len(wrong)} of {len(records)} test questions match no gold answer"
    errors = [
        [r.get("question", ""), " | ".join(golds(r)) or "(no answer)",
         r.get("prediction") or "(no answer)"]
        for r in wrong
    ]  # fmt: skip
    context, question = (rows[0].get(k) if rows else None
                         for k in (context_column, question_column))  # fmt: skip
    pair = (context, question) if isinstance(context, str) and isinstance(question, str) else None
    gold = " | ".join(golds(records[0])) or "(no answer)" if records else None
    return ReportPieces(lead, ["question", "gold answers", "predicted"], errors, explain=pair,
                        explain_gold=gold)  # fmt: skip
