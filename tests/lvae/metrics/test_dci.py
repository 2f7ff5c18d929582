"""DCI: closed-form importance matrices, analytic codes, parallel determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from lvae.metrics import completeness, dci, disentanglement
from lvae.metrics.dci import PROBES, importance_matrix

SIZES = (2, 3, 4, 3)  # few classes: GBT fits one tree per class per stage


def _factors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, SIZES, size=(n, len(SIZES)))


def _identity_codes(factors: np.ndarray, seed: int, noise_dims: int = 2) -> np.ndarray:
    """The factors, scaled, plus faint noise dims, in an order fixed by ``seed``."""
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.5, 3.0, size=factors.shape[1])
    order = rng.permutation(factors.shape[1] + noise_dims)
    noise = 0.01 * np.random.default_rng(factors.shape[0]).normal(
        size=(factors.shape[0], noise_dims)
    )
    return np.concatenate([factors * scales, noise], axis=1)[:, order]


def _reference_scores(r: np.ndarray) -> tuple[float, float]:
    """disentanglement_lib's formulas restated: entropy bases K and D, 1e-11 smoothing."""
    rows = r + 1e-11
    p_rows = rows / rows.sum(axis=1, keepdims=True)
    d_per = 1 + (p_rows * np.log(p_rows)).sum(axis=1) / np.log(r.shape[1])
    p_cols = rows / rows.sum(axis=0, keepdims=True)
    c_per = 1 + (p_cols * np.log(p_cols)).sum(axis=0) / np.log(r.shape[0])
    w = r if r.sum() > 0 else np.ones_like(r)
    return float((d_per * w.sum(1) / w.sum()).sum()), float((c_per * w.sum(0) / w.sum()).sum())


# ------------------------------------------------------------- pure functions
def test_one_code_explaining_two_of_ten_factors():
    r = np.zeros((5, 10))
    r[2, 3] = r[2, 7] = 0.5
    assert disentanglement(r) == pytest.approx(1 - np.log(2) / np.log(10), abs=1e-9)
    # Each of the two factors is explained by one code only.
    assert completeness(r) == pytest.approx(1.0, abs=1e-8)


def test_one_factor_explained_by_two_of_four_codes():
    r = np.zeros((4, 3))
    r[0, 1] = r[3, 1] = 2.0
    assert completeness(r) == pytest.approx(1 - np.log(2) / np.log(4), abs=1e-9)
    assert disentanglement(r) == pytest.approx(1.0, abs=1e-8)


def test_identity_uniform_and_zero_importance():
    assert disentanglement(np.eye(5)) == pytest.approx(1.0)
    assert completeness(np.eye(5)) == pytest.approx(1.0)
    assert disentanglement(np.ones((5, 4))) == pytest.approx(0.0, abs=1e-12)
    assert completeness(np.ones((5, 4))) == pytest.approx(0.0, abs=1e-12)
    assert disentanglement(np.zeros((5, 4))) == pytest.approx(0.0, abs=1e-9)
    assert completeness(np.zeros((5, 4))) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_scores_match_reference_on_random_importance(seed):
    r = np.random.default_rng(seed).exponential(size=(7, 4)) ** 3
    d, c = _reference_scores(r)
    assert disentanglement(r) == pytest.approx(d, rel=1e-12)
    assert completeness(r) == pytest.approx(c, rel=1e-12)
    # And scipy's entropy along the axes disentanglement_lib uses.
    assert disentanglement(r) == pytest.approx(
        float(np.sum((1 - scipy.stats.entropy(r.T + 1e-11, base=4)) * r.sum(1) / r.sum())),
        rel=1e-14,
    )


@pytest.mark.parametrize(
    ("r", "match"),
    [
        (np.ones(3), "2-D"),
        (-np.ones((3, 3)), "non-negative"),
        (np.full((3, 3), np.nan), "finite"),
    ],
)
def test_bad_importance_raises(r, match):
    with pytest.raises(ValueError, match=match):
        disentanglement(r)


# ----------------------------------------------------------------- the metric
def test_registered_probes():
    assert {"gbt", "hgb", "logistic"} <= set(PROBES)


@pytest.mark.parametrize("probe", ["gbt", "hgb"])
def test_identity_codes_score_high(probe):
    ftr, fte = _factors(200, 0), _factors(100, 1)
    out = dci(_identity_codes(ftr, 7), ftr, _identity_codes(fte, 7), fte, probe=probe, n_jobs=1)
    assert out["disentanglement"] > 0.9
    assert out["completeness"] > 0.9
    assert set(out) == {
        "disentanglement",
        "completeness",
        "informativeness_train",
        "informativeness_test",
    }
    assert out["informativeness_test"] > 0.95


def test_hgb_probe_tracks_gbt_on_entangled_codes():
    ftr, fte = _factors(300, 0), _factors(150, 1)
    rng = np.random.default_rng(4)
    mix = np.eye(len(SIZES), 6) + 0.3 * rng.normal(size=(len(SIZES), 6))
    ctr = np.tanh(ftr @ mix / 2) + 0.05 * rng.normal(size=(300, 6))
    cte = np.tanh(fte @ mix / 2) + 0.05 * rng.normal(size=(150, 6))
    gbt = dci(ctr, ftr, cte, fte, probe="gbt", n_jobs=1)
    hgb = dci(ctr, ftr, cte, fte, probe="hgb", n_jobs=1)
    # the agreement target; the old gain importance missed it on trained codes
    assert abs(gbt["disentanglement"] - hgb["disentanglement"]) < 0.05
    assert abs(gbt["completeness"] - hgb["completeness"]) < 0.05


def test_logistic_probe_finds_linear_codes():
    ftr, fte = _factors(200, 0), _factors(100, 1)
    out = dci(
        _identity_codes(ftr, 7), ftr, _identity_codes(fte, 7), fte, probe="logistic", n_jobs=1
    )
    assert out["disentanglement"] > 0.6 and out["completeness"] > 0.6
    assert out["informativeness_test"] > 0.9


def test_random_codes_score_low():
    ftr, fte = _factors(200, 0), _factors(100, 1)
    rng = np.random.default_rng(5)
    out = dci(rng.normal(size=(200, 6)), ftr, rng.normal(size=(100, 6)), fte, n_jobs=1)
    assert out["disentanglement"] < 0.2
    assert out["completeness"] < 0.2
    chance = np.mean([1 / s for s in SIZES])
    assert out["informativeness_test"] < chance + 0.15


def test_constant_codes_score_zero():
    ftr, fte = _factors(200, 0), _factors(100, 1)
    out = dci(np.ones((200, 4)), ftr, np.ones((100, 4)), fte, probe="gbt", n_jobs=1)
    assert out["disentanglement"] == pytest.approx(0.0, abs=1e-6)
    assert out["completeness"] == pytest.approx(0.0, abs=1e-6)


def test_duplicated_code_lowers_completeness():
    ftr, fte = _factors(200, 0), _factors(100, 1)
    codes_tr, codes_te = ftr.astype(float), fte.astype(float)
    base = dci(codes_tr, ftr, codes_te, fte, n_jobs=1)
    dup = dci(
        np.concatenate([codes_tr, codes_tr[:, :2]], axis=1),
        ftr,
        np.concatenate([codes_te, codes_te[:, :2]], axis=1),
        fte,
        n_jobs=1,
    )
    assert dup["completeness"] < base["completeness"] - 0.1


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_parallel_equals_serial(probe):
    """Same seed, one process or several: bit-identical importances and accuracies."""
    ftr, fte = _factors(120, 0), _factors(60, 1)
    rng = np.random.default_rng(2)
    mix = rng.normal(size=(len(SIZES), 5))
    ctr, cte = ftr @ mix + rng.normal(size=(120, 5)), fte @ mix + rng.normal(size=(60, 5))
    serial = importance_matrix(ctr, ftr, cte, fte, probe=probe, seed=3, n_jobs=1)
    parallel = importance_matrix(ctr, ftr, cte, fte, probe=probe, seed=3, n_jobs=2)
    for a, b in zip(serial, parallel, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_importance_columns_follow_factor_order(n_jobs):
    """Probes run longest (most classes) first; the matrix still has factor j in column j."""
    rng = np.random.default_rng(0)
    factors = np.stack([rng.integers(0, s, 300) for s in (2, 5, 3, 4)], axis=1)
    codes = np.concatenate([factors[:, ::-1] * 1.0, 0.01 * rng.normal(size=(300, 1))], axis=1)
    r, train_acc, _ = importance_matrix(
        codes, factors, codes, factors, probe="logistic", n_jobs=n_jobs
    )
    np.testing.assert_array_equal(r[:4].argmax(axis=0), [3, 2, 1, 0])  # code 3 - j holds factor j
    assert (train_acc > 0.95).all()


def test_single_valued_factor_is_skipped_with_warning():
    ftr, fte = _factors(200, 0), _factors(100, 1)
    ctr, cte = _identity_codes(ftr, 3), _identity_codes(fte, 3)
    wtr = np.concatenate([ftr, np.full((200, 1), 2)], axis=1)
    wte = np.concatenate([fte, np.full((100, 1), 2)], axis=1)
    with pytest.warns(UserWarning, match=r"factors_train: skipping factor\(s\) \[4\]"):
        got = dci(ctr, wtr, cte, wte, probe="logistic", n_jobs=1)
    assert got == dci(ctr, ftr, cte, fte, probe="logistic", n_jobs=1)


def _ok(n=50):
    f = _factors(n, 0)
    return [f.astype(float), f, f.astype(float), f]


@pytest.mark.parametrize(
    ("index", "value", "match"),
    [
        (0, np.zeros((49, 4)), "codes_train has 49 points but factors_train has 50"),
        (3, np.zeros((50, 4)), "factors_test must hold integer class indices"),
        (1, -np.ones((50, 4), dtype=int), "factors_train must be non-negative"),
        (2, np.full((50, 4), np.nan), "codes_test must be finite"),
        (2, np.zeros((50, 3)), "codes_train has 4 code dims but codes_test has 3"),
        (0, np.zeros((50, 4, 1)), "codes_train must be a 2-D array"),
        (
            1,
            np.column_stack([np.zeros((50, 3), dtype=int), np.arange(50) % 2]),
            "at least 2 factors that vary",
        ),
    ],
)
@pytest.mark.filterwarnings("ignore:factors_train. skipping factor")
def test_bad_input_raises(index, value, match):
    args = _ok()
    args[index] = value
    with pytest.raises(ValueError, match=match):
        dci(*args, n_jobs=1)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="unknown DCI probe 'svm'"):
        dci(*_ok(), probe="svm")
    with pytest.raises(ValueError, match="n_jobs must be"):
        dci(*_ok(), n_jobs=0)
    with pytest.raises(ValueError, match="seed must be"):
        dci(*_ok(), seed=-1)
