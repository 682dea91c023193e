"""The HTML pieces every `toolkit report` page is built from: escaped text, number cells,
tables, notes, sections, the page itself and its style. Raw values go in, escaped HTML comes
out: nothing from a run's data or recipe reaches the page unescaped."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from toolkit.report.data import interval, is_number

MAX_TEXT = 600
GENERATOR = "toolkit report"  # the page's <meta name="generator">: says the file is ours
CSS = """
body{font:14px/1.45 system-ui,sans-serif;max-width:1100px;margin:0 auto;padding:1em 2em;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:1.6em}
table.r{border-collapse:collapse;margin:.5em 0}.r td,.r th{border:1px solid #ddd;
padding:.25em .6em;vertical-align:top;text-align:left}.r th{background:#f4f4f4}.r td.num{
text-align:right;font-variant-numeric:tabular-nums}pre{background:#f7f7f7;padding:.8em;overflow:auto}
img{max-width:100%;display:block;margin:.5em 0}.note{color:#777}nav a{margin-right:.8em}
.pair{display:flex;flex-wrap:wrap;gap:1em;align-items:flex-start}.pair img{min-width:0}
.scroll{max-width:100%;overflow:auto}.scroll table{max-width:none}.r td.best{font-weight:bold;
background:#eef7ee}.gold{font-size:1.05em}.wide{overflow-x:auto;max-width:100%}
"""


def text(value: Any, limit: int = MAX_TEXT) -> str:
    """Any value as escaped text, cut to `limit` characters."""
    if value is None:
        return ""
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return escape(shown if len(shown) <= limit else shown[: limit - 1] + "…")


class Num(str):
    """A formatted number (safe HTML): its table cell is right-aligned."""


class Best(Num):
    """The best value of a row of runs: shown bold."""


def number(value: float) -> Num:
    return Num(f"{value:,}" if isinstance(value, int) else f"{value:.4g}")


def with_interval(scores: dict, key: str) -> Num | None:
    """`scores[key]` with its recorded 95% interval, `0.81 [0.75, 0.86]`; None when not a number."""
    value = scores.get(key)
    if not is_number(value):
        return None
    bounds = interval(scores, key)
    shown = (
        number(value) if bounds is None else f"{number(value)} [{bounds[0]:.4g}, {bounds[1]:.4g}]"
    )
    return Num(shown)


def cell(value: Any) -> str:
    if isinstance(value, Best):
        return f'<td class="num best">{value}</td>'
    if isinstance(value, Num) or is_number(value):
        return f'<td class="num">{value if isinstance(value, Num) else number(value)}</td>'
    return f"<td>{text(value)}</td>"


def table(header: list[str], rows: list[list], attrs: list[str] | None = None) -> str:
    """Raw values in, escaped HTML out; numbers are right-aligned."""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cells = "".join(cell(value) for value in row)
        body.append(f"<tr{attrs[i] if attrs else ''}>{cells}</tr>")
    head = f"<thead><tr>{head}</tr></thead>" if any(header) else ""
    return f'<div class="wide"><table class="r">{head}<tbody>{"".join(body)}</tbody></table></div>'


def note(message: str) -> str:
    return f'<p class="note">{escape(message)}</p>'


def is_metric(key: str, value: Any, scores: dict) -> bool:
    """A scalar metric of a scores mapping (not its intervals, tables or counts of nothing)."""
    is_ci = key.endswith("_ci") and key[:-3] in scores
    return key != "ci" and not is_ci and not isinstance(value, (dict, list)) and value is not None


def page(title: str, sections: dict[str, tuple[str, str]]) -> str:
    """The whole document: `sections` maps an id to (heading, body HTML), in order."""
    title = escape(title)
    nav = "".join(f'<a href="#{key}">{escape(name)}</a>' for key, (name, _) in sections.items())
    bodies = "".join(
        f'<section id="{key}"><h2>{escape(name)}</h2>{body}</section>\n'
        for key, (name, body) in sections.items()
    )
    head = (
        f'<meta charset="utf-8"><meta name="generator" content="{GENERATOR}">'
        f'<meta name="viewport" content="width=device-width"><title>{title}</title>'
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head>{head}<style>{CSS}</style></head>\n'
        f"<body><h1>{title}</h1><nav>{nav}</nav>\n{bodies}</body></html>\n"
    )
