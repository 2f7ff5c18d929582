"""The import graph of Python files, read with ``ast`` (nothing is imported), and its cycles.

An edge ``a -> b`` means module ``a`` runs an import of module ``b``, at module level or
inside a function (a lazy import hides a cycle until the day it moves up). The rule for
packages: ``from pkg import sub`` where ``pkg.sub`` is a module is an edge to ``pkg.sub``
only; an import of a name that is not a submodule (``from pkg import f``) is an edge to
``pkg`` itself, whose ``__init__`` defines or re-exports it. The implicit run of a parent
package's ``__init__`` is not an edge, so a package ``__init__`` that imports its own
submodules is no cycle as long as those submodules import each other by their full names
(``from pkg.step import f``) and never the package's names (``from pkg import f``), which
is the import that breaks when the package is imported first. Imports under
``if TYPE_CHECKING:`` never run and are left out.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    """``root/lvae/train/__init__.py`` -> ``lvae.train``, ``root/lvae/device.py`` ->
    ``lvae.device``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """The module a (possibly relative) ``from ... import`` names."""
    if not node.level:
        return node.module or ""
    base = name.split(".")
    base = base[: len(base) - node.level + (1 if is_package else 0)]
    return ".".join([*base, node.module] if node.module else base)


def _targets(node: ast.AST, name: str, is_package: bool, modules: set[str]) -> list[str]:
    """The modules (of ``modules``) one import statement in module ``name`` loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    if not isinstance(node, ast.ImportFrom):
        return []
    source = _absolute(node, name, is_package)
    subs = [f"{source}.{a.name}" for a in node.names]
    found = [s for s in subs if s in modules]
    if len(found) == len(subs):
        return found
    return [source, *found] if source in modules else found


def _type_checking_only(tree: ast.AST) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    skip = set()
    for node in ast.walk(tree):
        test = getattr(node, "test", None)
        name = getattr(test, "id", getattr(test, "attr", None))
        if isinstance(node, ast.If) and name == "TYPE_CHECKING":
            skip |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return skip


def import_graph(files: Iterable[Path], root: Path) -> dict[str, set[str]]:
    """module -> the modules among ``files`` it imports (anywhere in its source)."""
    paths = {module_name(p, root): p for p in sorted(files)}
    modules = set(paths)
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(), str(path))
        skip, is_package = _type_checking_only(tree), path.name == "__init__.py"
        graph[name] = {
            t for node in ast.walk(tree) if id(node) not in skip
            for t in _targets(node, name, is_package, modules) if t != name
        }
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first == last), or None."""
    cycles = find_cycles(graph)
    return cycles[0] if cycles else None


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles (first == last), each sharing no module with one found before: fixing
    them all leaves none (a depth-first search over the modules in sorted order)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []
    seen_in_cycle: set[str] = set()

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycle = [*path[path.index(nxt):], nxt]
                if not seen_in_cycle & set(cycle):
                    cycles.append(cycle)
                seen_in_cycle.update(cycle)
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    return cycles
