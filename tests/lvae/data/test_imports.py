"""lvae.data's import structure: loaders register into a registry that imports none of them.

A cycle (registry -> loader -> registry) works only as long as every import of it stays
inside a function; these tests fail as soon as one does not, and check that each loader
can be the first module a program imports.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import REPO

DATA = REPO / "lvae" / "data"
PACKAGE = "lvae.data"
#: loader module -> a dataset it registers
LOADERS = {
    "celeba": "celeba",
    "dsprites": "dsprites",
    "dsprites_procedural": "dsprites_procedural",
    "falcor3d": "falcor3d",
    "isaac3d": "isaac3d",
    "mpi3d": "mpi3d_toy",
    "shapes3d": "shapes3d",
}


def _module_name(path: Path) -> str:
    return PACKAGE if path.name == "__init__.py" else f"{PACKAGE}.{path.stem}"


def _targets(node: ast.AST, modules: set[str]) -> list[str]:
    """The lvae.data modules one import statement loads (``from lvae.data import x``
    loads the submodule ``x`` where there is one, else the package)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in modules]
    if isinstance(node, ast.ImportFrom) and node.module in modules:
        subs = [f"{node.module}.{a.name}" for a in node.names]
        found = [s for s in subs if s in modules]
        return found if len(found) == len(subs) else [node.module, *found]
    return []


def import_graph() -> dict[str, set[str]]:
    """Every import in lvae/data, at module level or inside functions, as module -> modules."""
    files = {_module_name(p): p for p in sorted(DATA.glob("*.py"))}
    modules = set(files)
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = {t for node in ast.walk(tree) for t in _targets(node, modules) if t != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            return cycle
    return None


def test_find_cycle_sees_a_cycle_inside_functions_too() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle_in_lvae_data() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.registry" in graph and f"{PACKAGE}.celeba" in graph[f"{PACKAGE}.catalog"]
    assert find_cycle(graph) is None


def test_registry_imports_no_loader() -> None:
    reached, todo = set(), [f"{PACKAGE}.registry"]
    graph = import_graph()
    while todo:
        for nxt in graph[todo.pop()] - reached:
            reached.add(nxt)
            todo.append(nxt)
    assert not reached & {f"{PACKAGE}.{m}" for m in LOADERS}


def _run(code: str) -> None:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("module", sorted(LOADERS))
def test_each_loader_imports_first_in_a_fresh_interpreter(module: str) -> None:
    _run(f"import {PACKAGE}.{module} as m\n"
         f"from {PACKAGE}.registry import DATASETS\n"
         f"assert {LOADERS[module]!r} in DATASETS, sorted(DATASETS)")


def test_registry_first_then_names_without_torch() -> None:
    """The registry alone registers nothing; listing the names loads every loader, and
    neither pulls in torch (dataset memory is measured in tests/lvae/data/test_loaders.py)."""
    loaders = [f"{PACKAGE}.{m}" for m in LOADERS]
    _run(f"import sys\nfrom {PACKAGE}.registry import DATASETS\n"
         f"assert not DATASETS and not [m for m in {loaders!r} if m in sys.modules]\n"
         f"from {PACKAGE} import dataset_names\n"
         f"assert set({sorted(LOADERS.values())!r}) <= set(dataset_names()), dataset_names()\n"
         "assert 'torch' not in sys.modules")
