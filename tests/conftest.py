"""Session-wide settings: Ray runs without auth/telemetry in a short temp dir, and the
procedural dSprites cache is shared by every test (and every test run) that needs it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from helpers.sweep_helpers import run_sweep, smoke_args

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_TMPDIR", tempfile.mkdtemp(prefix="rt", dir="/tmp"))
os.environ.setdefault("LVAE_DATA", str(REPO / ".cache" / "data"))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(scope="session")
def data_root() -> Path:
    """The data root shared by tests that need the real procedural dSprites grid."""
    root = Path(os.environ["LVAE_DATA"])
    root.mkdir(parents=True, exist_ok=True)
    return root


@pytest.fixture()
def toy_dataset():
    from helpers.toy_data import ToySquares, register

    register()
    return ToySquares()


@pytest.fixture(scope="session")
def cluster(data_root):
    """One real multi-node Ray cluster for the session: a head with one CPU and a worker
    with one CPU and one logical GPU."""
    from ray.cluster_utils import Cluster

    from lvae.data import get_dataset

    get_dataset("dsprites_procedural", data_root)  # build the shared cache once, up front
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1, num_gpus=1)
    c.wait_for_nodes()
    yield c
    c.shutdown()


@pytest.fixture(scope="session")
def smoke_experiment(cluster, tmp_path_factory):
    """A real ``lvae_reg`` smoke sweep, with its report: (experiment folder, process)."""
    storage = tmp_path_factory.mktemp("smoke")
    args = smoke_args(storage, "smoke", cluster, "--max-concurrent", "2")
    args.remove("--no-report")
    proc = run_sweep(args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "smoke", proc
