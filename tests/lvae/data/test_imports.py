"""lvae.data's import structure: loaders register into a registry that imports none of them.

A cycle (registry -> loader -> registry) works only as long as every import of it stays
inside a function; these tests fail as soon as one does not, and check that each loader
can be the first module a program imports.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers.import_graph import find_cycle
from helpers.import_graph import import_graph as graph_of
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


def import_graph() -> dict[str, set[str]]:
    """Every import in lvae/data, at module level or inside functions, as module -> modules."""
    return graph_of(DATA.glob("*.py"), REPO)


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
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("module", sorted(LOADERS))
def test_each_loader_imports_first_in_a_fresh_interpreter(module: str) -> None:
    _run(f"import {PACKAGE}.{module} as m\n"
         f"from {PACKAGE}.registry import DATASETS\n"
         f"assert {LOADERS[module]!r} in DATASETS, sorted(DATASETS)")


def test_registry_first_then_names_without_torch() -> None:
    """The registry alone registers nothing; listing the names loads every loader, and
    neither pulls in torch (dataset memory is measured in
    tests/lvae/data/test_loaders_dsprites.py)."""
    loaders = [f"{PACKAGE}.{m}" for m in LOADERS]
    _run(f"import sys\nfrom {PACKAGE}.registry import DATASETS\n"
         f"assert not DATASETS and not [m for m in {loaders!r} if m in sys.modules]\n"
         f"from {PACKAGE} import dataset_names\n"
         f"assert set({sorted(LOADERS.values())!r}) <= set(dataset_names()), dataset_names()\n"
         "assert 'torch' not in sys.modules")
