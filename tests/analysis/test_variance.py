"""Variance components by simulation: unbiased shares on pure noise, planted effects recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.analysis_fixtures import trial_table

from analysis import variance_decomposition
from analysis.stats.variance import Design, estimate, intervals, shares, sums_of_squares

#: the sweeps' lvae_reg layouts: cells per objective (lvae, vae, beta_vae) and seeds per cell
LAYOUTS = {"local": ((3, 1, 2), 2), "paper": ((8, 1, 5), 10)}


def design(cells_per_objective, seeds) -> Design:
    objectives, cells = [], []
    for i, n_cells in enumerate(cells_per_objective):
        for j in range(n_cells):
            objectives += [f"o{i}"] * seeds
            cells += [f"o{i}c{j}"] * seeds
    return Design.from_labels(objectives, cells)


def simulate(d: Design, sims: int, var_obj: float, var_hyper: float, var_seed: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.normal(0, np.sqrt(var_obj), (sims, d.objective.max() + 1))
    b = rng.normal(0, np.sqrt(var_hyper), (sims, len(d.cell_objective)))
    return a[:, d.objective] + b[:, d.cell] + rng.normal(0, np.sqrt(var_seed), (sims, len(d.cell)))


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_pure_noise_shares_are_unbiased(layout):
    d = design(*LAYOUTS[layout])
    y = simulate(d, 4000, 0.0, 0.0, 1.0, seed=1)
    share = shares(estimate(y, d))
    assert abs(np.mean(share["objective"])) < 0.05, np.mean(share["objective"])
    assert abs(np.mean(share["hyperparameter"])) < 0.05, np.mean(share["hyperparameter"])
    # the old reading (raw sums of squares) gave the objective and the hyperparameters
    # about 18% and 27% on the local layout: far from 0
    ss = sums_of_squares(y, d)
    total = sum(ss.values())
    if layout == "local":
        assert np.mean(ss["objective"] / total) > 0.12 and np.mean(ss["hyperparameter"] / total) > 0.2


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("planted", [(0.0, 0.0, 1.0), (0.0, 1.0, 1.0), (2.0, 0.5, 1.0)])
def test_intervals_cover_planted_shares(layout, planted):
    d = design(*LAYOUTS[layout])
    y = simulate(d, 300, *planted, seed=2)
    ci = intervals(y, d, draws=2000, seed=3)
    truth = dict(zip(("objective", "hyperparameter", "seed"), np.array(planted) / sum(planted), strict=True))
    for k in ("objective", "hyperparameter"):
        lo, hi = ci[f"share_{k}"]
        cover = np.mean((lo <= truth[k]) & (truth[k] <= hi))
        assert cover >= 0.9, (k, cover)
    # the point estimates are centred on the planted components
    comps = estimate(y, d)
    for k, v in zip(("objective", "hyperparameter", "seed"), planted, strict=True):
        assert np.mean(comps[k]) == pytest.approx(v, abs=0.25 * max(v, 1.0)), k


def test_a_large_hyperparameter_effect_is_found_in_a_trial_table():
    rng = np.random.default_rng(5)
    effect = {lam: 3.0 * i for i, lam in enumerate((0.001, 0.01, 0.1, 1.0))}
    rows = [{"objective": "lvae", "hp.lambda": lam, "seed": s, "metric.m": effect[lam] + rng.normal(0, 0.1)}
            for lam in effect for s in range(4)]
    rows += [{"objective": "beta_vae", "hp.beta": b, "seed": s, "metric.m": rng.normal(4.5, 0.1) + (b == 4) * 2.0}
             for b in (1.0, 4.0) for s in range(4)]
    r = variance_decomposition(trial_table(rows)).iloc[0]
    assert r["var_hyperparameter"] == pytest.approx(np.var([0, 3, 6, 9, 4.5, 6.5], ddof=1), rel=0.5)
    assert r["share_hyperparameter_lo"] > 0 and r["share_seed_hi"] < 0.01
    # two objectives give the objective component one degree of freedom: its interval is wide
    assert r["share_objective_lo"] == 0.0 and r["share_objective_hi"] > 0.5
    assert r["df_objective"] == 1 and r["df_hyperparameter"] == 4 and r["df_seed"] == 18
    assert r["share_objective"] + r["share_hyperparameter"] + r["share_seed"] == pytest.approx(1.0)


def test_one_seed_per_cell_cannot_separate_seed_from_hyperparameter():
    rows = [{"objective": o, "hp.lambda": lam, "seed": 0, "metric.m": float(i)}
            for i, (o, lam) in enumerate([("lvae", 0.1), ("lvae", 1.0), ("vae", np.nan), ("vae", np.nan)])]
    r = variance_decomposition(trial_table(rows[:3])).iloc[0]
    assert r["df_seed"] == 0 and np.isnan(r["share_seed"]) and np.isnan(r["var_seed"])


def test_collapsed_trials_are_left_out():
    rows = [{"objective": o, "hp.beta": b, "seed": s, "metric.m": float(s), "collapsed": False}
            for o, b in (("beta_vae", 2.0), ("beta_vae", 4.0), ("vae", np.nan)) for s in range(3)]
    df = trial_table(rows)
    noisy = pd.concat([df, df.iloc[:1].assign(**{"metric.m": 100.0, "collapsed": True, "seed": 9})],
                      ignore_index=True).assign(trial=lambda d: [f"t{i}" for i in range(len(d))])
    assert variance_decomposition(noisy).iloc[0]["n_trials"] == 9
    assert variance_decomposition(noisy, include_collapsed=True).iloc[0]["n_trials"] == 10
