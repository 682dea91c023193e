"""What `toolkit explain --faithfulness` leaves behind: the verdict in words, the json and rows
in RUN/eval/ (atomically), and the terminal table."""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.atomic import write_text_atomically
from toolkit.rundir import RunDir


def interval(ci: list[float]) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def verdict(name: str, stats: dict, rows: int) -> str:
    """One sentence: is the method's ranking better than random orderings of the same words?
    (Under MIN_PAIRS rows: too few to conclude, whatever the interval.)"""
    from toolkit.metrics import MIN_PAIRS

    said = "better than random" if stats["better_than_random"] else "NO BETTER THAN RANDOM"
    if rows < MIN_PAIRS:
        said = f"too few rows to conclude ({rows} < {MIN_PAIRS})"
    return (
        f"{name}: {said}: removing its top words drops P(predicted class) by "
        f"{stats['comprehensiveness']:.3f} {interval(stats['comprehensiveness_ci'])}, random "
        f"orders by {stats['random_comprehensiveness']:.3f} "
        f"{interval(stats['random_comprehensiveness_ci'])} (difference "
        f"{stats['comprehensiveness_vs_random']:+.3f} "
        f"{interval(stats['comprehensiveness_vs_random_ci'])}, paired permutation p="
        f"{stats['comprehensiveness_vs_random_p']:.3g}); sufficiency "
        f"{stats['sufficiency']:.3f} vs random {stats['random_sufficiency']:.3f} (lower is better)"
    )


def with_verdicts(result: dict) -> dict:
    """The result with each method's verdict sentence added (`verdict`)."""
    for name, stats in result["methods"].items():
        stats["verdict"] = verdict(name, stats, result["rows"])
    return result


def write(run_dir: Path, result: dict, records: list[dict]) -> Path:
    """eval/faithfulness.json and its per-row records, eval/faithfulness_rows.jsonl."""
    run = RunDir(run_dir)
    run.eval_dir.mkdir(parents=True, exist_ok=True)
    lines = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    write_text_atomically(run.eval_rows("faithfulness", "rows"), lines)
    write_text_atomically(run.faithfulness, json.dumps(result, indent=1) + "\n")
    return run.faithfulness


def show(result: dict) -> None:
    """The table (AOPC with 95% intervals, random orders last) and each method's verdict."""
    from rich.table import Table

    from toolkit.console import console

    table = Table(title=f"faithfulness on {result['rows']} {result['split']} rows (AOPC)")
    for column in ("method", "comprehensiveness ↑", "sufficiency ↓", "vs random (comp.)"):
        table.add_column(column)
    shown = {**result["methods"], "random orders": result["random"]}
    for name, stats in shown.items():
        cells = [f"{stats[k]:.3f} {interval(stats[f'{k}_ci'])}"
                 for k in ("comprehensiveness", "sufficiency")]  # fmt: skip
        key = "comprehensiveness_vs_random"
        extra = f"{stats[key]:+.3f} {interval(stats[f'{key}_ci'])}" if key in stats else ""
        table.add_row(name, *cells, extra)
    console.print(table)
    for stats in result["methods"].values():
        console.print(stats["verdict"], markup=False, highlight=False)
    notes = [f"{result['skipped']} rows of under two words skipped"] if result["skipped"] else []
    notes += [f"{result['truncated']} texts cut to their window"] if result["truncated"] else []
    fractions = ", ".join(f"{f:g}" for f in result["fractions"])
    notes.append(f"top k = ceil(f × words), f in {fractions}; {result['seconds']} s")
    console.print("; ".join(notes), markup=False, highlight=False)
