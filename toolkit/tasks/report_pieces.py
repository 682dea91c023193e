"""Report pieces several tasks build the same way (called by them; no task inherits them)."""

from __future__ import annotations

from typing import Any

from toolkit.tasks.base import Record, ReportPieces

SAMPLES_SHOWN, SAMPLE_SEED = 10, 0


def sample_indices(count: int, shown: int, seed: int = SAMPLE_SEED) -> list[int]:
    """`shown` of range(count) drawn with `seed`, sorted; all of them when there are fewer."""
    import numpy as np

    return sorted(np.random.default_rng(seed).permutation(count)[:shown].tolist())


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def score_of(record: Record) -> float:
    return float(record["score"]) if is_number(record.get("score")) else 0.0


def generated_text(records: list[Record], fields: tuple[str, ...]) -> ReportPieces:
    """Tasks that write text: the lowest-scoring examples when a score is recorded, and the
    records' `fields` as samples: a seeded draw across all of them, in their order (the
    first rows of a split are often one part of its source, e.g. one book)."""
    shown = sample_indices(len(records), SAMPLES_SHOWN)
    samples = [[records[i].get(f, "") for f in fields] for i in shown]
    scored = sorted((r for r in records if is_number(r.get("score"))), key=score_of)
    if not scored:
        lead = "no per-example score recorded for this task: see the samples"
        return ReportPieces(lead, samples_header=list(fields), samples=samples)
    header = [k for k in scored[0] if k != "score"]
    rows = [[r.get(k, "") for k in header] + [r["score"]] for r in scored]
    return ReportPieces(
        "the lowest-scoring test examples", [*header, "score"], rows, list(fields), samples
    )
