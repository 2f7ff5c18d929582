"""Headline table (medians with exact intervals) and fixed beta >= 4 vs the VAE, paired by seed."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.analysis_fixtures import trial_table

from analysis.stats.paired import median_interval, median_interval_at
from analysis.studies.beta_vs_vae import beta_vs_vae
from analysis.studies.headline import headline_table, interval_text


@pytest.mark.parametrize("n", [5, 6, 10])
def test_median_interval_covers_at_the_confidence_it_states(n):
    """2,000 samples of a skewed distribution (median ln 2): observed coverage within 2.5
    points of the stated confidence (94% at 5 values, the level's interval from 6)."""
    rng = np.random.default_rng(n)
    hits, conf = 0, None
    for _ in range(2000):
        lo, hi, conf = median_interval_at(rng.exponential(size=n))
        hits += lo <= np.log(2) <= hi
    assert conf >= 0.95 if n >= 6 else conf == pytest.approx(1 - 2 / 2**5)
    assert abs(hits / 2000 - conf) <= 0.025, (hits, conf)
    x = rng.normal(size=n)
    if n >= 6:
        assert median_interval_at(x)[:2] == median_interval(x)
    assert np.isnan(median_interval_at(x[:1])).all()


def table(metric, betas=(1.0, 4.0, 8.0), seeds=8, **extra):
    rows = [{"objective": "vae" if b == 1 else "beta_vae", "hp.beta": np.nan if b == 1 else b,
             "seed": s,
             "metric.mig": metric(b, s), "beta_eff": b, "collapsed": False, **extra} for b in betas
            for s in range(seeds)]
    return trial_table(rows)


def test_headline_rows_per_cell():
    df = table(lambda b, s: 0.1 * b + 0.01 * s, seeds=5)
    df.loc[(df["hp.beta"] == 8.0) & (df["seed"] == 4), "collapsed"] = True
    h = headline_table(df, ["metric.mig"]).set_index("cell")
    r = h.loc["beta_vae beta=8"]
    assert (r["n_finished"], r["n_collapsed"], r["collapse_rate"]) == (5, 1, 0.2)
    assert r["mig_n"] == 4 and r["mig_median"] == pytest.approx(0.815)  # collapsed seed 4 left out
    assert (r["mig_lo"],
            r["mig_hi"]) == pytest.approx((0.8,
                                           0.83)) and r["mig_confidence"] == pytest.approx(0.875)
    assert r["beta_eff_n"] == 5  # beta_eff keeps the collapsed trial
    assert interval_text(h.loc["vae"], "mig") == "0.12 [0.1, 0.14] (94%, n=5)"


def test_planted_advantage_is_found_and_noise_is_not():
    better = beta_vs_vae(table(lambda b, s: 0.1 * (b > 1) + 0.01 * s), ["metric.mig"])
    assert list(better["comparison"]) == ["beta=4", "beta=8", "beta>=4 (mean over betas)"]
    assert (better["verdict"] == "beta better").all() and (better["n_pairs"] == 8).all()
    assert better["median_diff"].to_numpy() == pytest.approx([0.1, 0.1, 0.1])
    rng = np.random.default_rng(0)
    noise = [beta_vs_vae(table(lambda b, s: rng.normal()), ["metric.mig"]) for _ in range(100)]
    decided = sum((n["verdict"] != "inconclusive: the interval includes no "
                                   "difference").sum() for n in noise)
    # each 95% sign-test interval excludes 0 in at most ~5% under no effect
    assert decided <= 0.05 * 300
    few = beta_vs_vae(table(lambda b, s: 0.1 * b, seeds=5), ["metric.mig"])
    assert few["verdict"].str.startswith("no conclusion can be drawn: 5 paired seed(s)").all()
    assert beta_vs_vae(table(lambda b, s: 1.0, betas=(1.0, 2.0)), ["metric.mig"]).empty
