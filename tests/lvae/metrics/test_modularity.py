"""Modularity and explicitness: hand-built MI matrices, parity with disentanglement_lib."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import mutual_info_score, roc_auc_score
from sklearn.preprocessing import MultiLabelBinarizer

from lvae.metrics import modularity_explicitness
from lvae.metrics.modularity import modularity_from_mi

SIZES = (3, 4, 5)


def _factors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, SIZES, size=(n, len(SIZES)))


def _reference(mus_train, ys_train, mus_test, ys_test, num_bins=20) -> tuple[float, float, float]:
    """disentanglement_lib's modularity_explicitness restated on its (dims, points) layout."""
    mus_train, ys_train, mus_test, ys_test = mus_train.T, ys_train.T, mus_test.T, ys_test.T
    disc = np.zeros_like(mus_train)
    for i in range(mus_train.shape[0]):
        disc[i] = np.digitize(mus_train[i], np.histogram(mus_train[i], num_bins)[1][:-1])
    mi = np.array(
        [
            [mutual_info_score(ys_train[j], disc[i]) for j in range(ys_train.shape[0])]
            for i in range(disc.shape[0])
        ]
    )
    sq = np.square(mi)
    mx = np.max(sq, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = 1.0 - (np.sum(sq, axis=1) - mx) / (mx * (sq.shape[1] - 1.0))
    score[mx == 0.0] = 0.0
    mean, std = mus_train.mean(axis=1), mus_train.std(axis=1)
    xtr = ((mus_train - mean[:, None]) / std[:, None]).T
    xte = ((mus_test - mean[:, None]) / std[:, None]).T
    tr, te = [], []
    for j in range(ys_train.shape[0]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = LogisticRegression().fit(xtr, ys_train[j])
        mlb = MultiLabelBinarizer()
        tr.append(
            roc_auc_score(mlb.fit_transform(np.expand_dims(ys_train[j], 1)), clf.predict_proba(xtr))
        )
        te.append(
            roc_auc_score(mlb.fit_transform(np.expand_dims(ys_test[j], 1)), clf.predict_proba(xte))
        )
    return float(np.mean(score)), float(np.mean(te)), float(np.mean(tr))


def test_modularity_closed_forms():
    assert modularity_from_mi(np.eye(3)) == pytest.approx(1.0)
    # A code with equal MI on two of three factors: delta = m^2 / (2 m^2) = 0.5.
    assert modularity_from_mi(np.array([[0.4, 0.4, 0.0]])) == pytest.approx(0.5)
    # A code with no information scores 0 (not NaN), as in disentanglement_lib.
    assert modularity_from_mi(np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])) == pytest.approx(0.5)
    assert modularity_from_mi(np.ones((2, 4))) == pytest.approx(0.0)


def test_identity_codes_score_high():
    ftr, fte = _factors(400, 0), _factors(200, 1)
    out = modularity_explicitness(2.0 * ftr + 1, ftr, 2.0 * fte + 1, fte)
    assert out["modularity"] > 0.9
    assert out["explicitness"] > 0.9
    assert set(out) == {"modularity", "explicitness", "explicitness_train"}


def test_random_codes_score_low():
    rng = np.random.default_rng(0)
    ftr, fte = _factors(400, 0), _factors(200, 1)
    out = modularity_explicitness(rng.normal(size=(400, 4)), ftr, rng.normal(size=(200, 4)), fte)
    assert out["explicitness"] < 0.6  # chance AUC is 0.5


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_reference(seed):
    rng = np.random.default_rng(seed)
    ftr, fte = _factors(300, seed), _factors(150, seed + 5)
    mix = rng.normal(size=(len(SIZES), 5))
    ctr = np.tanh(ftr @ mix / 3) + 0.2 * rng.normal(size=(300, 5))
    cte = np.tanh(fte @ mix / 3) + 0.2 * rng.normal(size=(150, 5))
    got = modularity_explicitness(ctr, ftr, cte, fte)
    want = _reference(ctr, ftr, cte, fte)
    assert got["modularity"] == pytest.approx(want[0], abs=1e-12)
    assert got["explicitness"] == pytest.approx(want[1], abs=1e-12)
    assert got["explicitness_train"] == pytest.approx(want[2], abs=1e-12)


def test_constant_code_dim_gives_no_nan():
    ftr, fte = _factors(200, 0), _factors(100, 1)
    ctr = np.concatenate([ftr.astype(float), np.ones((200, 1))], axis=1)
    cte = np.concatenate([fte.astype(float), np.ones((100, 1))], axis=1)
    out = modularity_explicitness(ctr, ftr, cte, fte)
    assert all(np.isfinite(v) for v in out.values())


def test_class_missing_from_test_set_is_left_out():
    ftr, fte = _factors(200, 0), _factors(100, 1)
    fte[:, 2] = np.minimum(fte[:, 2], 3)  # class 4 of the last factor never appears in test
    out = modularity_explicitness(ftr.astype(float), ftr, fte.astype(float), fte)
    assert np.isfinite(out["explicitness"])


def test_single_valued_factor_is_skipped_and_too_few_factors_raise():
    ftr, fte = _factors(200, 0), _factors(100, 1)
    wtr, wte = ftr.copy(), fte.copy()
    wtr[:, 0] = wte[:, 0] = 1
    with pytest.warns(UserWarning, match=r"skipping factor\(s\) \[0\]"):
        got = modularity_explicitness(ftr.astype(float), wtr, fte.astype(float), wte)
    assert got == modularity_explicitness(
        ftr.astype(float), ftr[:, 1:], fte.astype(float), fte[:, 1:]
    )
    with pytest.raises(ValueError, match="at least 2 factors"):
        modularity_explicitness(ftr.astype(float), ftr[:, :1], fte.astype(float), fte[:, :1])


@pytest.mark.parametrize(
    ("index", "value", "match"),
    [
        (0, np.zeros((49, 3)), "codes_train has 49 points but factors_train has 50"),
        (3, np.zeros((50, 3)), "factors_test must hold integer class indices"),
        (1, -np.ones((50, 3), dtype=int), "factors_train must be non-negative"),
        (2, np.full((50, 3), np.nan), "codes_test must be finite"),
        (1, np.zeros((50, 3, 1), dtype=int), "factors_train must be a 2-D array"),
    ],
)
def test_bad_input_raises(index, value, match):
    f = _factors(50, 0)
    args = [f.astype(float), f, f.astype(float), f]
    args[index] = value
    with pytest.raises(ValueError, match=match):
        modularity_explicitness(*args)


def test_fewer_points_than_bins_raises():
    f = _factors(15, 0)
    with pytest.raises(ValueError, match="fewer than num_bins=20"):
        modularity_explicitness(f.astype(float), f, f.astype(float), f)
