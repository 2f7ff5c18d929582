"""Session-wide settings: Ray runs without auth/telemetry in a short temp dir, and the
procedural dSprites cache is shared by every test (and every test run) that needs it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

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
    from toy_data import ToySquares, register

    register()
    return ToySquares()
