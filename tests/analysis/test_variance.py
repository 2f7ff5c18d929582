"""The report's variance components on trial tables: the crossed estimator
(analysis.stats.crossed, simulated in tests/analysis/stats/test_crossed.py) fed from
results-like tables, planted effects found where they were planted."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.analysis_fixtures import trial_table

from analysis import variance_decomposition


def _by_component(table: pd.DataFrame) -> pd.DataFrame:
    assert table["metric"].nunique() == 1
    return table.set_index("component")


def test_a_large_cell_effect_is_found_in_a_trial_table():
    rng = np.random.default_rng(5)
    effect = {lam: 3.0 * i for i, lam in enumerate((0.001, 0.01, 0.1, 1.0))}
    rows = [{"objective": "lvae", "hp.lambda": lam, "seed": s,
             "metric.m": effect[lam] + rng.normal(0, 0.1)}
            for lam in effect for s in range(4)]
    rows += [{"objective": "beta_vae", "hp.beta": b, "seed": s,
              "metric.m": rng.normal(4.5, 0.1) + (b == 4) * 2.0}
             for b in (1.0, 4.0) for s in range(4)]
    r = _by_component(variance_decomposition(trial_table(rows)))
    assert r.at["cell", "share_lo"] > 0.5 and r.at["seed", "share_hi"] < 0.05
    # two objectives: no objective share, and the row says why
    assert np.isnan(r.at["objective", "share"]) and "4" in r.at["objective", "note"]
    for k in ("cell", "seed", "cell_seed"):  # a point never lies outside its own interval
        assert r.at[k, "share_lo"] <= r.at[k, "share"] <= r.at[k, "share_hi"]
    assert r.at["cell", "n_cells"] == 6 and r.at["cell",
                                                 "n_seeds"] == 4 and r.at["cell", "n_trials"] == 24


def test_a_seed_main_effect_is_attributed_to_the_seed():
    """Every cell shares its seeds: a seed that helps every cell is a seed effect, not noise."""
    rng = np.random.default_rng(11)
    seed_effect = rng.normal(0, 1.0, size=6)
    rows = [{"objective": "beta_vae", "hp.beta": b, "seed": s,
             "metric.m": 0.1 * i + seed_effect[s] + rng.normal(0, 0.1)}
            for i, b in enumerate((1.0, 2.0, 4.0, 8.0)) for s in range(6)]
    r = _by_component(variance_decomposition(trial_table(rows)))
    shares = r.loc[["cell", "seed", "cell_seed"], "share"]
    assert shares.idxmax() == "seed" and r.at["seed", "share_lo"] > 0.3


def test_one_seed_per_cell_cannot_separate_seed_from_cell():
    rows = [{"objective": o, "hp.lambda": lam, "seed": 0, "metric.m": float(i)}
            for i, (o, lam) in enumerate([("lvae", 0.1), ("lvae", 1.0), ("vae", np.nan)])]
    r = _by_component(variance_decomposition(trial_table(rows)))
    assert r["share"].isna().all() and "2 x 2" in r.at["seed", "note"]


def test_collapsed_trials_are_left_out():
    rows = [{"objective": o, "hp.beta": b, "seed": s, "metric.m": float(s), "collapsed": False}
            for o, b in (("beta_vae", 2.0), ("beta_vae", 4.0), ("vae", np.nan)) for s in range(3)]
    df = trial_table(rows)
    noisy = pd.concat([df, df.iloc[:1].assign(**{"metric.m": 100.0, "collapsed": True, "seed": 0})],
                      ignore_index=True).assign(trial=lambda d: [f"t{i}" for i in range(len(d))])
    assert variance_decomposition(noisy)["n_trials"].iloc[0] == 9
    assert variance_decomposition(noisy, include_collapsed=True)["n_trials"].iloc[0] == 10


def test_same_seed_same_numbers():
    rng = np.random.default_rng(3)
    rows = [{"objective": "beta_vae", "hp.beta": b, "seed": s, "metric.m": rng.normal()}
            for b in (1.0, 2.0, 4.0) for s in range(5)]
    table = trial_table(rows)
    a, b = variance_decomposition(table, seed=7), variance_decomposition(table, seed=7)
    pd.testing.assert_frame_equal(a, b)
    assert variance_decomposition(table, seed=8)["share_lo"].tolist() != pytest.approx(
        a["share_lo"].tolist()
    )
