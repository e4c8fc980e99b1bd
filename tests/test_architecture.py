"""The package's shape, checked over the source with ``ast`` (nothing here imports conv1d_cli).

- no import cycle among conv1d_cli's modules, function-level imports counted;
- no private name (``_x``) imported from, or read off, another module of this repository;
- few top-level modules, no module over 400 lines, no threads or processes in the engine (nn/);
- every package's ``__init__`` docstring names each of its modules and subpackages.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "conv1d_cli"
CHECKED_DIRS = ("conv1d_cli", "benchmarks", "tests")  # where private imports are looked for
MAX_TOP_LEVEL_MODULES = 6
MAX_LINES = 400
# ctypes stays allowed: nn/blas.py calls the BLAS gemm through it (computation, not processes).
NN_FORBIDDEN_IMPORTS = ("multiprocessing", "threading")


def module_name(path: Path, root: Path = ROOT) -> str:
    """conv1d_cli/config/loader.py -> conv1d_cli.config.loader; a package's __init__ -> its name."""
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def package_modules() -> dict[str, Path]:
    """Every module of conv1d_cli by dotted name (packages by their __init__)."""
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


@cache
def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement, at module level or inside functions and classes, except those
    under ``if TYPE_CHECKING:`` (never run, so they cannot take part in a cycle)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            children: list[ast.AST] = list(node.orelse)
        else:
            children = list(ast.iter_child_nodes(node))
        for child in children:
            visit(child)

    visit(tree)
    return found


def absolute_from(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The module a ``from ... import`` reads from, relative imports resolved."""
    if not node.level:
        return node.module or ""
    parts = importer.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


# ======================================================================== import cycles
@dataclass(frozen=True)
class Edge:
    target: str
    line: int


def import_graph() -> dict[str, list[Edge]]:
    """conv1d_cli module -> the conv1d_cli modules it imports, with the line of each import.

    ``from conv1d_cli.x import y`` is an edge to ``conv1d_cli.x.y`` when that is a module, else
    to ``conv1d_cli.x`` (a package edge means its ``__init__``). ``import conv1d_cli.a.b`` is an
    edge to ``conv1d_cli.a.b``.

    The parent packages an import also initialises (``conv1d_cli.a`` before ``conv1d_cli.a.b``)
    are not edges: Python starts a package's ``__init__`` before any module inside it, so by the
    time a module runs its parents are already initialised or initialising, and a child never
    waits on them through that implied import. Counting it would call every ``__init__`` that
    re-exports its own modules (config/__init__ -> config.loader -> config) a cycle. A module
    that does read a name from a parent's ``__init__`` says so with an explicit
    ``from conv1d_cli.a import name``, and that is an edge.
    """
    modules = package_modules()
    graph: dict[str, list[Edge]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, [])
        is_package = path.name == "__init__.py"
        for node in import_nodes(parse(path)):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                source = absolute_from(node, name, is_package)
                targets = [
                    f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source
                    for a in node.names
                ]
            for target in targets:
                if target in modules and target != name:
                    edges.append(Edge(target, node.lineno))
    return graph


def find_cycle(graph: dict[str, list[Edge]]) -> list[tuple[str, int]] | None:
    """One cycle as [(module, line of its import of the next one), ...], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[tuple[str, int]] = []

    def visit(name: str) -> list[tuple[str, int]] | None:
        state[name] = 1
        for edge in graph.get(name, []):
            path.append((name, edge.line))
            if state.get(edge.target) == 1:
                start = next(i for i, (n, _) in enumerate(path) if n == edge.target)
                return path[start:]
            if edge.target not in state and (cycle := visit(edge.target)):
                return cycle
            path.pop()
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state and (cycle := visit(name)):
            return cycle
    return None


def describe_cycle(cycle: list[tuple[str, int]]) -> str:
    steps = [f"{name} (line {line})" for name, line in cycle]
    return " -> ".join([*steps, cycle[0][0]])


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, f"import cycle: {describe_cycle(cycle)}"


def test_the_cycle_finder_finds_one():
    # The checker itself: a three-module ring, reached from outside it, is reported in order.
    graph = {
        "a": [Edge("b", 1)],
        "b": [Edge("c", 2)],
        "c": [Edge("d", 3), Edge("b", 4)],
        "d": [],
    }
    assert find_cycle(graph) == [("b", 2), ("c", 4)]
    assert describe_cycle([("b", 2), ("c", 4)]) == "b (line 2) -> c (line 4) -> b"
    graph["c"] = [Edge("d", 3)]
    assert find_cycle(graph) is None


# ======================================================================== private names
def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


@cache
def checked_files() -> list[Path]:
    return sorted(p for d in CHECKED_DIRS for p in (ROOT / d).rglob("*.py"))


@cache
def repo_modules() -> frozenset[str]:
    """The names this repository's modules are imported by: conv1d_cli's dotted names, and
    benchmarks' and tests' modules both bare (they put their folder on sys.path) and dotted."""
    names = set(package_modules())
    for folder in ("benchmarks", "tests"):
        for path in (ROOT / folder).glob("*.py"):
            names |= {path.stem, f"{folder}.{path.stem}"}
    return frozenset(names)


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` -> ['a', 'b', 'c'] for a chain of names, else None."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def private_uses(path: Path, root: Path = ROOT) -> list[str]:
    """``from m import _x`` and ``mod._x`` (mod bound to one of this repository's modules by an
    import) in one file, as 'file:line: text'."""
    tree, repo = parse(path), repo_modules()
    name = module_name(path, root)
    is_package = path.name == "__init__.py"
    where = path.relative_to(root)
    found: list[str] = []
    bound: dict[str, str] = {}  # a name an import binds -> the repository module it holds
    for node in import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in repo:
                    bound[alias.asname] = alias.name
                elif not alias.asname and alias.name.split(".")[0] in repo:
                    top = alias.name.split(".")[0]
                    bound[top] = top
            continue
        source = absolute_from(node, name, is_package)
        for alias in node.names:
            if _is_private(alias.name):
                found.append(f"{where}:{node.lineno}: from {source} import {alias.name}")
            if f"{source}.{alias.name}" in repo:
                bound[alias.asname or alias.name] = f"{source}.{alias.name}"
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Attribute) and _is_private(node.attr)):
            continue
        chain = _dotted(node.value)
        if chain and chain[0] in bound:
            module = ".".join([bound[chain[0]], *chain[1:]])
            if module in repo:
                found.append(f"{where}:{node.lineno}: {'.'.join(chain)}.{node.attr} ({module})")
    return found


def test_no_private_name_crosses_modules():
    found = [use for path in checked_files() for use in private_uses(path)]
    assert not found, f"{len(found)} private names used across modules:\n" + "\n".join(found)


def test_the_private_name_check_sees_both_forms(tmp_path):
    # The checker itself, on a file that does each thing once (and two things that are fine).
    source = tmp_path / "conv1d_cli" / "probe.py"
    source.parent.mkdir()
    source.write_text(
        "from conv1d_cli.config.loader import _parse_override, __doc__\n"
        "from conv1d_cli.nn import functional as fn\n"
        "import conv1d_cli.config.yamlio\n"
        "def f(obj):\n"
        "    from conv1d_cli.config import loader\n"
        "    return fn._private, loader._get, conv1d_cli.config.yamlio._INT, obj._fine\n"
    )
    found = private_uses(source, root=tmp_path)
    assert [use.split(": ", 1)[1] for use in found] == [
        "from conv1d_cli.config.loader import _parse_override",
        "fn._private (conv1d_cli.nn.functional)",
        "loader._get (conv1d_cli.config.loader)",
        "conv1d_cli.config.yamlio._INT (conv1d_cli.config.yamlio)",
    ]


# ======================================================================== size and shape
def test_few_top_level_modules():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= MAX_TOP_LEVEL_MODULES, f"{len(top)} modules in conv1d_cli/: {top}"


def test_no_module_over_the_line_limit():
    lines = {p: len(p.read_text(encoding="utf-8").splitlines()) for p in PACKAGE.rglob("*.py")}
    long = [f"{p.relative_to(ROOT)}: {n} lines" for p, n in sorted(lines.items()) if n > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines: " + "; ".join(long)


def test_the_engine_starts_no_threads_or_processes():
    # nn/ is the single-threaded engine; workers, shared memory and allocator tuning live in
    # parallel/, which drives it.
    found = []
    for path in sorted((PACKAGE / "nn").rglob("*.py")):
        where = path.relative_to(ROOT)
        for node in import_nodes(parse(path)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            found += [
                f"{where}:{node.lineno}: imports {n}"
                for n in names
                if n and n.split(".")[0] in NN_FORBIDDEN_IMPORTS
            ]
        if "mallopt" in path.read_text(encoding="utf-8"):
            found.append(f"{where}: mentions mallopt")
    assert not found, "; ".join(found)


def test_no_module_getattr_but_the_public_api():
    # A module-level __getattr__ hides where names live; the one allowed is conv1d_cli's own,
    # which loads load_model and Conv1dClassifier lazily (the cycle test sees its imports).
    found = [
        str(path.relative_to(ROOT))
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in parse(path).body
        if isinstance(node, ast.FunctionDef) and node.name == "__getattr__"
    ]
    assert found == ["conv1d_cli/__init__.py"]


def _packages() -> list[Path]:
    return sorted(p.parent for p in PACKAGE.rglob("__init__.py"))


@pytest.mark.parametrize("package", _packages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_package_docstring_names_its_parts(package):
    doc = ast.get_docstring(parse(package / "__init__.py")) or ""
    parts = [p.stem for p in package.glob("*.py") if p.name != "__init__.py"]
    parts += [p.name for p in package.iterdir() if (p / "__init__.py").is_file()]
    missing = sorted(p for p in parts if not re.search(rf"(?<!\w){re.escape(p)}(?!\w)", doc))
    assert not missing, f"{package.relative_to(ROOT)}/__init__.py docstring does not name {missing}"
