"""What `toolkit report` reads from a run directory, and the rows it picks to show (no HTML here).

A run directory holds metrics.json and recipe.yaml (else it is refused), and usually log.jsonl,
predictions/test.jsonl and model/config.json; each prediction layout is told apart by its keys
(see each task's `postprocess`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError

SAMPLE_FIELDS = {
    "translation": ("source", "reference", "prediction"),
    "generation": ("prompt", "reference", "generated"),
    "pretraining": ("input", "target", "predicted"),
}


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ToolkitError(f"{path}:{number}: not a json line ({exc.msg})") from None
    return records


def load_run(run_dir: Path) -> dict[str, Any]:
    import yaml

    missing = [n for n in ("metrics.json", "recipe.yaml") if not (run_dir / n).is_file()]
    if not run_dir.is_dir() or missing:
        lacks = "is not a directory" if not run_dir.is_dir() else f"has no {', '.join(missing)}"
        raise ToolkitError(f"{run_dir}: not a run directory ({lacks})")
    try:
        metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
        recipe_text = (run_dir / "recipe.yaml").read_text(encoding="utf-8")
        recipe = yaml.safe_load(recipe_text)
        config_file = run_dir / "model" / "config.json"
        config = (
            json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
        )
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ToolkitError(
            f"{run_dir}: unreadable metrics, recipe or model config ({exc})"
        ) from None
    if not isinstance(metrics, dict) or not isinstance(recipe, dict):
        raise ToolkitError(f"{run_dir}: metrics.json and recipe.yaml must each hold a mapping")
    predictions = [
        r for r in read_jsonl(run_dir / "predictions" / "test.jsonl") if isinstance(r, dict)
    ]
    return {
        "dir": run_dir, "metrics": metrics, "recipe": recipe, "recipe_text": recipe_text,
        "config": config if isinstance(config, dict) else {},
        "log": [r for r in read_jsonl(run_dir / "log.jsonl") if isinstance(r, dict)],
        "predictions": predictions, "kind": record_kind(predictions),
    }  # fmt: skip


def record_kind(records: list[dict]) -> str:
    keys = set(records[0]) if records else set()
    if "probabilities" in keys or {"label", "prediction"} <= keys:
        return "classification"
    if "answers" in keys:
        return "qa"
    return next((kind for kind, f in SAMPLE_FIELDS.items() if set(f) <= keys), "other")


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def interval(scores: dict, key: str) -> tuple[float, float] | None:
    """A confidence interval recorded as `KEY_ci: [lo, hi]` (or `{low, high}`, or `ci: {KEY}`)."""
    nested = scores.get("ci") if isinstance(scores.get("ci"), dict) else {}
    value = scores.get(f"{key}_ci", nested.get(key))
    if isinstance(value, dict):
        value = [value.get("low", value.get("lo")), value.get("high", value.get("hi"))]
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(map(is_number, value)):
        return float(value[0]), float(value[1])
    return None


def confusion_counts(records: list[dict]) -> tuple[list[list[int]], list[str]]:
    """Rows gold, columns predicted; labels in the model's order, then any others seen."""
    first = records[0].get("probabilities") if records else None
    seen = [str(r.get(k)) for r in records for k in ("label", "prediction")]
    labels = list(dict.fromkeys([*(first if isinstance(first, dict) else {}), *seen]))
    index = {label: i for i, label in enumerate(labels)}
    matrix = [[0] * len(labels) for _ in labels]
    for r in records:
        matrix[index[str(r.get("label"))]][index[str(r.get("prediction"))]] += 1
    return matrix, labels


def _score(record: dict) -> float:
    return float(record["score"]) if is_number(record.get("score")) else 0.0


def worst_errors(records: list[dict], kind: str, limit: int) -> tuple[str, list[str], list[list]]:
    """(what is shown, column names, rows): classification, its most confident mistakes; QA,
    answers matching no gold answer; others, the lowest per-example scores if recorded."""
    if kind == "classification":
        wrong = [r for r in records if str(r.get("label")) != str(r.get("prediction"))]
        wrong.sort(key=_score, reverse=True)
        lead = f"{len(wrong)} of {len(records)} test rows wrong; the most confident mistakes first"
        rows = [
            [r.get("text", ""), r.get("label"), r.get("prediction"), r.get("score")] for r in wrong
        ]
        return lead, ["text", "gold", "predicted", "confidence"], rows[:limit]
    if kind == "qa":
        from toolkit.metrics import normalize_answer

        def golds(r: dict) -> list[str]:
            return [str(a) for a in r.get("answers") or []]

        wrong = [
            r for r in records
            if normalize_answer(str(r.get("prediction") or ""))
            not in {normalize_answer(a) for a in golds(r) or [""]}
        ]  # fmt: skip
        wrong.sort(key=_score, reverse=True)
        lead = f"{len(wrong)} of {len(records)} test questions match no gold answer"
        rows = [
            [r.get("question", ""), " | ".join(golds(r)) or "(no answer)",
             r.get("prediction") or "(no answer)"]
            for r in wrong[:limit]
        ]  # fmt: skip
        return lead, ["question", "gold answers", "predicted"], rows
    scored = sorted((r for r in records if is_number(r.get("score"))), key=_score)
    if not scored:
        return "no per-example score recorded for this task: see the samples", [], []
    fields = [k for k in scored[0] if k != "score"]
    rows = [[r.get(k, "") for k in fields] + [r["score"]] for r in scored[:limit]]
    return "the lowest-scoring test examples", [*fields, "score"], rows


def explain_inputs(run: dict) -> tuple[str, str | None] | None:
    """(text, question) of the first test row: a classification text, or a QA row's context
    and question from splits/test.jsonl; None for other tasks."""
    records = run["predictions"]
    if run["kind"] == "classification" and isinstance(records[0].get("text"), str):
        return records[0]["text"], None
    if run["kind"] == "qa":
        task = run["recipe"].get("task") or {}
        rows = read_jsonl(run["dir"] / "splits" / "test.jsonl")[:1]
        context, question = (
            rows[0].get(task.get(k, d)) if rows else None
            for k, d in (("context_column", "context"), ("question_column", "question"))
        )
        if isinstance(context, str) and isinstance(question, str):
            return context, question
    return None
