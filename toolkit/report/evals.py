"""The report sections of what was evaluated after training: every `toolkit eval` result in
RUN/eval/ (a held-out split again, or a `--data` file), its `--perturb` (robustness) and
`--fairness` results, and the temperature `eval.calibrate` fitted (calibration.json).

An eval json (RunDir.write_eval) holds `source` (the rows' file), the task's metrics with their
`KEY_ci` intervals, and each probe's result under its key (`perturb`, `fairness`). A file that
does not parse is named in the section, not fatal: the rest of the report still shows.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from toolkit.evaluation.certainty import NOTE
from toolkit.report.markup import Num, is_metric, note, number, table, text, with_interval
from toolkit.rundir import RunDir

EVAL_HELP = "see `toolkit eval --help`"


def eval_results(run_dir: Path) -> tuple[dict[str, dict], list[str]]:
    """Each readable eval json by name (its stem), and a note per unreadable one."""
    found, broken = {}, []
    for path in RunDir(run_dir).eval_results():
        try:
            result = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            broken.append(f"{path.name}: unreadable ({type(exc).__name__})")
            continue
        if isinstance(result, dict):
            found[path.stem] = result
        else:
            broken.append(f"{path.name}: not a mapping")
    return found, broken


def metric_rows(scores: dict) -> list[tuple[str, Num]]:
    """(metric, value with its interval) for every scalar metric of one scores mapping."""
    return [
        (key, shown)
        for key, value in scores.items()
        if is_metric(key, value, scores) and (shown := with_interval(scores, key)) is not None
    ]


def evaluations_section(results: dict[str, dict], broken: list[str]) -> str:
    """One table per eval: where its rows came from, then every metric with its interval."""
    parts = [note(line) for line in broken]
    for name, result in results.items():
        rows = metric_rows(result)
        attrs = [f' data-eval="{escape(name)}" data-metric="{escape(key)}"' for key, _ in rows]
        source = result.get("source")
        parts.append(f"<h3>{text(name)}</h3>" + note(f"rows: {source}" if source else "rows: ?"))
        parts.append(table(["metric", "value [95% CI when recorded]"], rows, attrs))
    if not results:
        parts.append(note(f"no `toolkit eval` results in eval/ ({EVAL_HELP})"))
    return "".join(parts)


def change(value: object, base: object, scores: dict | None = None) -> object:
    """`0.75 (-0.05) [0.71, 0.79]`: a perturbed metric, its change from the clean score, and
    its interval when recorded."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return ""
    shown = with_interval(scores, next(iter(scores))) if scores else None
    shown = shown or number(value)
    if not isinstance(base, (int, float)) or isinstance(base, bool):
        return shown
    return Num(f"{shown} ({value - base:+.3g})")


def figures(stats: dict) -> list[object]:
    """Report cells of a probe's paired figures: flip rate, mean |ΔP|, signed ΔP and its p, each
    with its interval; the words "too few pairs to conclude" where the pairs cannot tell."""
    if stats.get("conclusive") is False:
        return [stats.get("note") or NOTE, "", "", ""]
    cells = [with_interval(stats, k) or "" for k in ("flip_rate", "mean_abs_gap", "signed_gap")]
    p = stats.get("signed_gap_p")
    return [*cells, Num(f"{p:.3g}") if isinstance(p, (int, float)) else ""]


def robustness_section(results: dict[str, dict]) -> str:
    """Per eval with `--perturb`: the clean scores (with intervals), then each perturbation's
    rows edited, flip rate and scores with their change."""
    parts = []
    for name, result in results.items():
        found = result.get("perturb")
        if not isinstance(found, dict):
            continue
        clean = found.get("clean") if isinstance(found.get("clean"), dict) else {}
        keys = list(clean)
        rows = [[name, "clean", "", "", *(with_interval(result, k) or clean[k] for k in keys)]]
        for kind, entry in found.items():
            if not isinstance(entry, dict) or kind == "clean":
                continue
            edited = f"{entry.get('edited', '')}/{entry.get('rows', '')}"
            edited += f", {entry['dropped']} dropped" if entry.get("dropped") else ""
            scores = entry.get("metrics") or {}
            base = entry.get("clean_scored") or clean  # like for like when rows were dropped
            bounds = {k: {k: scores.get(k), f"{k}_ci": v}
                      for k, v in (entry.get("intervals") or {}).items()}  # fmt: skip
            cells = [change(scores.get(k), base.get(k), bounds.get(k)) for k in keys]
            rows.append([name, kind, edited, *figures(entry)[:1], *cells, *figures(entry)[2:]])
        lead = (
            f"p={found.get('p')}, seed {found.get('seed')}; flip rate: share of predictions "
            "changed; [95% bootstrap interval]; p: sign-flip test of the signed ΔP"
        )
        header = ["eval", "perturbation", "edited rows", "flip rate", *keys, "signed ΔP", "p"]
        parts.append(note(lead) + table(header, rows))
    return "".join(parts) or note(f"no --perturb results in eval/ ({EVAL_HELP})")


def fairness_section(results: dict[str, dict]) -> str:
    """Per eval with `--fairness`: each term group's pairs, flip rate and probability gaps."""
    parts = []
    for name, result in results.items():
        found = result.get("fairness")
        if not isinstance(found, dict):
            continue
        terms = found.get("terms", "?")
        lead = f"P({found.get('class', '?')}) under identity-term swaps; terms: {terms}"
        parts.append(note(lead) + group_table(name, found.get("groups")))
        templated = found.get("templated")
        if isinstance(templated, dict):
            lead = (
                f"templated probe: {templated.get('templates', '?')} templates filled for "
                f"both sides of each pair; templates: {templated.get('templates_file', '?')}"
            )
            parts.append(note(lead) + group_table(name, templated.get("groups")))
    return "".join(parts) or note(f"no --fairness results in eval/ ({EVAL_HELP})")


def group_table(name: str, groups: object) -> str:
    """One row per term group: pairs, then its figures with intervals and p (or the words)."""
    rows = []
    for group, stats in (groups if isinstance(groups, dict) else {}).items():
        if isinstance(stats, dict):
            sides = " − ".join(map(str, (stats.get("sides") or [])[::-1]))
            rows.append([name, group, stats.get("pairs"), *figures(stats), sides])
    header = ["eval", "group", "pairs", "flip rate", "mean |ΔP|", "signed ΔP", "p", "sign: B − A"]
    return note("[95% bootstrap interval]; p: sign-flip permutation test") + table(header, rows)


def calibration_section(record: dict | None) -> str:
    """calibration.json: the temperature and the validation NLL and ECE before and after it."""
    if record is None:
        return note("not calibrated (eval.calibrate: none)")
    shown = record.get("validation") if isinstance(record.get("validation"), dict) else {}
    rows = [
        ["method", record.get("method")],
        ["temperature", record.get("temperature")],
        [
            "fitted on",
            f"validation, {shown.get('rows', '?')} rows ({record.get('model', 'final')})",
        ],
        ["NLL before → after", arrow(shown.get("nll_before"), shown.get("nll_after"))],
        ["ECE before → after", arrow(shown.get("ece_before"), shown.get("ece_after"))],
    ]
    attrs = [f' data-calibration="{key}"' for key in ("method", "t", "rows", "nll", "ece")]
    return table(["", ""], rows, attrs)


def arrow(before: object, after: object) -> object:
    numbers = [v for v in (before, after) if isinstance(v, (int, float))]
    return Num(" → ".join(number(v) for v in numbers)) if len(numbers) == 2 else ""
