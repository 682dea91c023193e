"""Showing a `toolkit.explain.Explanation`: coloured terminal text (rich), a json-ready dict,
and a self-contained HTML fragment for the HTML report. Token colours: green pushes the explained
score (the target label's logit, or the answer span's start + end logits) up, red pushes it down;
the stronger the colour, the larger |attribution| relative to the text's largest."""

from __future__ import annotations

import html
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from toolkit.explain.attribution import Explanation


def to_dict(expl: Explanation, top: int = 10) -> dict[str, Any]:
    """Everything, json-ready, plus `top_words`: the words of largest |score|, largest first."""
    return {**asdict(expl), "top_words": top_words(expl, top)}


def top_words(expl: Explanation, top: int = 10) -> list[dict[str, Any]]:
    order = sorted(range(len(expl.words)), key=lambda i: -abs(expl.word_scores[i]))[:top]
    return [{"word": expl.words[i], "score": expl.word_scores[i]} for i in order]


def colour(score: float, scale: float) -> tuple[int, ...]:
    """White to green (positive) or red (negative), by |score| / scale."""
    t = min(1.0, abs(score) / scale) if scale > 0 else 0.0
    end = (46, 160, 67) if score > 0 else (215, 48, 39)
    return tuple(round(255 + (c - 255) * t) for c in end)


def pieces(expl: Explanation) -> list[tuple[str, list[tuple[str, float | None]]]]:
    """Per segment (question first): its text as (gap, None) and (token text, score) parts;
    "…" stands for text outside the explained window."""
    result = []
    for name, source in (("question", expl.question), ("text", expl.text)):
        spans = [o for g, o in zip(expl.segments, expl.offsets) if g == name]
        if not spans:
            continue
        at = spans[0][0]
        parts: list[tuple[str, float | None]] = [("… ", None)] if source[:at].strip() else []
        for segment, (a, b), score in zip(expl.segments, expl.offsets, expl.scores):
            if segment != name or b <= at:
                continue
            a = max(a, at)
            a += len(source[a:b]) - len(source[a:b].lstrip())  # byte-level offsets hold the space
            parts += [(source[at:a], None)] + ([(source[a:b], score)] if a < b else [])
            at = b
        result.append((name, parts + ([(" …", None)] if source[at:].strip() else [])))
    return result


def headline(expl: Explanation) -> str:
    what = "answer" if expl.question is not None else "label"  # spans answer a question
    method = expl.method.replace("-", " ")
    return (
        f"{what}: {expl.prediction or '(no answer)'}  p={expl.probability:.3f}   "
        f"explained: {expl.target}   method: {method}"
    )


def scale_of(expl: Explanation) -> float:
    return max((abs(v) for v, g in zip(expl.scores, expl.segments) if g), default=0.0)


def completeness_line(expl: Explanation) -> str:
    c = expl.completeness or {}
    return (
        f"completeness: sum {c['attribution_sum']:+.4f} vs f(x) - f(baseline) "
        f"{c['difference']:+.4f} (gap {c['gap']:.4f}, {c['steps']} steps)"
    )


def render_terminal(expl: Explanation, console: Any = None, top: int = 8) -> None:
    """Print the text with a background per token (green pushes toward the explained target,
    red away; the stronger the colour, the larger |score|), the top words, IG's completeness."""
    from rich.console import Console
    from rich.text import Text

    console = console or Console()

    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False)

    say(headline(expl))
    scale = scale_of(expl)
    for name, parts in pieces(expl):
        line = Text(f"{name}: ")
        for part, score in parts:
            rgb = None if score is None else "rgb({},{},{})".format(*colour(score, scale))
            line.append(part, style=rgb and f"black on {rgb}")
        console.print(line)
    say("top words (largest |attribution| first):")
    for rank, item in enumerate(top_words(expl, top), 1):
        say(f"  {rank:2}. {item['word']:<20} {item['score']:+.4f}")
    if expl.completeness:
        say(completeness_line(expl))
    if expl.truncated:
        say("note: the text did not fit one window; the explained window is shown")


CELL = '<td style="background:rgb({0},{0},255);width:14px;height:14px" title="{1}"></td>'


def render_html(expl: Explanation, top: int = 8, max_attention_tokens: int = 48) -> str:
    """A self-contained HTML fragment (inline styles; no scripts, no external assets): headline,
    coloured tokens (hover: score), top words, and the attention heat map as a table."""
    esc, scale = html.escape, scale_of(expl)
    out = [
        '<div class="toolkit-explain" style="font-family:sans-serif;line-height:1.8">',
        f"<p><b>{esc(headline(expl))}</b></p>",
    ]
    for name, parts in pieces(expl):
        spans = "".join(
            esc(part)
            if score is None
            else '<span style="background:rgb({},{},{})" title="{:+.4f}">{}</span>'.format(
                *colour(score, scale), score, esc(part)
            )
            for part, score in parts
        )
        out.append(f"<p><i>{name}:</i> {spans}</p>")
    items = "".join(f"<li>{esc(w['word'])} {w['score']:+.4f}</li>" for w in top_words(expl, top))
    out.append(f"<ol>{items}</ol>")
    if expl.completeness:
        out.append(f"<p>{esc(completeness_line(expl))}</p>")
    if expl.attention:
        n, tokens = min(len(expl.tokens), max_attention_tokens), [esc(t) for t in expl.tokens]
        top_value = max(max(row[:n]) for row in expl.attention[:n]) or 1.0  # shown darkest
        th = '<th style="font-weight:normal;{}">{}</th>'
        head = "".join(th.format("writing-mode:vertical-rl", t) for t in tokens[:n])
        rows = "".join(
            "<tr>"
            + th.format("text-align:right", tokens[i])
            + "".join(
                CELL.format(round(255 * (1 - v / top_value)), f"{tokens[i]} → {tokens[j]}: {v:.3f}")
                for j, v in enumerate(expl.attention[i][:n])
            )
            + "</tr>"
            for i in range(n)
        )
        note = f" (first {n} of {len(tokens)} tokens)" if n < len(tokens) else ""
        out.append(f"<p>attention, last layer, heads averaged{note}:</p>")
        out.append(
            '<table style="border-collapse:collapse;font-size:11px">'
            f"<tr><th></th>{head}</tr>{rows}</table>"
        )
    return "\n".join([*out, "</div>"])
