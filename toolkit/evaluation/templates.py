"""Sentence templates of the templated counterfactual probe (`toolkit eval --fairness`).

fairness_templates.json beside this file, extended by `--templates FILE` of the same schema:
`templates` (texts with a `{person}` slot and optionally word slots such as `{emotion}`), `words`
(each slot's words), `persons` (per term group: the `form` a term takes, e.g. "my {term}", and
`only` the pairs whose side-A term is listed) and `max_pairs` (per group, a fixed-seed sample
above it). Each template, filled with every word combination, is written once with a group's
side-A term and once with its partner: one pair.
"""

from __future__ import annotations

import itertools
import json
import random
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from toolkit.errors import ToolkitError

TEMPLATES_FILE = Path(__file__).with_name("fairness_templates.json")
KEYS = {"templates", "words", "persons", "max_pairs"}
SCHEMA = (
    'schema: {"templates": ["{person} feels {emotion}.", ...], "words": {"emotion": [...]}, '
    '"persons": {"GROUP": {"form": "my {term}", "only": ["father", ...]}}, "max_pairs": 1000}'
)


@dataclass
class Templates:
    """The templates, slot words, per-group person forms and the per-group pair cap."""

    templates: list[str] = field(default_factory=list)
    words: dict[str, list[str]] = field(default_factory=dict)
    persons: dict[str, dict] = field(default_factory=dict)
    max_pairs: int = 1000

    def pairs(self, group: str, terms: list[tuple[str, str]]) -> list[tuple[str, str, int]]:
        """(side-A text, side-B text, template index) of every filling, sampled to max_pairs."""
        person = self.persons.get(group, {})
        form, only = person.get("form", "{term}"), person.get("only")
        used = [pair for pair in terms if only is None or pair[0] in only]
        used = used or terms  # a --terms group that replaced the shipped one: all its pairs
        out = []
        for index, template in enumerate(self.templates):
            slots = [name for name in slot_names(template, "") if name != "person"]
            for combination in itertools.product(*(self.words[slot] for slot in slots)):
                filled = dict(zip(slots, combination))
                for a, b in used:
                    out.append((sentence(template, form, a, filled),
                                sentence(template, form, b, filled), index))  # fmt: skip
        if len(out) > self.max_pairs:  # a fixed sample, in the fillings' order
            keep = random.Random(f"templates-{group}").sample(range(len(out)), self.max_pairs)
            out = [out[i] for i in sorted(keep)]
        return out


def sentence(template: str, form: str, term: str, words: dict[str, str]) -> str:
    text = template.format(person=form.format(term=term), **words)
    return text[:1].upper() + text[1:]


def slot_names(template: str, where: str) -> list[str]:
    """The `{slot}` names of a template (a bad brace or a `{slot!r:>4}` is an error)."""
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ToolkitError(f"{where}: {exc}; {SCHEMA}") from None
    names = []
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if not name.isidentifier() or spec or conversion:
            raise ToolkitError(f"{where}: slot {{{name}}} must be a plain {{name}}")
        names.append(name)
    return list(dict.fromkeys(names))


def load_templates(path: Path | None, groups: dict) -> Templates:
    """The shipped templates with those of `path` added, checked against the term `groups`."""
    found = Templates()
    merge(found, json.loads(TEMPLATES_FILE.read_text(encoding="utf-8")), str(TEMPLATES_FILE))
    if path is not None:
        data = read_json(path, "--templates")
        merge(found, data, f"--templates {path}")
    where = f"--templates {path}" if path is not None else str(TEMPLATES_FILE)
    user = set(data.get("persons") or {}) if path is not None and isinstance(data, dict) else set()
    check(found, groups, where, user)
    return found


def merge(found: Templates, data: object, where: str) -> None:
    """Add `data`'s templates; its slots, person forms and max_pairs replace the earlier ones."""
    if not isinstance(data, dict) or set(data) - KEYS - {k for k in data if k.startswith("_")}:
        raise ToolkitError(f"{where}: expected an object with keys {', '.join(sorted(KEYS))}; "
                           f"{SCHEMA}")  # fmt: skip
    templates, words = data.get("templates", []), data.get("words", {})
    if not isinstance(templates, list) or not all(is_text(t) for t in templates):
        raise ToolkitError(f"{where}: key 'templates' must be a list of texts; {SCHEMA}")
    if not isinstance(words, dict) or not all(is_texts(w) for w in words.values()):
        raise ToolkitError(f"{where}: key 'words' must map each slot to a list of words; {SCHEMA}")
    persons, cap = data.get("persons", {}), data.get("max_pairs", found.max_pairs)
    if not isinstance(persons, dict) or not all(map(is_person, persons.values())):
        shape = '{"form": "... {term} ...", "only": [terms]}'
        raise ToolkitError(f"{where}: key 'persons' must map a group to {shape}; {SCHEMA}")
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise ToolkitError(f"{where}: key 'max_pairs' must be a whole number ≥ 1")
    found.templates += templates
    found.words.update(words)
    found.persons.update(persons)
    found.max_pairs = cap


def check(found: Templates, groups: dict, where: str, user: set[str]) -> None:
    """Every template has {person} and known slots; every person entry names a known group,
    and the file's own (`user`) entries only its side-A terms."""
    for i, template in enumerate(found.templates):
        at = f"{where}: key 'templates'[{i}] {template!r}"
        names = slot_names(template, at)
        if "person" not in names:
            raise ToolkitError(f"{at}: has no {{person}} slot")
        unknown = [name for name in names if name != "person" and name not in found.words]
        if unknown:
            raise ToolkitError(f"{at}: slot {{{unknown[0]}}} has no words (key 'words')")
    for group, person in found.persons.items():
        form = person.get("form", "{term}")
        if slot_names(form, f"{where}: key 'persons'.{group}.form") != ["term"]:
            raise ToolkitError(f"{where}: key 'persons'.{group}.form: only a {{term}} slot")
        if group not in groups:
            raise ToolkitError(f"{where}: key 'persons': unknown term group {group!r} "
                               f"(known: {', '.join(groups)})")  # fmt: skip
        if group not in user:
            continue
        terms = {a for a, _ in groups[group].pairs}
        missing = [term for term in person.get("only") or [] if term not in terms]
        if missing:
            raise ToolkitError(f"{where}: key 'persons'.{group}.only: {missing[0]!r} is not a "
                               f"side-A term of group {group!r}")  # fmt: skip


def is_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def is_texts(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(map(is_text, value))


def is_person(value: object) -> bool:
    if not isinstance(value, dict) or set(value) - {"form", "only"}:
        return False
    form, only = value.get("form", "{term}"), value.get("only")
    return is_text(form) and "{term}" in form and (only is None or is_texts(only))


def read_json(path: Path, flag: str = "--terms") -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ToolkitError(f"{flag} {path}: cannot read it ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise ToolkitError(f"{flag} {path}: not JSON ({exc.msg}, line {exc.lineno})") from None
