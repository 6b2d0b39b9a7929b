"""The architecture of docs/architecture.md, checked: layers import only downwards, no
import circles, thin commands, a library that never prints, tests that mirror the packages.

Imports are read from the source (every ``import`` that runs, lazy ones included;
``if TYPE_CHECKING:`` blocks excluded), so a new module is checked without a list here
changing — unless it starts a package this file does not know, which fails on purpose.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "batchmap"
# Lowest first; a module may import its own layer and the layers below it.
LAYERS: list[tuple[str, ...]] = [
    (
        "batchmap",
        "batchmap.errors",
        "batchmap.times",
        "batchmap.files.atomic",
        "batchmap.files.safe",
    ),
    ("batchmap.aws",),
    ("batchmap.files", "batchmap.runtime"),
    ("batchmap.config", "batchmap.launchplans.inputs"),
    ("batchmap.flyte",),
    ("batchmap.launchplans",),
    ("batchmap.tasks",),
    (
        "batchmap.executions.phase",
        "batchmap.executions.manifest",
        "batchmap.executions.names",
        "batchmap.executions.plan",
        "batchmap.executions.queues",
        "batchmap.executions.execfile",
        "batchmap.executions.items",
        "batchmap.executions.blobs",
    ),
    ("batchmap.backends",),
    ("batchmap.executions", "batchmap.setup"),
    ("batchmap.api",),
    ("batchmap.cli", "batchmap.__main__"),
]
MAX_COMMAND_LINES = 40


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _layer(module: str) -> int:
    best, found = -1, -1
    for number, names in enumerate(LAYERS):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best:
                best, found = len(name), number
    assert found >= 0, f"{module} is in no layer of docs/architecture.md"
    return found


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for n in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("batchmap"):
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else str(node.module))
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("batchmap")}
    return {m for m in found if m in MODULES}


GRAPH = {name: _imports(path) - {name} for name, path in MODULES.items()}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_go_down_the_layers(module: str) -> None:
    mine = _layer(module)
    upward = sorted(m for m in GRAPH[module] if _layer(m) > mine)
    assert not upward, f"{module} (layer {mine}) imports a higher layer: {upward}"


def test_no_import_circles() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in GRAPH[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for node in GRAPH:
        if node not in index:
            visit(node)
    assert circles == []


def test_the_child_runtime_needs_only_the_standard_library() -> None:
    """What runs inside a child's image (child.py, carried inline by the job definition, and
    the contract's names in env.py) imports nothing of batchmap (tests/runtime checks that
    it runs under a bare ``python3 -I -S``); bootstrap.py builds the command, CLI side."""
    for name in ("batchmap.runtime.child", "batchmap.runtime.env"):
        assert GRAPH[name] == set(), name


def test_the_library_never_prints_nor_imports_the_cli() -> None:
    for name, path in MODULES.items():
        if name.startswith(("batchmap.cli", "batchmap.__main__", "batchmap.runtime")):
            continue  # the runtime's entry points print to the child's own stderr
        tree = ast.parse(path.read_text())
        calls = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "print"
        ]
        assert not calls, f"{name} prints"
        assert not any(m.startswith("batchmap.cli") for m in GRAPH[name]), name
        assert "import typer" not in path.read_text() and "import rich" not in path.read_text()


def _command_functions() -> list[tuple[str, ast.FunctionDef]]:
    out = []
    for name, path in MODULES.items():
        if not name.startswith("batchmap.cli."):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and any(
                isinstance(a.annotation, ast.Attribute | ast.Name)
                and ast.unparse(a.annotation).endswith("Context")
                for a in node.args.args
            ):
                out.append((f"{name}.{node.name}", node))
    return out


@pytest.mark.parametrize("command", _command_functions(), ids=lambda c: c[0])
def test_commands_are_thin(command: tuple[str, ast.FunctionDef]) -> None:
    """parse → one library call → render: a command's body (after its docstring) is short."""
    _, node = command
    body = node.body[1:] if isinstance(node.body[0], ast.Expr) else node.body
    lines = sum((getattr(stmt, "end_lineno", stmt.lineno) - stmt.lineno + 1) for stmt in body)
    assert lines <= MAX_COMMAND_LINES


WRITES = {
    "save",
    "put",
    "put_stream",
    "delete",
    "record_relaunch",
    "submit",
    "terminate",
    "cleanup",
}


def test_the_reading_half_never_writes() -> None:
    """Reads never write: no call in executions/reading.py stores or starts anything."""
    tree = ast.parse(MODULES["batchmap.executions.reading"].read_text())
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & WRITES, calls & WRITES


TESTS = Path(__file__).parents[1]
# Folders of tests that cross the packages rather than mirror one (docs/architecture.md).
CROSS_CUTTING = {"architecture", "docs", "e2e"}


def test_tests_mirror_the_packages() -> None:
    """tests/<package>/ tests batchmap/<package>/ and tests/test_<module>.py tests
    batchmap/<module>.py; the cross-cutting folders are the only others."""
    stray = []
    for test in TESTS.rglob("test_*.py"):
        where = test.parent.relative_to(TESTS)
        if where.parts and where.parts[0] in CROSS_CUTTING | {"testdata"}:
            continue
        if not where.parts:
            mirrored = PACKAGE / f"{test.stem.removeprefix('test_')}.py"
        else:
            mirrored = PACKAGE.joinpath(*where.parts)
        if not mirrored.exists():
            stray.append(str(test.relative_to(TESTS.parent)))
    assert not stray, f"tests that mirror no module of batchmap/: {sorted(stray)}"
