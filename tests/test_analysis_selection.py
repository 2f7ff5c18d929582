"""P(beat) and the L-VAE-default vs fixed-beta comparison on constructed distributions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from analysis_fixtures import trial_table

from analysis import default_lvae_lambda, lvae_vs_fixed_beta, prob_superiority


def test_prob_superiority_on_constructed_distributions():
    assert prob_superiority([3, 4], [1, 2]) == 1.0
    assert prob_superiority([1, 2], [3, 4]) == 0.0
    assert prob_superiority([5, 5], [5]) == 0.5  # all ties
    assert prob_superiority([1, 2, 3], [2]) == pytest.approx(0.5)  # 0 + 0.5 + 1 over 3 pairs
    assert prob_superiority([1, 3], [0, 2, 4]) == pytest.approx(3 / 6)
    assert prob_superiority([1, 3], [0, 2, 4], higher_better=False) == pytest.approx(3 / 6)
    assert prob_superiority([0.0], [1.0], higher_better=False) == 1.0
    assert prob_superiority([1, np.nan], [0]) == 1.0
    assert np.isnan(prob_superiority([], [1]))
    rng = np.random.default_rng(0)
    x, y = rng.normal(1, 1, 400), rng.normal(0, 1, 400)
    # for two unit normals one sd apart P(X > Y) = Phi(1 / sqrt 2) = 0.760
    assert prob_superiority(x, y) == pytest.approx(0.760, abs=0.03)


def fixed_vs_lvae(lambdas=(0.01, 0.1, 1.0), seeds=(0, 1, 2)):
    rows = []
    for lam in lambdas:  # L-VAE: 0.5 + seed/100 at every lambda except 1.0
        rows += [{"objective": "lvae", "hp.lambda": lam, "seed": s,
                  "metric.m": (0.5 if lam != 1.0 else 0.0) + s / 100, "loss_recon": 3.0} for s in seeds]
    medians = {1.0: 0.3, 2.0: 0.9, 4.0: 0.505, 8.0: 0.1}
    for beta, med in medians.items():
        rows += [{"objective": "beta_vae", "hp.beta": beta, "seed": s, "metric.m": med + (s - 1) / 100,
                  "loss_recon": beta} for s in seeds]
    return trial_table(rows)


def test_best_median_worst_fixed_beta_and_p_beat():
    out = lvae_vs_fixed_beta(fixed_vs_lvae(), ["metric.m", "loss_recon"], default_lambda=0.1)
    m = out[out["metric"] == "metric.m"].set_index("comparison")
    assert list(m.index) == ["best", "median", "worst", "any"]
    assert m.loc["best", "beta"] == 2.0 and m.loc["worst", "beta"] == 8.0
    # ranked medians 0.9, 0.505, 0.3, 0.1: the better middle of four is 0.505 (beta 4)
    assert m.loc["median", "beta"] == 4.0
    assert (m["lambda_used"] == 0.1).all() and m.loc["best", "lvae_cell"] == "lvae lambda=0.1"
    assert m.loc["best", "p_beat"] == 0.0 and m.loc["worst", "p_beat"] == 1.0
    # lvae 0.50, 0.51, 0.52 vs beta 4's 0.495, 0.505, 0.515: 1 + 2 + 3 of 9 pairs won
    assert m.loc["median", "p_beat"] == pytest.approx(6 / 9)
    assert m.loc["any", "n_fixed"] == 12 and m.loc["any", "n_lvae"] == 3
    # reconstruction error (lower is better): beta 1 best, beta 8 worst; lvae's 3.0 sits between
    r = out[out["metric"] == "loss_recon"].set_index("comparison")
    assert r.loc["best", "beta"] == 1.0 and r.loc["worst", "beta"] == 8.0
    assert r.loc["best", "p_beat"] == 0.0 and r.loc["worst", "p_beat"] == 1.0


def test_default_lambda_not_swept_uses_nearest_in_log_space():
    out = lvae_vs_fixed_beta(fixed_vs_lvae(), ["metric.m"], default_lambda=0.4)
    assert (out["lambda_used"] == 1.0).all() and (out["lambda_default"] == 0.4).all()
    out = lvae_vs_fixed_beta(fixed_vs_lvae(), ["metric.m"], default_lambda=0.02)
    assert (out["lambda_used"] == 0.01).all()


def test_missing_objective_gives_empty_table():
    df = fixed_vs_lvae()
    assert lvae_vs_fixed_beta(df[df["objective"] == "lvae"], ["metric.m"], default_lambda=0.1).empty


def test_other_lvae_hyperparameters_are_held_at_their_defaults():
    df = fixed_vs_lvae()
    other = df[df["objective"] == "lvae"].assign(**{"metric.m": 5.0})
    df = pd.concat([df.assign(**{"hp.regulariser": np.where(df["objective"] == "lvae", "log_ratio_sq", None)}),
                    other.assign(**{"hp.regulariser": "weight_diff_sq"})], ignore_index=True)
    df["trial"] = [f"t{i}" for i in range(len(df))]
    out = lvae_vs_fixed_beta(df, ["metric.m"], default_lambda=0.1,
                             defaults={"lambda": 0.1, "regulariser": "log_ratio_sq"})
    assert set(out["lvae_cell"]) == {"lvae lambda=0.1 regulariser=log_ratio_sq"}
    assert (out["lvae_median"] == 0.51).all()
    # a default that was not swept leaves both cells, each with its own rows
    out = lvae_vs_fixed_beta(df, ["metric.m"], default_lambda=0.1, defaults={"regulariser": "softmax"})
    assert out["lvae_cell"].nunique() == 2 and len(out) == 8


def test_default_lambda_comes_from_lvae_registry():
    from lvae.objectives import OBJECTIVES

    assert default_lvae_lambda() == float(OBJECTIVES["lvae"].defaults["lambda"])
    assert default_lvae_lambda("no_such_objective") is None
