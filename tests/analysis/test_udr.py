"""UDR on synthetic codes, and UDR-based selection vs supervised metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.analysis_fixtures import trial_table

from analysis import udr, udr_selection, udr_table
from analysis.stats.udr import relative_strength, spearman_matrix


def permuted_copies(n_models: int, n: int = 2000, d: int = 6, seed: int = 0):
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, d))
    out = []
    for _ in range(n_models):
        perm = rng.permutation(d)
        signs = rng.choice([-1.0, 1.0], size=d)
        scale = rng.uniform(0.5, 2.0, size=d)
        out.append(np.tanh(base[:, perm]) * signs * scale)  # monotone per-dim change: same ranks
    return out


def test_permuted_identical_codes_score_high():
    res = udr(permuted_copies(4))
    assert res.model_scores.shape == (4,)
    assert (res.model_scores > 0.9).all()
    assert np.isnan(np.diag(res.pairwise)).all()
    np.testing.assert_allclose(res.pairwise, res.pairwise.T)


def test_random_codes_score_low():
    rng = np.random.default_rng(1)
    res = udr([rng.normal(size=(2000, 6)) for _ in range(4)])
    assert (res.model_scores < 0.2).all()


def test_rotated_codes_score_between():
    rng = np.random.default_rng(2)
    base = rng.normal(size=(2000, 2))
    angle = np.pi / 4
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    res = udr([base, base @ rot])
    assert 0.3 < res.model_scores[0] < 0.8  # entangled: each latent matches two equally


def test_inactive_latents_are_ignored_via_kl_or_variance():
    codes = permuted_copies(3, d=4)
    noisy = [np.hstack([c, np.random.default_rng(i).normal(size=(len(c), 2)) * 1e-3]) for i,
             c in enumerate(codes)]
    kl = [np.array([1.0] * 4 + [0.0, 0.0]) for _ in noisy]
    with_kl = udr(noisy, kl)
    assert (with_kl.model_scores > 0.9).all()
    assert [a.sum() for a in with_kl.active] == [4, 4, 4]
    by_variance = udr(noisy)  # tiny-variance dims are inactive without KL too
    assert (by_variance.model_scores > 0.9).all()
    # counting the noise dims as active lowers the score
    assert (udr(noisy, [np.ones(6)] * 3).model_scores < with_kl.model_scores).all()


def test_collapsed_model_scores_zero_with_others():
    codes = permuted_copies(3, d=3)
    res = udr(codes, [np.ones(3), np.ones(3), np.zeros(3)])
    assert res.pairwise[0, 2] == 0.0 and res.model_scores[2] == 0.0
    assert res.pairwise[0, 1] > 0.9


def test_spearman_matrix_matches_scipy():
    import scipy.stats

    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(50, 3)), rng.normal(size=(50, 2))
    ref = np.abs(scipy.stats.spearmanr(a, b).statistic[:3, 3:])
    np.testing.assert_allclose(spearman_matrix(a, b), ref, atol=1e-12)
    assert relative_strength(np.eye(3)) == 1.0
    assert relative_strength(np.zeros((0, 3))) == 0.0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="at least 2 models"):
        udr([np.zeros((10, 2))])
    with pytest.raises(ValueError, match="same inputs"):
        udr([np.zeros((10, 2)), np.zeros((11, 2))])
    with pytest.raises(ValueError, match=r"kl\[1\] must have shape \(2,\)"):
        udr([np.ones((10, 2)), np.ones((10, 2))], [np.ones(2), np.ones(3)])


def test_udr_table_groups_and_lonely_trials():
    codes = permuted_copies(3)
    table = udr_table({"a": (codes[0], None), "b": (codes[1], None), "c": (codes[2], None)},
                      {"cell1": ["a", "b"], "cell2": ["c"]})
    t = table.set_index("trial")
    assert t.loc["a", "udr"] > 0.9 and t.loc["a", "n_models"] == 2
    assert np.isnan(t.loc["c", "udr"])


def selection_table(udr_sign: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    m = rng.uniform(size=24)
    df = trial_table([{"objective": "lvae" if i % 2 else "beta_vae", "seed": i, "metric.dci": v}
                      for i, v in enumerate(m)])
    scores = pd.DataFrame({"trial": df["trial"], "udr": udr_sign * m})
    return df, scores


def test_selection_when_udr_orders_models_like_the_metric():
    df, scores = selection_table(+1.0)
    out = udr_selection(df, scores, ["metric.dci"], subset_size=6, n_draws=100).set_index("pool")
    assert out.loc["all", "spearman_udr"] == pytest.approx(1.0)
    assert out.loc["all", "picked_top_quartile"] and out.loc["all", "picked_percentile"] == 1.0
    assert out.loc["all", "p_top_quartile_udr"] == 1.0
    assert 0.2 < out.loc["all", "p_top_quartile_random"] < 0.45
    assert {"all", "objective=lvae", "objective=beta_vae"} == set(out.index)


def test_selection_when_udr_is_reversed():
    df, scores = selection_table(-1.0)
    out = udr_selection(df, scores, ["metric.dci"], n_draws=100).set_index("pool")
    assert out.loc["all", "spearman_udr"] == pytest.approx(-1.0)
    assert out.loc["all", "p_top_quartile_udr"] == 0.0 and not out.loc["all", "picked_top_quartile"]
    # seeded: same seed, same numbers
    again = udr_selection(df, scores, ["metric.dci"], n_draws=100).set_index("pool")
    pd.testing.assert_frame_equal(out, again)


def test_udr_for_trials_encodes_per_dataset_and_skips_lone_seeds():
    from analysis import udr_for_trials

    rows = [{"objective": "lvae", "hp.lambda": 0.1, "seed": s, "dataset": ds, "metric.dci": 0.0}
            for ds in ("a", "b") for s in (0, 1)]
    rows.append({"objective": "lvae", "hp.lambda": 1.0, "seed": 0,
                 "dataset": "a", "metric.dci": 0.0})
    df = trial_table(rows)
    calls = []

    def encode(run_dirs):
        calls.append(run_dirs)
        codes = permuted_copies(len(run_dirs), n=300, d=3)
        return codes, [np.ones(3)] * len(run_dirs)

    scores = udr_for_trials(df, encode).set_index("trial")
    assert [len(c) for c in calls] == [2, 2]  # one call per dataset, the lone seed not encoded
    assert (scores.loc[["t0", "t1", "t2", "t3"], "udr"] > 0.9).all()
    assert np.isnan(scores.loc["t4", "udr"])
