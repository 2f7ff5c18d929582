"""Dose-response by simulation: L-VAE on the fixed-beta curve is not flagged, a planted
departure is found, seed effects cancel, nothing is extrapolated (docs/statistics.md)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.stats.dose_response import (
    LEARNED,
    Departure,
    curve_band,
    departure,
    departure_table,
    evaluate,
    reading,
    seed_curves,
)

BETAS = (1.0, 2.0, 4.0, 8.0, 16.0)
SEEDS = 6
SIMS = 400
SEED_SD, NOISE_SD = 0.03, 0.02


def truth(log_beta: np.ndarray) -> np.ndarray:
    """A smooth MIG-like curve in ln beta: rises, then falls (max near beta = 7)."""
    return 0.1 + 0.08 * log_beta - 0.02 * log_beta**2


def sweep(rng: np.random.Generator, shift: float = 0.0, seed_sd: float = SEED_SD,
          beta_eff: np.ndarray | None = None) -> pd.DataFrame:
    """One crossed sweep: every seed runs every fixed beta and the L-VAE cell, sharing its
    seed effect; L-VAE learns beta_eff around 3 and sits ``shift`` above the curve."""
    u = rng.normal(0, seed_sd, SEEDS)
    rows = [{"cell": f"beta={b:g}", "seed": s, "beta": b, LEARNED: b,
             "value": truth(np.log(b)) + u[s] + rng.normal(0, NOISE_SD)}
            for b in BETAS for s in range(SEEDS)]
    b = rng.lognormal(np.log(3.0), 0.2, SEEDS) if beta_eff is None else beta_eff
    rows += [{"cell": "lvae", "seed": s, "beta": np.nan, LEARNED: b[s],
              "value": truth(np.log(b[s])) + u[s] + shift + rng.normal(0, NOISE_SD)}
             for s in range(SEEDS)]
    return pd.DataFrame(rows)


def run(shift: float, seed: int, sims: int = SIMS) -> list[Departure]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(sims):
        t = sweep(rng, shift)
        out.append(departure(t[t["beta"].notna()], t[t["beta"].isna()], "lvae", "mig"))
    return out


def paired_sd(seed: int) -> float:
    """SD of the per-seed paired difference d_s under no departure (pooled over sweeps)."""
    rng = np.random.default_rng(seed)
    var = []
    for _ in range(SIMS):
        t = sweep(rng)
        lv = t[t["beta"].isna()]
        ref = evaluate(seed_curves(t[t["beta"].notna()]), lv["seed"].to_numpy(),
                       np.log(lv[LEARNED].to_numpy()))
        var.append(np.var(lv["value"].to_numpy() - ref, ddof=1))
    return float(np.sqrt(np.mean(var)))


def test_on_the_curve_the_interval_covers_zero():
    deps = run(0.0, seed=1)
    lo = np.array([d.departure_lo for d in deps])
    hi = np.array([d.departure_hi for d in deps])
    p = np.array([d.p_value for d in deps])
    cover = np.mean((lo <= 0) & (0 <= hi))
    assert cover >= 0.90, f"coverage of 0 over {SIMS} sweeps: {cover:.3f} (nominal 0.95)"
    # the p-value is the same t test: p < 0.05 exactly when the interval excludes 0
    assert np.array_equal(p < 0.05, ~((lo <= 0) & (0 <= hi)))
    assert all(d.in_range and d.n_seeds == SEEDS for d in deps)


def test_a_departure_of_two_paired_sds_is_found():
    sd = paired_sd(seed=2)
    deps = run(2 * sd, seed=3)
    found = np.mean([d.departure_lo > 0 for d in deps])
    assert found >= 0.80, f"power at 2 paired SDs ({2 * sd:.4f}), {SEEDS} seeds: {found:.3f}"
    assert np.mean([d.p_value < 0.05 for d in deps]) == found
    est = np.mean([d.departure for d in deps])
    assert est == pytest.approx(2 * sd, abs=0.2 * sd), "the mean departure recovers the shift"


def test_point_never_outside_its_interval():
    for d in run(0.01, seed=4, sims=200):
        assert d.departure_lo <= d.departure <= d.departure_hi
        assert d.beta_eff_lo <= d.beta_eff_median <= d.beta_eff_hi
        assert d.beta_eff_confidence >= 0.95


def test_seed_effects_cancel():
    # seed effects 100 times the noise: an unpaired comparison would see nothing, the paired
    # departure is as narrow as with no seed effect
    rng = np.random.default_rng(5)
    widths = {}
    for sd in (0.0, 2.0):
        rng = np.random.default_rng(5)
        t = sweep(rng, shift=0.0, seed_sd=sd)
        d = departure(t[t["beta"].notna()], t[t["beta"].isna()], "lvae", "mig")
        widths[sd] = d.departure_hi - d.departure_lo
    assert widths[2.0] == pytest.approx(widths[0.0], rel=1e-6)


def test_curve_band_covers_the_true_curve():
    rng = np.random.default_rng(6)
    grid = np.log([1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0])
    hits = []
    for _ in range(SIMS):
        band = curve_band(sweep(rng).query("beta == beta"), grid=grid)
        hits.append((band["lo"] <= truth(grid)) & (truth(grid) <= band["hi"]))
    cover = np.mean(hits, axis=0)
    assert cover.min() >= 0.90, f"pointwise band coverage over {SIMS} sweeps: {cover.round(3)}"
    assert list(band.columns) == ["log_beta", "beta", "mean", "lo", "hi", "n_seeds"]
    assert (band["n_seeds"] == SEEDS).all()
    default = curve_band(sweep(rng).query("beta == beta"), points=11)
    assert default["beta"].iloc[0] == pytest.approx(1)
    assert default["beta"].iloc[-1] == pytest.approx(16)


def test_outside_the_range_is_flagged_not_extrapolated():
    rng = np.random.default_rng(7)
    for b_out in (20.0, 0.5):
        b = np.full(SEEDS, 3.0)
        b[0] = b_out
        t = sweep(rng, beta_eff=b)
        d = departure(t[t["beta"].notna()], t[t["beta"].isna()], "lvae", "mig")
        assert not d.in_range and d.n_outside == 1 and d.n_seeds == SEEDS
        assert math.isnan(d.departure) and math.isnan(d.p_value)
        assert (d.beta_min, d.beta_max) == (1.0, 16.0)
        assert "outside the curve's range [1, 16] on 1 of 6 seeds" in reading(d)
    # a seed missing its largest fixed beta has a shorter range of its own
    t = sweep(rng, beta_eff=np.full(SEEDS, 12.0))
    t = t[~((t["seed"] == 0) & (t["beta"] == 16.0))]
    d = departure(t[t["beta"].notna()], t[t["beta"].isna()], "lvae", "mig")
    assert not d.in_range and d.n_outside == 1


def test_same_table_same_numbers():
    t = sweep(np.random.default_rng(8))
    a = departure_table(t, "mig", value="value")
    b = departure_table(t.sample(frac=1.0, random_state=1), "mig", value="value")
    pd.testing.assert_frame_equal(a, b)
    band = curve_band(t[t["beta"].notna()])
    pd.testing.assert_frame_equal(band, curve_band(t[t["beta"].notna()]))
    again = sweep(np.random.default_rng(8))
    pd.testing.assert_frame_equal(a, departure_table(again, "mig", value="value"))


def test_table_rows_and_readings():
    rng = np.random.default_rng(9)
    t = sweep(rng, shift=0.5)
    few = t[(t["cell"] == "lvae") & (t["seed"] < 2)].assign(cell="lvae2")
    t = pd.concat([t, few], ignore_index=True).rename(columns={"value": "metric.mig"})
    table = departure_table(t, "metric.mig", labels={"lvae": "L-VAE lambda=0.1"},
                            higher_better=True)
    assert list(table["cell"]) == ["lvae", "lvae2"]
    assert list(table["n_seeds"]) == [SEEDS, 2]
    first, second = table["reading"]
    assert first.startswith("L-VAE lambda=0.1 (beta_eff ")
    assert first.endswith("better than the curve")
    assert "no conclusion can be drawn: 2 seed(s)" in second and math.isnan(table["departure"][1])


def test_reading_matches_the_papers_sentence():
    d = Departure("lvae", "mig", 6, 0, 3.1, 2.8, 3.6, 0.97, 1.0, 16.0,
                  0.004, -0.010, 0.019, 0.5, True, 0.95)
    assert reading(d, "L-VAE lambda=0.1", "MIG") == (
        "L-VAE lambda=0.1 (beta_eff 3.1 [2.8, 3.6]) vs fixed beta at 3.1: "
        "MIG +0.004 [-0.010, 0.019], indistinguishable")
    below = Departure(**{**d.__dict__, "departure": -0.03, "departure_lo": -0.05,
                         "departure_hi": -0.01})
    assert reading(below).endswith("below the curve")
    assert reading(below, higher_better=False).endswith("better than the curve")
