"""SAP: analytic codes, parity with disentanglement_lib's discrete score matrix, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import svm

from lvae.metrics import sap
from lvae.metrics.sap import avg_top_two_gap, sap_score_matrix

SIZES = (2, 3, 2, 4)


def _factors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, SIZES, size=(n, len(SIZES)))


def _reference_sap(mus, ys, mus_test, ys_test) -> float:
    """disentanglement_lib's continuous_factors=False branch on its (dims, points) layout."""
    mus, ys, mus_test, ys_test = mus.T, ys.T, mus_test.T, ys_test.T
    m = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            clf = svm.LinearSVC(C=0.01, class_weight="balanced")
            clf.fit(mus[i, :][:, np.newaxis], ys[j, :])
            pred = clf.predict(mus_test[i, :][:, np.newaxis])
            m[i, j] = np.mean(pred == ys_test[j, :])
    s = np.sort(m, axis=0)
    return float(np.mean(s[-1, :] - s[-2, :]))


def test_identity_binary_factors_score_high():
    rng = np.random.default_rng(0)
    ftr, fte = rng.integers(0, 2, size=(300, 3)), rng.integers(0, 2, size=(150, 3))
    noise = rng.normal(size=(300, 2)), rng.normal(size=(150, 2))
    out = sap(
        np.concatenate([3 * ftr, noise[0]], axis=1), ftr,
              np.concatenate([3 * fte, noise[1]], axis=1), fte
    )
    assert out["sap"] > 0.4  # best code 1.0, runner-up about 0.5


def test_random_and_constant_codes_score_near_zero():
    ftr, fte = _factors(300, 0), _factors(150, 1)
    rng = np.random.default_rng(1)
    assert sap(rng.normal(size=(300, 5)), ftr, rng.normal(size=(150, 5)), fte)["sap"] < 0.1
    assert sap(np.ones((300, 5)), ftr, np.ones((150, 5)), fte)["sap"] == 0.0


def test_duplicated_code_removes_the_gap():
    rng = np.random.default_rng(0)
    ftr, fte = rng.integers(0, 2, size=(300, 2)), rng.integers(0, 2, size=(150, 2))
    single = sap(ftr.astype(float), ftr, fte.astype(float), fte)["sap"]
    dup = sap(ftr[:, [0, 0, 1]].astype(float), ftr, fte[:, [0, 0, 1]].astype(float), fte)["sap"]
    assert single > 0.4
    assert dup == pytest.approx(single / 2, abs=0.05)


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_reference(seed):
    rng = np.random.default_rng(seed)
    ftr, fte = _factors(200, seed), _factors(100, seed + 10)
    mix = rng.normal(size=(len(SIZES), 4))
    ctr = np.tanh(ftr @ mix) + 0.3 * rng.normal(size=(200, 4))
    cte = np.tanh(fte @ mix) + 0.3 * rng.normal(size=(100, 4))
    assert sap(ctr, ftr, cte, fte)["sap"] == pytest.approx(_reference_sap(ctr, ftr, cte, fte),
                                                           abs=1e-12)


def test_top_two_gap():
    m = np.array([[0.9, 0.2], [0.5, 0.6], [0.1, 0.7]])
    assert avg_top_two_gap(m) == pytest.approx(((0.9 - 0.5) + (0.7 - 0.6)) / 2)


def test_score_matrix_shape_and_range():
    ftr = _factors(100, 0)
    m = sap_score_matrix(ftr.astype(float), ftr, ftr.astype(float), ftr)
    assert m.shape == (4, 4) and ((m >= 0) & (m <= 1)).all()


def test_single_valued_factor_is_skipped_with_warning():
    ftr, fte = _factors(200, 0), _factors(100, 1)
    ctr, cte = ftr.astype(float), fte.astype(float)
    wtr = np.concatenate([np.zeros((200, 1), dtype=int), ftr], axis=1)
    wte = np.concatenate([np.zeros((100, 1), dtype=int), fte], axis=1)
    with pytest.warns(UserWarning, match="skipping factor"):
        assert sap(ctr, wtr, cte, wte) == sap(ctr, ftr, cte, fte)


@pytest.mark.parametrize(
    ("index", "value", "match"),
    [
        (1, np.zeros((49, 4), dtype=int), "codes_train has 50 points but factors_train has 49"),
        (1, np.full((50, 4), 0.5), "factors_train must hold integer class indices"),
        (3, -np.ones((50, 4), dtype=int), "factors_test must be non-negative"),
        (0, np.full((50, 4), np.inf), "codes_train must be finite"),
        (2, np.zeros(50), "codes_test must be a 2-D array"),
        (0, np.zeros((50, 1)), "at least 2 code dims"),
    ],
)
def test_bad_input_raises(index, value, match):
    f = _factors(50, 0)
    args = [f.astype(float), f, f.astype(float), f]
    args[index] = value
    if index == 0 and value.shape == (50, 1):
        args[2] = np.zeros((50, 1))
    with pytest.raises(ValueError, match=match):
        sap(*args)
