"""MIG: analytic cases, parity with disentanglement_lib's formula, bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import mutual_info_score

from lvae.metrics import mig, mutual_info_matrix
from lvae.metrics.utils import histogram_discretize

SIZES = (3, 6, 10, 8, 8)


def _factors(n: int, seed: int, sizes=SIZES) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, sizes, size=(n, len(sizes)))


def _identity_codes(factors: np.ndarray, seed: int, noise_dims: int = 3) -> np.ndarray:
    """The factors themselves, dims shuffled and scaled, plus pure-noise dims."""
    rng = np.random.default_rng(seed)
    k = factors.shape[1]
    scaled = factors * rng.uniform(0.5, 3.0, size=k) + rng.normal(size=k)
    codes = np.concatenate([scaled, rng.normal(size=(factors.shape[0], noise_dims))], axis=1)
    return codes[:, rng.permutation(codes.shape[1])]


def _reference_mig(codes: np.ndarray, factors: np.ndarray, num_bins: int = 20) -> float:
    """disentanglement_lib's discrete_mig written independently, on its (dims, points) layout."""
    mus, ys = codes.T, factors.T
    discretized = np.zeros_like(mus)
    for i in range(mus.shape[0]):
        discretized[i, :] = np.digitize(mus[i, :], np.histogram(mus[i, :], num_bins)[1][:-1])
    m = np.array(
        [
            [mutual_info_score(ys[j], discretized[i]) for j in range(ys.shape[0])]
            for i in range(mus.shape[0])
        ]
    )
    # Factor entropy from class frequencies (disentanglement_lib uses MI(y, y); same value).
    h = np.array(
        [-(q[q > 0] * np.log(q[q > 0])).sum() for q in (np.bincount(y) / y.size for y in ys)]
    )
    sorted_m = np.sort(m, axis=0)[::-1]
    return float(np.mean((sorted_m[0] - sorted_m[1]) / h))


def test_identity_codes_score_high():
    f = _factors(2000, 0)
    assert mig(_identity_codes(f, 1), f)["mig"] > 0.9


def test_constant_codes_score_zero():
    f = _factors(500, 0)
    assert mig(np.ones((500, 6)), f)["mig"] == 0.0


def test_random_codes_score_near_zero():
    f = _factors(2000, 0)
    codes = np.random.default_rng(3).normal(size=(2000, 10))
    assert 0.0 <= mig(codes, f)["mig"] < 0.05


def test_duplicated_code_is_penalised():
    f = _factors(2000, 0)
    codes = f.astype(float)
    single = mig(codes, f)["mig"]
    duplicated = mig(np.concatenate([codes, codes[:, :1]], axis=1), f)["mig"]
    assert single > 0.99
    # The duplicated factor's gap drops to 0; the other four stay near 1.
    assert duplicated == pytest.approx(single - 1 / len(SIZES), abs=0.02)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_reference_formula(seed):
    rng = np.random.default_rng(seed)
    f = _factors(700, seed)
    mixing = rng.normal(size=(f.shape[1], 7))
    codes = np.tanh(f @ mixing / 5) + 0.3 * rng.normal(size=(700, 7))
    assert mig(codes, f)["mig"] == pytest.approx(_reference_mig(codes, f), rel=1e-12, abs=1e-14)
    assert mig(codes, f, num_bins=7)["mig"] == pytest.approx(
        _reference_mig(codes, f, num_bins=7), rel=1e-12, abs=1e-14
    )


def test_discretizer_matches_numpy_bins():
    x = np.random.default_rng(0).normal(size=(300, 2))
    d = histogram_discretize(x, 20)
    assert d.min() == 1 and d.max() == 20  # np.digitize against the 20 left edges
    assert np.array_equal(d[:, 0], np.digitize(x[:, 0], np.histogram(x[:, 0], 20)[1][:-1]))


def test_constant_code_dim_has_zero_mi_and_no_nan():
    f = _factors(400, 0)
    codes = np.concatenate([f.astype(float), np.full((400, 1), 7.5)], axis=1)
    m = mutual_info_matrix(codes, f)
    assert np.all(m[-1] == 0.0)
    assert np.isfinite(mig(codes, f)["mig"])


def test_single_valued_factor_is_skipped_with_warning():
    f = _factors(1000, 0)
    codes = _identity_codes(f, 1)
    with_constant = np.concatenate([np.zeros((1000, 1), dtype=np.int64), f], axis=1)
    with pytest.warns(UserWarning, match=r"skipping factor\(s\) \[0\]"):
        got = mig(codes, with_constant)["mig"]
    assert got == mig(codes, f)["mig"]


def test_all_factors_single_valued_raises():
    with pytest.raises(ValueError, match="every factor in factors takes a single value"):
        mig(np.random.default_rng(0).normal(size=(100, 3)), np.zeros((100, 2), dtype=np.int64))


def test_same_input_same_number():
    f = _factors(500, 4)
    codes = _identity_codes(f, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert mig(codes, f) == mig(codes.copy(), f.copy())


@pytest.mark.parametrize(
    ("codes", "factors", "match"),
    [
        (np.zeros((10, 3)), np.zeros((9, 2), dtype=int), "codes has 10 points but factors has 9"),
        (np.zeros((30, 3)), np.zeros((30, 2)), "factors must hold integer class indices"),
        (np.zeros((30, 3)), -np.ones((30, 2), dtype=int), "factors must be non-negative"),
        (np.full((30, 3), np.nan), np.zeros((30, 2), dtype=int), "codes must be finite"),
        (np.full((30, 3), np.inf), np.zeros((30, 2), dtype=int), "codes must be finite"),
        (np.zeros(30), np.zeros((30, 2), dtype=int), "codes must be a 2-D array"),
        (np.zeros((30, 3)), np.zeros((30, 2, 1), dtype=int), "factors must be a 2-D array"),
        (np.zeros((10, 3)), np.ones((10, 2), dtype=int), "fewer than num_bins=20"),
        (np.zeros((30, 1)), np.ones((30, 2), dtype=int), "at least 2 code dims"),
    ],
)
def test_bad_input_raises(codes, factors, match):
    with pytest.raises(ValueError, match=match):
        mig(codes, factors)


def test_bad_num_bins_raises():
    with pytest.raises(ValueError, match="num_bins must be an integer >= 2"):
        mig(np.zeros((30, 3)), np.ones((30, 2), dtype=int), num_bins=1)
