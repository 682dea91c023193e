"""Reading recipe YAML without letting it take the machine: a document whose aliases expand far
beyond its size (a "billion laughs" bomb) is refused after composing, before any Python object is
built; nesting too deep for the parser is refused too."""

from __future__ import annotations

from typing import Any

import yaml

from toolkit.errors import ToolkitError

# A recipe is a few hundred nodes; anchors and aliases may reuse sections, but never this much.
MAX_EXPANDED = 100_000


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts what the composed document expands to, aliases included."""

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None and expanded_size(node) > MAX_EXPANDED:
            raise AliasBomb
        return node


class AliasBomb(Exception):
    """The document's aliases expand to more than MAX_EXPANDED nodes."""


def expanded_size(root: yaml.Node) -> int:
    """How many nodes `root` stands for once every alias is written out; each distinct node is
    visited once (sizes are memoised), and counting stops as soon as the bound is passed."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes:
            continue
        children = list(child_nodes(node))
        if children_done or not children:
            sizes[id(node)] = 1 + sum(sizes.get(id(child), 0) for child in children)
            if sizes[id(node)] > MAX_EXPANDED:
                return sizes[id(node)]
            continue
        stack.append((node, True))
        stack.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(root)]


def child_nodes(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def parse_yaml(text: str, where: str) -> Any:
    """The YAML document in `text` as Python objects; `where` starts each message (a file name,
    or `--set KEY`). Raises ToolkitError for a bomb, too deep nesting or a syntax error."""
    try:
        return yaml.load(text, Loader=BoundedLoader)  # noqa: S506 (a SafeLoader subclass)
    except AliasBomb:
        raise ToolkitError(
            f"{where}: YAML aliases expand to over {MAX_EXPANDED:,} values, far out of "
            "proportion to the file; refusing it (an alias bomb?)"
        ) from None
    except RecursionError:
        raise ToolkitError(f"{where}: YAML nested too deeply to be a recipe") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ToolkitError(f"{where}: a value YAML cannot read ({str(exc)[:80]})") from None
    except yaml.YAMLError as exc:
        raise ToolkitError(f"{where}:{yaml_problem(exc)}") from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """' line L, column C: YAML syntax error: <problem>' from a YAMLError."""
    mark = getattr(exc, "problem_mark", None)
    where = f" line {mark.line + 1}, column {mark.column + 1}:" if mark else ""
    problem = getattr(exc, "problem", None) or (str(exc).strip().splitlines() or ["?"])[0]
    if "another document" in problem or "single document" in str(getattr(exc, "context", "")):
        return f"{where} holds several YAML documents (---); a recipe is one document"
    return f"{where} YAML syntax error: {problem[:200]}"
