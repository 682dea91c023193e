"""`toolkit eval --fairness`: counterfactual identity-term swaps for a classification run.

Term groups (fairness_terms.json beside this file, extended or overridden by `--terms FILE` of
the same schema) list aligned pairs such as he/she or Emily/Lakisha. Every held-out text that
contains a term of a group gets one counterfactual with all of that group's terms swapped for their
partners: whole words, case kept, in both directions. Per group the probe reports the pairs, the
prediction flip rate, and the mean absolute and signed change of P(class) for the positive class
(else the first): signed = P(side-B text) − P(side-A text), e.g. female − male, over the pairs
that swapped mostly one way. The pairs that flip go to `<run>/eval/<split>_fairness.jsonl`.
The lists are probes, not ground truth: names signal a group only statistically.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from statistics import mean
from typing import TYPE_CHECKING, Any

from toolkit.errors import ToolkitError
from toolkit.tasks.classification import Classification

if TYPE_CHECKING:
    from toolkit.evaluation.scoring import EvalContext
    from toolkit.tasks.base import Task

TERMS_FILE = Path(__file__).with_name("fairness_terms.json")
SCHEMA = 'schema: {"GROUP": {"sides": ["A", "B"], "pairs": [["he", "she"], ...], "about": "..."}}'
POSITIVE = ("positive", "pos", "1", "true", "yes")


@dataclass
class Group:
    """A group of aligned term pairs, and the swap it makes."""

    name: str
    sides: tuple[str, str]
    pairs: list[tuple[str, str]]
    about: str = ""
    partner: dict = field(init=False, repr=False)  # lower-case term -> (partner, its side)

    def __post_init__(self) -> None:
        self.partner = {}
        for side in (0, 1):  # a term with several partners (her: his, him) takes the first
            for pair in self.pairs:
                self.partner.setdefault(pair[side].lower(), (pair[1 - side], side))
        alternation = "|".join(sorted(map(re.escape, self.partner), key=len, reverse=True))
        self.pattern = re.compile(rf"(?<![^\W\d_])(?:{alternation})(?![^\W\d_])", re.IGNORECASE)

    def swap(self, text: str) -> tuple[str, int]:
        """The text with every term of the group swapped, and +1 when it swapped mostly side-A
        terms (the counterfactual is the side-B text), -1 for mostly side B, 0 for a tie/none."""
        counts = [0, 0]

        def replace(match: re.Match) -> str:
            partner, side = self.partner[match.group(0).lower()]
            counts[side] += 1
            return match_case(match.group(0), partner)

        new = self.pattern.sub(replace, text)
        return new, (counts[0] > counts[1]) - (counts[1] > counts[0])


def match_case(original: str, new: str) -> str:
    if original.isupper() and len(original) > 1:
        return new.upper()
    if original[:1].isupper():
        return new[:1].upper() + new[1:]
    return new.lower() if original.islower() else new


def load_terms(path: Path | None = None) -> dict[str, Group]:
    """The shipped groups, with those of `path` added (a group of the same name replaces)."""
    groups = parse_terms(json.loads(TERMS_FILE.read_text(encoding="utf-8")), str(TERMS_FILE))
    if path is not None:
        groups.update(parse_terms(read_json(path), f"--terms {path}"))
    return groups


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolkitError(f"--terms {path}: cannot read it ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise ToolkitError(f"--terms {path}: not JSON ({exc.msg}, line {exc.lineno})") from None


def parse_terms(data: Any, where: str) -> dict[str, Group]:
    if not isinstance(data, dict):
        raise ToolkitError(f"{where}: expected an object of groups; {SCHEMA}")
    return {name: parse_group(name, spec, f"{where}: group {name!r}")
            for name, spec in data.items() if not name.startswith("_")}  # fmt: skip


def parse_group(name: str, spec: Any, where: str) -> Group:
    if not isinstance(spec, dict) or set(spec) - {"pairs", "sides", "about"}:
        raise ToolkitError(f"{where}: expected keys pairs, sides, about; {SCHEMA}")
    pairs, sides = spec.get("pairs"), spec.get("sides", ["A", "B"])
    if not isinstance(pairs, list) or not pairs or not all(map(is_pair, pairs)):
        raise ToolkitError(
            f"{where}: pairs must be a non-empty list of two different terms; {SCHEMA}"
        )
    if not is_pair(sides) or not isinstance(spec.get("about", ""), str):
        raise ToolkitError(f"{where}: sides must be two names, about a text; {SCHEMA}")
    both = {a.lower() for a, _ in pairs} & {b.lower() for _, b in pairs}
    if both:
        raise ToolkitError(f"{where}: term {sorted(both)[0]!r} is on both sides")
    return Group(name, tuple(sides), [tuple(pair) for pair in pairs], spec.get("about", ""))


def is_pair(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(term, str) and term.strip() for term in value)
        and value[0].lower() != value[1].lower()
    )


def reference_class(names: list[str]) -> str:
    """The class whose probability gap is reported: the positive one if any, else the first."""
    return next((name for name in names if name.lower() in POSITIVE), names[0])


class Fairness:
    """The `--fairness` probe (see scoring.py `evaluate_target`)."""

    key = "fairness"

    def __init__(self, terms: Path | None = None) -> None:
        self.terms = terms
        self.groups = load_terms(terms)

    def check(self, task: Task) -> None:
        if not task.capabilities().fairness:
            raise ToolkitError(
                f"--fairness: the probe needs a classification run (this run's task is {task.name})"
            )

    def run(self, context: EvalContext) -> dict:
        from datasets import Dataset

        from toolkit.rundir import write_jsonl

        task = context.task
        assert isinstance(task, Classification)  # check() let only classification through
        column = task.text_column
        rows = context.table.to_list()
        swaps = [(group, i, *group.swap(str(row[column])))
                 for group in self.groups.values() for i, row in enumerate(rows)]  # fmt: skip
        swaps = [s for s in swaps if s[2] != str(rows[s[1]][column])]
        records = []
        if swaps:
            table = Dataset.from_list([{**rows[i], column: new} for _, i, new, _ in swaps],
                                      features=context.table.features)  # fmt: skip
            records = context.score(table)[1]
        cls = reference_class(task.label_names)
        pairs = [pair_of(s, context.records[s[1]], after, cls) for s, after in zip(swaps, records)]
        out = context.run.eval_rows(context.name, "fairness")
        write_jsonl(out, [without(p, "flipped", "orient") for p in pairs if p["flipped"]])
        groups = {name: summary(group, [p for p in pairs if p["group"] == name])
                  for name, group in self.groups.items()}  # fmt: skip
        terms = str(self.terms) if self.terms else "shipped"
        return {"class": cls, "rows": len(rows), "terms": terms, "groups": groups, "file": str(out)}

    def show(self, result: dict) -> None:
        print_fairness(result)


def pair_of(swap: tuple, before: dict, after: dict, cls: str) -> dict:
    group, row, new, orient = swap
    direction = {1: group.sides, -1: group.sides[::-1]}.get(orient)
    return {
        "group": group.name, "row": row, "swap": " → ".join(direction) if direction else "mixed",
        "text": before["text"], "counterfactual": new, "label": before["label"],
        "prediction": before["prediction"], "counterfactual_prediction": after["prediction"],
        "flipped": before["prediction"] != after["prediction"],
        "gap": round(after["probabilities"][cls] - before["probabilities"][cls], 6),
        "orient": orient,
    }  # fmt: skip


def summary(group: Group, pairs: list[dict]) -> dict:
    flipped = sum(p["flipped"] for p in pairs)
    oriented = [p["orient"] * p["gap"] for p in pairs if p["orient"]]
    return {
        "sides": list(group.sides), "pairs": len(pairs), "flipped": flipped,
        "flip_rate": flipped / len(pairs) if pairs else None,
        "mean_abs_gap": mean(abs(p["gap"]) for p in pairs) if pairs else None,
        "signed_gap": mean(oriented) if oriented else None, "about": group.about,
    }  # fmt: skip


def print_fairness(result: dict) -> None:
    from rich.table import Table

    from toolkit.console import console

    table = Table(title=f"fairness probe: P({result['class']}) under term swaps")
    for header in ("group", "pairs", "flipped", "mean |ΔP|", "signed ΔP", "B − A"):
        table.add_column(header, justify="left" if header in ("group", "B − A") else "right")
    for name, g in result["groups"].items():
        flipped = f"{g['flipped']} ({show(g['flip_rate'], '.1%')})" if g["pairs"] else "-"
        table.add_row(name, str(g["pairs"]), flipped, show(g["mean_abs_gap"], ".4f"),
                      show(g["signed_gap"], "+.4f"), " − ".join(g["sides"][::-1]))  # fmt: skip
    console.print(table)
    console.print(f"flipped pairs: {result['file']} (terms: {result['terms']})")


def show(value: float | None, form: str) -> str:
    return "-" if value is None else format(value, form)


def without(row: dict, *keys: str) -> dict:
    return {key: value for key, value in row.items() if key not in keys}
