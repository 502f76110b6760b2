"""No import cycles in longvideo_runtime: every import counts, at module level, inside functions, under TYPE_CHECKING,
and importlib.import_module / __import__ of a literal name."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from conftest import SRC

PACKAGE = "longvideo_runtime"


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    in_function: bool

    def describe(self) -> str:
        where = "inside a function" if self.in_function else "at module level"
        return f"{self.source} imports {self.target} (line {self.line}, {where})"


def modules(root: Path, package: str) -> dict[str, Path]:
    """Every module and package of `package` under `root`, by dotted name."""
    found: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _prefixes(name: str, known: dict[str, Path]) -> list[str]:
    """`a.b.c` and the packages importing it imports first (a, a.b), those that are modules of the tree."""
    parts = name.split(".")
    return [p for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if p in known]


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str:
    if level == 0:
        return name or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def _literal_import(node: ast.Call) -> str | None:
    """The module named by importlib.import_module("x") or __import__("x")."""
    func = node.func
    named = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
        isinstance(func, ast.Name) and func.id in {"import_module", "__import__"}
    )
    if named and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
        return node.args[0].value
    return None


def _walk(node: ast.AST, module: str, is_package: bool, known: dict[str, Path], in_function: bool) -> Iterator[Edge]:
    for child in ast.iter_child_nodes(node):
        inside = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        targets: list[str] = []
        if isinstance(child, ast.Import):
            for alias in child.names:
                targets += _prefixes(alias.name, known)
        elif isinstance(child, ast.ImportFrom):
            base = _resolve(module, is_package, child.level, child.module)
            targets += _prefixes(base, known)
            targets += [f"{base}.{a.name}" for a in child.names if f"{base}.{a.name}" in known]
        elif isinstance(child, ast.Call) and (name := _literal_import(child)) is not None:
            targets += _prefixes(name, known)
        for target in dict.fromkeys(targets):
            if target != module:
                yield Edge(module, target, getattr(child, "lineno", 0), inside)
        yield from _walk(child, module, is_package, known, inside)


def imports(known: dict[str, Path]) -> list[Edge]:
    """Every import between modules of the tree (a module importing itself excepted)."""
    edges: list[Edge] = []
    for module, path in known.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        edges += _walk(tree, module, path.name == "__init__.py", known, False)
    return edges


def cycles(edges: list[Edge]) -> list[list[Edge]]:
    """One cycle per strongly connected component of more than one module (Tarjan), as the edges that close it."""
    graph: dict[str, list[Edge]] = {}
    for edge in edges:
        graph.setdefault(edge.source, []).append(edge)
        graph.setdefault(edge.target, [])
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for edge in graph[node]:
            if edge.target not in index:
                connect(edge.target)
                low[node] = min(low[node], low[edge.target])
            elif edge.target in on_stack:
                low[node] = min(low[node], index[edge.target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)

    found: list[list[Edge]] = []
    for component in components:
        members, start = set(component), component[0]
        # Breadth-first from start, inside the component, back to start: the shortest cycle through it.
        paths: dict[str, list[Edge]] = {start: []}
        queue = [start]
        cycle: list[Edge] | None = None
        while queue and cycle is None:
            node = queue.pop(0)
            for edge in graph[node]:
                if edge.target == start:
                    cycle = [*paths[node], edge]
                    break
                if edge.target in members and edge.target not in paths:
                    paths[edge.target] = [*paths[node], edge]
                    queue.append(edge.target)
        assert cycle is not None
        found.append(cycle)
    return found


def describe(cycle: list[Edge]) -> str:
    chain = " -> ".join([cycle[0].source, *(e.target for e in cycle)])
    return f"import cycle {chain}: " + "; ".join(e.describe() for e in cycle)


def test_no_import_cycles_in_the_worker() -> None:
    known = modules(SRC, PACKAGE)
    assert f"{PACKAGE}.cli" in known and f"{PACKAGE}.svi.backend" in known
    found = [describe(c) for c in cycles(imports(known))]
    assert not found, "\n".join(found)


def test_the_layout_and_the_registry_replace_the_old_back_imports() -> None:
    edges = imports(modules(SRC, PACKAGE))
    direct = {(e.source, e.target) for e in edges}
    assert (f"{PACKAGE}.concat", f"{PACKAGE}.segment") not in direct, "concat takes the layout from workspace_layout"
    # concat takes the chain (and so the layout) from film_chain; every reader of attempt directories, from attempts.
    assert (f"{PACKAGE}.concat", f"{PACKAGE}.film_chain") in direct
    for user in ("segment", "film_chain", "attempts", "handoff", "spec"):
        assert (f"{PACKAGE}.{user}", f"{PACKAGE}.workspace_layout") in direct
    for reader in ("segment", "handoff", "film_chain"):
        assert (f"{PACKAGE}.{reader}", f"{PACKAGE}.attempts") in direct
    # Backends import the render types; only the registry imports the backends (inside its factories).
    for backend in ("animatic", "svi.backend"):
        assert (f"{PACKAGE}.{backend}", f"{PACKAGE}.rendering") in direct
        assert (f"{PACKAGE}.{backend}", f"{PACKAGE}.backends") not in direct
        importers = {e.source for e in edges if e.target == f"{PACKAGE}.{backend}"}
        assert importers == {f"{PACKAGE}.backends"}
        assert all(e.in_function for e in edges if e.target == f"{PACKAGE}.{backend}")


def write_package(root: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in {"__init__.py": "", **files}.items():
        (root / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "pkg" / name).write_text(text)
    return modules(root, "pkg")


def test_a_cycle_closed_inside_a_function_is_found_and_named(tmp_path: Path) -> None:
    known = write_package(
        tmp_path,
        {
            "a.py": "from pkg.b import helper\n",
            "b.py": "def helper():\n    from pkg import a\n    return a\n",
            "c.py": "import pkg.a\n",
        },
    )
    found = cycles(imports(known))
    assert len(found) == 1
    message = describe(found[0])
    assert message.startswith("import cycle pkg.a -> pkg.b -> pkg.a")
    assert "pkg.b imports pkg.a (line 2, inside a function)" in message


def test_relative_and_dynamic_imports_count(tmp_path: Path) -> None:
    known = write_package(
        tmp_path,
        {
            "sub/__init__.py": "",
            "sub/x.py": "from ..y import z\n",
            "y.py": "import importlib\n\ndef z():\n    return importlib.import_module('pkg.sub.x')\n",
            "ok.py": "from . import y\n",
        },
    )
    edges = {(e.source, e.target) for e in imports(known)}
    assert ("pkg.sub.x", "pkg.y") in edges and ("pkg.ok", "pkg.y") in edges
    assert [[e.source for e in c] for c in cycles(imports(known))] == [["pkg.sub.x", "pkg.y"]]
