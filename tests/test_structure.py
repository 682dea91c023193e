"""The code's structure: no import cycles, no module reaching into the CLI, no task-name checks
outside the task classes, and CONTRIBUTING.md's "Adding a task" followed to the letter."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from conftest import toy_rows, write_csv

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "toolkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def type_checking_imports(tree: ast.Module) -> set[int]:
    """ids of the import nodes under `if TYPE_CHECKING:` (never run, so never a cycle)."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(sub) for sub in ast.walk(node) if isinstance(sub, ast.ImportFrom)}
            skipped |= {id(sub) for sub in ast.walk(node) if isinstance(sub, ast.Import)}
    return skipped


def imported(node: ast.AST, current: str, is_package: bool) -> list[str]:
    """The dotted names an import statement may load (a module, or a name inside one)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    assert isinstance(node, ast.ImportFrom)
    base = node.module or ""
    if node.level:
        parts = current.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join([*parts[:keep], *([base] if base else [])])
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def import_graph() -> dict[str, set[str]]:
    """toolkit module -> the toolkit modules it imports, at module level or inside functions."""
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = type_checking_imports(tree)
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Import, ast.ImportFrom)) or id(node) in skipped:
                continue
            for target in imported(node, name, path.name == "__init__.py"):
                while target and target not in files:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_and_nothing_imports_the_cli():
    graph = import_graph()
    assert "toolkit.tasks.classification" in graph["toolkit.tasks.registry"]  # it does look
    assert cycles(graph) == []
    cli = {name for name in graph if name == "toolkit.cli" or name.startswith("toolkit.cli.")}
    importers = [name for name, targets in graph.items() if targets & cli and name not in cli]
    assert importers == ["toolkit.__main__"]  # `python -m toolkit`, the entry point itself


def task_names() -> set[str]:
    from toolkit.tasks.registry import known_tasks

    return set(known_tasks())


def compared_names(path: Path, names: set[str], attribute: str) -> list[str]:
    """Lines of `path` that compare with one of `names` (a string constant) or with an
    attribute `attribute` of something called task/family (`task.name`, `family.kind`)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Compare):
            continue
        consts = [c.value for c in ast.walk(node) if isinstance(c, ast.Constant)]
        sides = [node.left, *node.comparators]
        named = any(
            isinstance(v, ast.Attribute) and v.attr == attribute and attribute in ("name", "kind")
            and any(word in ast.unparse(v.value) for word in ("task", "family"))
            for v in sides
        )  # fmt: skip
        if named or any(isinstance(c, str) and c in names for c in consts):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_task_and_family_names_are_compared_only_in_their_own_classes():
    """`task.name == "classification"` or `family.kind == "decoder"` checks belong to the
    tasks (head, capabilities) and to models.Family (is_decoder, fp16_overflows, ...)."""
    from toolkit.models import FAMILIES

    families = {*FAMILIES, "encoder", "decoder", "encoder-decoder"}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.parent.name != "tasks":
            offenders += compared_names(path, task_names(), "name")
        if path.name != "models.py":
            offenders += compared_names(path, families, "kind")
    assert offenders == []


def test_no_untyped_task_parameters():
    pattern = re.compile(r"\btask: Any\b")
    hits = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in PACKAGE.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert hits == []


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def test_adding_a_task_as_contributing_md_says(tiny_models, tmp_path):
    """Copy the package, add CONTRIBUTING.md's toy task file and registry lines, and use the
    new task from the CLI: validate (with did-you-mean on its keys), run, eval and report."""
    task_code, registry_lines = python_blocks((ROOT / "CONTRIBUTING.md").read_text())[:2]
    copy = tmp_path / "src"
    shutil.copytree(PACKAGE, copy / "toolkit", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "toolkit" / "tasks" / "length_buckets.py").write_text(task_code)
    registry = copy / "toolkit" / "tasks" / "registry.py"
    registry.write_text(registry.read_text() + "\n" + registry_lines)

    rows = [{"text": row["text"] + " and more" * (i % 3)} for i, row in enumerate(toy_rows(60))]
    data = write_csv(tmp_path / "texts.csv", rows)
    recipe = tmp_path / "length.yaml"
    recipe.write_text(
        f"model: {{name: {tiny_models['bert']}}}\n"
        "task: {name: length-buckets, threshold: 9}\n"
        f"data: {{train: {data}}}\n"
        "train: {max_steps: 2, batch_size: 8, eval_every: 'no', save_checkpoints: false}\n"
        f"output: {{dir: {tmp_path / 'run'}}}\n"
    )
    env = {**os.environ, "PYTHONPATH": str(copy)}

    def toolkit(*args: str) -> subprocess.CompletedProcess:
        command = [sys.executable, "-m", "toolkit", *args]
        return subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
        )

    checked = toolkit("validate", str(recipe))  # the installed package knows no such task
    assert checked.returncode == 0, checked.stderr

    trained = toolkit("run", str(recipe))
    assert trained.returncode == 0, trained.stderr[-2000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert 0 <= metrics["test"]["accuracy"] <= 1 and metrics["test"]["rows"] == 6

    reported = toolkit("report", str(tmp_path / "run"), "--no-explain")
    assert reported.returncode == 0, reported.stderr[-2000:]
    page = (tmp_path / "run" / "report.html").read_text()
    assert 'id="samples"' in page and "prediction" in page
