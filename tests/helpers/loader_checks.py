"""Checks shared by the dataset loaders' tests (tests/lvae/data/test_loaders_*.py)."""

from __future__ import annotations

import numpy as np

from helpers import data_fixtures as fx


def assert_round_trip(ds) -> None:
    """factors_of enumerates the grid in C order and index_of inverts it."""
    idx = np.arange(len(ds))
    factors = ds.factors_of(idx)
    np.testing.assert_array_equal(factors, fx.c_order_classes(ds.factor_sizes))
    np.testing.assert_array_equal(ds.index_of(factors), idx)


def assert_error(excinfo, *parts: object) -> None:
    msg = str(excinfo.value)
    for part in parts:
        assert str(part) in msg, f"{part!r} not in error message: {msg}"


def swap_rows(a: np.ndarray, i: int, j: int) -> np.ndarray:
    a = a.copy()
    a[[i, j]] = a[[j, i]]
    return a
