"""`toolkit eval --fairness`: counterfactual identity-term swaps for a classification run.

Term groups (fairness_terms.json beside this file, extended or overridden by `--terms FILE` of
the same schema) list aligned pairs such as he/she or Emily/Lakisha. Every held-out text that
contains a term of a group gets one counterfactual with all of that group's terms swapped for their
partners: whole words, case kept, in both directions. Per group the probe reports the pairs, the
prediction flip rate, and the mean absolute and signed change of P(class) for the positive class
(else the first): signed = P(side-B text) − P(side-A text), e.g. female − male, over the pairs
that swapped mostly one way. The pairs that flip go to `<run>/eval/<split>_fairness.jsonl`.
The lists are probes, not ground truth: names signal a group only statistically.

The templated probe (templates.py) does the same on sentences written for it, each filled for
both sides of every pair of a group (at least 1,000 pairs a group), whatever the held-out data
holds; its flipped pairs go to `<split>_fairness_templates.jsonl`. Every figure comes with its
interval and the signed gap with its permutation p-value (certainty.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from toolkit.errors import ToolkitError
from toolkit.evaluation.certainty import figure_cells, pair_stats, reference_class
from toolkit.evaluation.templates import Templates, load_templates, read_json
from toolkit.tasks.classification import Classification

if TYPE_CHECKING:
    from rich.table import Table

    from toolkit.evaluation.scoring import EvalContext
    from toolkit.tasks.base import Task

TERMS_FILE = Path(__file__).with_name("fairness_terms.json")
SCHEMA = 'schema: {"GROUP": {"sides": ["A", "B"], "pairs": [["he", "she"], ...], "about": "..."}}'
__all__ = ["Fairness", "load_terms", "reference_class"]


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


class Fairness:
    """The `--fairness` probe (see scoring.py `evaluate_target`)."""

    key = "fairness"

    def __init__(
        self, terms: Path | None = None, templates: Path | None = None, templated: bool = True
    ) -> None:
        self.terms, self.template_file = terms, templates
        self.groups = load_terms(terms)
        self.templates = load_templates(templates, self.groups) if templated else None

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
        result = {"class": cls, "rows": len(rows), "terms": terms, "groups": groups}
        result["file"] = str(out)
        if self.templates is not None:
            result["templated"] = templated(context, self.groups, self.templates, cls)
            result["templated"]["templates_file"] = str(self.template_file or "shipped")
        return result

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
    """The group's figures with their intervals (see certainty.py)."""
    oriented = [p["orient"] * p["gap"] for p in pairs if p["orient"]]
    stats = pair_stats([p["flipped"] for p in pairs], [p["gap"] for p in pairs], oriented)
    return {"sides": list(group.sides), **stats, "about": group.about}


def templated(context: EvalContext, groups: dict[str, Group], found: Templates, cls: str) -> dict:
    """Each group's templates filled for both sides, scored in one batched pass."""
    from toolkit.rundir import write_jsonl

    filled = {name: found.pairs(name, group.pairs) for name, group in groups.items()}
    texts = list(dict.fromkeys(text for pairs in filled.values() for a, b, _ in pairs
                               for text in (a, b)))  # fmt: skip
    scored = predict_texts(context, texts, cls)
    summaries, flips = {}, []
    for name, pairs in filled.items():
        labels = [(scored[a][0], scored[b][0]) for a, b, _ in pairs]
        gaps = [scored[b][1] - scored[a][1] for a, b, _ in pairs]
        flipped = [x != y for x, y in labels]
        stats = pair_stats(flipped, gaps, gaps)  # every pair is oriented: B text − A text
        summaries[name] = {"sides": list(groups[name].sides), **stats}
        flips += [{"group": name, "template": t, "text_a": a, "text_b": b, "prediction_a": x,
                   "prediction_b": y, "gap": round(gap, 6)}
                  for (a, b, t), (x, y), gap, f in zip(pairs, labels, gaps, flipped)
                  if f]  # fmt: skip
    out = context.run.eval_rows(context.name, "fairness_templates")
    write_jsonl(out, flips)
    return {"templates": len(found.templates), "texts": len(texts), "groups": summaries,
            "file": str(out)}  # fmt: skip


def predict_texts(context: EvalContext, texts: list[str], cls: str) -> dict[str, tuple[str, float]]:
    """text -> (predicted label, P(cls)), from the length-sorted batched predict; no labels."""
    from datasets import Dataset

    from toolkit.evaluation.scoring import tokenize_table

    task = context.task
    assert isinstance(task, Classification)
    table = Dataset.from_dict({task.text_column: texts})
    tokenized = tokenize_table(task, context.loaded, table)
    loaded, size = context.loaded, context.batch_size
    rows = task.predict_rows(loaded, table, tokenized, size, context.precision)
    return dict(zip(texts, zip(rows["label"], rows[f"prob_{cls}"])))


def print_fairness(result: dict) -> None:
    from toolkit.console import console

    cls = result["class"]
    console.print(group_table(f"fairness probe: P({cls}) under term swaps", result["groups"]))
    console.print(f"flipped pairs: {result['file']} (terms: {result['terms']})")
    found = result.get("templated")
    if found:
        title = f"templated probe: P({cls}), {found['templates']} templates, both sides"
        console.print(group_table(title, found["groups"]))
        console.print(f"flipped pairs: {found['file']} (templates: {found['templates_file']})")


def group_table(title: str, groups: dict[str, dict]) -> Table:
    """One row per group: pairs, flip rate, mean |ΔP|, signed ΔP (95% intervals), p-value of the
    signed gap; in words where the pairs cannot tell."""
    from rich import box
    from rich.table import Table

    caption = "[95% bootstrap interval]; p: sign-flip permutation test of the signed ΔP"
    table = Table(title=title, caption=caption, box=box.SIMPLE_HEAD, collapse_padding=True)
    headers = ("group, B − A", "pairs", "flip rate", "mean |ΔP|", "signed ΔP", "p")
    for header in headers:
        left = header == headers[0]
        table.add_column(header, justify="left" if left else "right", no_wrap=True)
    for name, g in groups.items():
        sides = " − ".join(g["sides"][::-1])
        table.add_row(f"{name}\n{sides}", str(g["pairs"]), *figure_cells(g))
    return table


def without(row: dict, *keys: str) -> dict:
    return {key: value for key, value in row.items() if key not in keys}
