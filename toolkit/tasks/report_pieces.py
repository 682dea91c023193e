"""Report pieces several tasks build the same way (called by them; no task inherits them)."""

from __future__ import annotations

from typing import Any

from toolkit.tasks.base import Record, ReportPieces


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def score_of(record: Record) -> float:
    return float(record["score"]) if is_number(record.get("score")) else 0.0


def generated_text(records: list[Record], fields: tuple[str, ...]) -> ReportPieces:
    """Tasks that write text: the lowest-scoring examples when a score is recorded, and the
    records' `fields` as samples."""
    samples = [[r.get(f, "") for f in fields] for r in records]
    scored = sorted((r for r in records if is_number(r.get("score"))), key=score_of)
    if not scored:
        lead = "no per-example score recorded for this task: see the samples"
        return ReportPieces(lead, samples_header=list(fields), samples=samples)
    header = [k for k in scored[0] if k != "score"]
    rows = [[r.get(k, "") for k in header] + [r["score"]] for r in scored]
    return ReportPieces(
        "the lowest-scoring test examples", [*header, "score"], rows, list(fields), samples
    )
