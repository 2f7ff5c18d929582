"""No import cycle anywhere in lvae, sweeps, analysis or benchmarks.

The graph is read with ``ast`` from every module's source, imports inside functions
included: a lazy import keeps a cycle working only until it moves to the top of its
module, and ``python -m pkg.mod`` runs a module twice (as ``__main__`` and under its
name) when something it imports imports it back.

The rule for packages (tests/helpers/import_graph.py): ``from pkg import sub`` of a
submodule is an edge to ``pkg.sub``, an import of any other name is an edge to ``pkg``;
the implicit run of a parent package's ``__init__`` is no edge. So a package whose
``__init__`` re-exports its submodules' names is not a cycle, as long as the submodules
import one another by full name (``from lvae.train.step import train_step``) and never
the package's own names (``from lvae.train import train_step``), the import that fails
when the submodule is imported first. ``if TYPE_CHECKING:`` imports never run and are
left out.
"""

from __future__ import annotations

from helpers.import_graph import find_cycles, import_graph
from helpers.paths import REPO

PACKAGES = ("lvae", "sweeps", "analysis", "benchmarks")


def _graph() -> dict[str, set[str]]:
    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]
    return import_graph(files, REPO)


def test_the_graph_sees_lazy_and_package_imports() -> None:
    graph = _graph()
    assert {"lvae.train", "lvae.evaluate", "sweeps.run", "benchmarks.bench_gpu"} <= set(graph)
    assert "lvae.metrics.registry" in graph["lvae.evaluate"]  # imported inside functions
    assert "lvae.train" in graph["sweeps.trainable"]


def test_find_cycles_names_each_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"d2"}, "d2": {"d"}}) == [
        ["a", "b", "c", "a"], ["d", "d2", "d"],
    ]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle() -> None:
    cycles = find_cycles(_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)
