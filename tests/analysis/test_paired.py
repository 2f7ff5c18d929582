"""The paired intervals by simulation: coverage under no difference, and power when there is one."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.stats.paired import (
    Paired,
    median_interval,
    min_pairs,
    multiplicity_reading,
    null_verdict_rate,
    verdict,
    win_probability,
)

SIMS = 400


@pytest.mark.parametrize("n", [2, 6, 10])
def test_p_better_interval_covers_one_half_under_pure_noise(n):
    rng = np.random.default_rng(n)
    # L-VAE and fixed: same distribution
    d = rng.normal(size=(SIMS, n)) - rng.normal(size=(SIMS, n))
    cover = np.mean([lo <= 0.5 <= hi for _, lo, hi in (win_probability(row) for row in d)])
    assert cover >= 0.90, cover  # 95% nominal; Clopper-Pearson is conservative


@pytest.mark.parametrize("n", [6, 10, 25])
def test_median_interval_covers_the_true_median(n):
    rng = np.random.default_rng(100 + n)
    d = rng.standard_t(3, size=(SIMS, n)) + 0.7  # heavy tails; true median 0.7
    bounds = np.array([median_interval(row) for row in d])
    cover = np.mean((bounds[:, 0] <= 0.7) & (0.7 <= bounds[:, 1]))
    assert cover >= 0.92, cover


def test_median_interval_is_the_sign_test_order_statistics():
    assert min_pairs(0.95) == 6 and min_pairs(0.9) == 5
    assert median_interval(np.arange(6.0)) == (0.0, 5.0)  # n = 6: [min, max] (coverage 96.9%)
    assert median_interval(np.arange(10.0)) == (1.0, 8.0)  # n = 10: drop one per end (97.9%)
    assert all(np.isnan(median_interval(np.arange(5.0))))


def test_verdicts_follow_the_interval():
    assert Paired.of(np.full(8, 0.1) + np.arange(8) * 1e-3).verdict == "L-VAE better"
    assert Paired.of(-np.full(8, 0.1)).verdict == "L-VAE worse"
    assert Paired.of(np.array([-1.0, 1, -2, 2, -3, 3, 0.5])).verdict.startswith("inconclusive")
    few = Paired.of(np.ones(3))
    assert few.n_pairs == 3 and few.verdict.startswith("no conclusion can be drawn: 3 paired "
                                                       "seed(s)")


def test_a_real_difference_is_found_with_enough_seeds():
    rng = np.random.default_rng(7)
    found = [Paired.of(rng.normal(1.0, 1.0, 20)).verdict == "L-VAE better" for _ in range(200)]
    assert np.mean(found) > 0.8  # one standard deviation, 20 seeds: the sign test has ~90% power


def test_ties_widen_the_interval_on_both_sides():
    p, lo, hi = win_probability(np.array([0.0, 0.0, 1.0, -1.0]))
    assert p == 0.5 and lo < 0.1 and hi > 0.9


@pytest.mark.parametrize("n", [5, 6, 9, 14])
def test_null_verdict_rate_matches_simulated_verdicts_under_no_difference(n):
    """Pure noise, many times: the share of verdicts is the rate the multiplicity note uses."""
    sims = 4000
    rng = np.random.default_rng(7 * n)
    d = rng.standard_t(3, size=(sims, n))  # heavy-tailed, median 0: no difference
    verdicts = [verdict(n, *median_interval(row)) for row in d]  # what Paired.of decides with
    decided = np.mean([not v.startswith(("no conclusion", "inconclusive")) for v in verdicts])
    rate = null_verdict_rate(n)
    assert rate <= 0.05
    assert abs(decided - rate) <= 4 * np.sqrt(max(rate,
                                                  1e-4) * (1 - rate) / sims) + 1e-9, (decided, rate)
    assert (rate == 0.0) == (n < min_pairs())


def test_multiplicity_reading_counts_verdicts_against_chance():
    verdicts = ["L-VAE better", "inconclusive: the interval includes no difference",
                "no conclusion can be drawn: 5 paired seed(s)", "L-VAE worse"]
    text = multiplicity_reading(verdicts, [6, 6, 5, 6])
    assert text.startswith("2 of 4 comparisons reached a verdict at 95% each")
    assert f"about {3 * 2 / 64:.1f} would by chance" in text and "not corrected" in text
