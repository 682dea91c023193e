"""The report section of `toolkit explain RUN --faithfulness` (RUN/eval/faithfulness.json):
each attribution method's comprehensiveness and sufficiency against random word orderings, with
their intervals, and the verdict sentence the command wrote. A file that does not parse is named
in the section, not fatal."""

from __future__ import annotations

import json
from pathlib import Path

from toolkit.report.markup import note, table, text, with_interval
from toolkit.rundir import RunDir

HELP = "see `toolkit explain --help`, --faithfulness"
KEYS = ("comprehensiveness", "sufficiency", "comprehensiveness_vs_random")


def read(run_dir: Path) -> dict | str | None:
    """The faithfulness result, a note on why it cannot be read, or None when there is none."""
    path = RunDir(run_dir).faithfulness
    if not path.is_file():
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"{path.name}: unreadable ({type(exc).__name__})"
    return found if isinstance(found, dict) else f"{path.name}: not a mapping"


def faithfulness_section(run_dir: Path) -> str:
    """The methods and random orders side by side, then each method's verdict in words."""
    found = read(run_dir)
    if found is None:
        return note(f"no faithfulness measured ({HELP})")
    if isinstance(found, str):
        return note(found)
    methods = found.get("methods") if isinstance(found.get("methods"), dict) else {}
    shown = {**methods, "random orders": found.get("random")}
    rows, verdicts = [], []
    for name, stats in shown.items():
        if isinstance(stats, dict):
            rows.append([name, *(with_interval(stats, key) or "" for key in KEYS)])
            verdicts += [stats["verdict"]] if isinstance(stats.get("verdict"), str) else []
    lead = (
        f"{found.get('rows', '?')} rows of {found.get('source', '?')} (seed {found.get('seed')}); "
        f"AOPC over top-k fractions {found.get('fractions')}: comprehensiveness is the drop in "
        "P(predicted class) when the top words are removed (higher is better), sufficiency "
        "when only they are kept (lower is better); 95% bootstrap intervals"
    )
    header = ["method", "comprehensiveness", "sufficiency", "comprehensiveness − random"]
    items = "".join(f"<li>{text(line)}</li>" for line in verdicts)
    return note(lead) + table(header, rows) + (f"<ul>{items}</ul>" if items else "")
