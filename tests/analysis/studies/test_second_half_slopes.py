"""Second-half slopes by simulation: the interval covers a zero drift at its nominal rate and
finds a planted one (docs/analysis.md, "Metrics along training")."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.studies.metric_curves import second_half_slopes

STEPS = np.arange(100, 1300, 100)


def simulated(rng: np.random.Generator, drift_per_1k: float, seeds: int = 6) -> tuple:
    """One cell's metric curves: a seed offset, a common drift and evaluation noise."""
    rows, trials = [], []
    for s in range(seeds):
        offset, trial = rng.normal(0, 0.05), f"t{s}"
        trials.append({"trial": trial, "cell": "beta_vae beta=4", "objective": "beta_vae"})
        noise = rng.normal(0, 0.02, STEPS.size)
        for step, e in zip(STEPS, noise, strict=True):
            rows.append({"trial": trial, "step": int(step),
                         "metric.mig": 0.2 + offset + drift_per_1k * step / 1000 + e})
    return pd.DataFrame(rows), pd.DataFrame(trials)


def test_no_drift_is_covered_at_the_nominal_rate():
    rng = np.random.default_rng(0)
    covered = []
    for _ in range(400):
        slopes = second_half_slopes(*simulated(rng, 0.0), ["metric.mig"]).iloc[0]
        covered.append(slopes["slope_lo"] <= 0 <= slopes["slope_hi"])
    assert np.mean(covered) >= 0.92


def test_a_planted_drift_is_found():
    rng = np.random.default_rng(1)
    found = [second_half_slopes(*simulated(rng, 0.1), ["metric.mig"]).iloc[0]["reading"]
             == "rising" for _ in range(400)]
    assert np.mean(found) >= 0.8
