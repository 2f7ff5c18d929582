"""L-VAE against the fixed-beta curve and its beta-matched twin, on trial tables whose
answer is known: the comparisons, their families and adjustments, and collapsed trials."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.analysis_fixtures import trial_table

from analysis.io.table import with_cells
from analysis.stats.multiplicity import CURVE, PRIMARY, TWIN
from analysis.studies.learned_beta import comparisons, figure_points, ranked_worst, twin_pairs

SEEDS = range(6)
BETAS = (1.0, 2.0, 4.0, 8.0)


def curve_value(beta: float) -> float:
    return 0.2 - 0.03 * np.log(beta)  # linear in ln beta: interpolation is exact


def table(lvae_shift: float = 0.0, twin_shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Fixed betas on the curve plus a seed effect; L-VAE at beta_eff ~3 shifted by
    ``lvae_shift``; its twin at beta 3.0 shifted by ``twin_shift``."""
    rng = np.random.default_rng(seed)
    seed_effect = rng.normal(0, 0.02, size=len(SEEDS))
    rows = []
    for s in SEEDS:
        for b in BETAS:
            obj = "vae" if b == 1.0 else "beta_vae"
            rows.append({"objective": obj, "hp.beta": np.nan if b == 1.0 else b, "seed": s,
                         "beta_eff": b, "metric.mig": curve_value(b) + seed_effect[s],
                         "metric.sap": 0.1 + seed_effect[s]})
        b_eff = 3.0 * np.exp(rng.normal(0, 0.05))
        base = curve_value(b_eff) + seed_effect[s]
        lvae_mig = base + lvae_shift + rng.normal(0, 0.002)
        twin_mig = base + twin_shift + rng.normal(0, 0.002)

        rows.append({"objective": "lvae", "hp.lambda": 0.1, "seed": s, "beta_eff": b_eff,
                     "sweep_cell": "lvae_lambda=0.1", "metric.mig": lvae_mig,
                     "metric.sap": 0.1 + seed_effect[s]})
        rows.append({"objective": "beta_vae", "hp.beta": 3.0, "seed": s, "beta_eff": 3.0,
                     "matched_to": "lvae_lambda=0.1", "metric.mig": twin_mig,
                     "metric.sap": 0.1 + seed_effect[s]})
    return with_cells(trial_table(rows).assign(collapsed=False))


def test_twins_get_their_own_cell_and_pair_with_their_lvae_cell():
    df = table()
    twin_cells = sorted(set(df.loc[df["matched_to"].notna(), "cell"]))
    assert twin_cells == ["beta_vae beta=3 (twin of lvae_lambda=0.1)"]
    [(cell, mine, twin)] = twin_pairs(df)
    assert cell == "lvae" and len(mine) == len(twin) == 6  # one lambda: nothing to name
    points = figure_points(df, "metric.mig")
    assert set(points["kind"]) == {"fixed", "learned", "twin"}
    assert (points.loc[points["kind"] == "twin", "x"] == 3.0).all()


def test_on_the_curve_and_at_the_twin_nothing_is_found():
    out = comparisons(df := table(), ["metric.mig", "metric.sap"])
    primary = out[out["family"] == PRIMARY]
    assert set(primary["contrast"]) == {CURVE, TWIN} and set(primary["metric"]) == {"metric.mig"}
    assert (primary["lo"] <= 0).all() and (primary["hi"] >= 0).all()
    # sap is exploratory: BH within its contrast, never Holm
    sap = out[out["metric"] == "metric.sap"]
    assert sap["p_holm"].isna().all() and sap["family"].str.startswith("exploratory").all()
    assert out.iloc[0]["family"] == PRIMARY  # the primary family leads the table
    assert len(df) == 36


def test_a_planted_twin_difference_is_found_with_the_right_size():
    out = comparisons(table(twin_shift=-0.05), ["metric.mig"]).set_index("contrast")
    twin = out.loc[TWIN]
    assert twin["estimate"] == pytest.approx(0.05, abs=0.005) and twin["lo"] > 0
    assert twin["p_holm"] < 0.05 and twin["reference_beta"] == 3.0
    assert "L-VAE better" in twin["reading"]
    curve = out.loc[CURVE]  # L-VAE itself is on the curve
    assert curve["lo"] <= 0 <= curve["hi"]


def test_collapsed_trials_ranked_worst_take_the_lowest_score():
    df = table()
    df.loc[df.index[0], "collapsed"] = True
    worst = ranked_worst(df, ["metric.mig"])
    assert worst.loc[df.index[0], "metric.mig"] == df["metric.mig"].min()
    assert (
        worst.drop(index=df.index[0])["metric.mig"] == df.drop(index=df.index[0])["metric.mig"]
    ).all()
