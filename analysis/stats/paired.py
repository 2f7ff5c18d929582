"""Paired differences over shared seeds, with exact distribution-free intervals.

The same seed gives every objective the same initial weights and data order, so L-VAE
and a fixed beta are compared seed by seed: ``d_s = metric(L-VAE, s) - metric(fixed, s)``.

* Median paired difference: the interval ``[d_(k+1), d_(n-k)]`` between order statistics,
  with ``k`` the largest count such that ``P(Binomial(n, 1/2) <= k) <= (1 - level) / 2``.
  It inverts the exact sign test, so its coverage is at least ``level`` for any continuous
  distribution of the differences, whatever the sample size; a bootstrap of a median from
  a handful of seeds is badly calibrated. It needs
  :func:`min_pairs` seeds (6 for 95%): fewer cannot give a ``level`` interval at all.
* P(L-VAE better) on a seed: wins (plus half the ties) over pairs, with the exact
  Clopper-Pearson interval of ``scipy.stats.binomtest``, ties counted as losses for the
  lower bound and as wins for the upper one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats

LEVEL = 0.95


def min_pairs(level: float = LEVEL) -> int:
    """Smallest n whose widest sign-test interval [min, max] reaches ``level`` (6 for 95%)."""
    return int(math.ceil(math.log2(2 / (1 - level))))


def median_interval(d: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """Exact sign-test interval for the median of ``d`` (NaN when n < :func:`min_pairs`)."""
    d = np.sort(np.asarray(d, dtype=float))
    n = d.size
    if n < min_pairs(level):
        return math.nan, math.nan
    k, _ = _dropped_per_end(n, level)
    return float(d[k]), float(d[n - 1 - k])


def _dropped_per_end(n: int, level: float) -> tuple[int, float]:
    """The sign test's ``k`` for ``n >= min_pairs(level)`` pairs (order statistics dropped
    per end of the interval) and ``P(Binomial(n, 1/2) <= k)``."""
    cdf = scipy.stats.binom.cdf(np.arange(n + 1), n, 0.5)
    k = int(np.flatnonzero(cdf <= (1 - level) / 2).max())
    return k, float(cdf[k])


def median_interval_at(x: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """Order-statistic interval for the median of ``x`` and its exact confidence.

    The narrowest symmetric ``[x_(k+1), x_(n-k)]`` whose confidence ``1 - 2 P(Binomial(n, 1/2)
    <= k)`` reaches ``level``; below :func:`min_pairs` values no interval reaches it, and
    ``[min, max]`` is given with its own, lower confidence (``1 - 2 / 2^n``: 94% for 5 values),
    so a table of medians over few seeds still shows an interval with what it is worth.
    (lo, hi, confidence); NaN below 2 values.
    """
    x = np.sort(np.asarray(x, dtype=float))
    x = x[~np.isnan(x)]
    n = x.size
    if n < 2:
        return math.nan, math.nan, math.nan
    cdf = scipy.stats.binom.cdf(np.arange(n + 1), n, 0.5)
    fits = np.flatnonzero(cdf <= (1 - level) / 2)
    k = int(fits.max()) if fits.size else 0
    return float(x[k]), float(x[n - 1 - k]), float(1 - 2 * cdf[k])


def win_probability(d: np.ndarray, level: float = LEVEL) -> tuple[float, float, float]:
    """P(d > 0) + 0.5 P(d = 0) with an exact interval: (estimate, low, high); NaN if empty."""
    d = np.asarray(d, dtype=float)
    n = d.size
    if n == 0:
        return math.nan, math.nan, math.nan
    wins, ties = int((d > 0).sum()), int((d == 0).sum())
    low = scipy.stats.binomtest(wins, n).proportion_ci(level, method="exact").low
    high = scipy.stats.binomtest(wins + ties, n).proportion_ci(level, method="exact").high
    return (wins + 0.5 * ties) / n, float(low), float(high)


def sign_test_p(d: np.ndarray) -> float:
    """Two-sided exact sign test of 'no difference' (ties dropped); NaN without untied pairs."""
    d = np.asarray(d, dtype=float)
    wins, losses = int((d > 0).sum()), int((d < 0).sum())
    return float(scipy.stats.binomtest(wins, wins + losses).pvalue) if wins + losses else math.nan


@dataclass(frozen=True)
class Paired:
    """The summary of one set of paired differences (L-VAE minus fixed)."""

    n_pairs: int
    median_diff: float
    median_diff_lo: float
    median_diff_hi: float
    p_better: float
    p_better_lo: float
    p_better_hi: float
    p_value: float
    verdict: str

    @classmethod
    def of(cls, diff: np.ndarray, higher_better: bool = True, level: float = LEVEL,
           subject: str = "L-VAE") -> Paired:
        """``diff`` = subject - other per seed (L-VAE - fixed by default); 'better' follows
        the metric's direction."""
        diff = np.asarray(diff, dtype=float)
        diff = diff[~np.isnan(diff)]
        better = diff if higher_better else -diff
        lo, hi = median_interval(diff, level)
        p, p_lo, p_hi = win_probability(better, level)
        return cls(int(diff.size), float(np.median(diff)) if diff.size else math.nan, lo, hi,
                   p, p_lo, p_hi, sign_test_p(diff),
                   verdict(diff.size, lo, hi, higher_better, level, subject))


def null_verdict_rate(n: int, level: float = LEVEL) -> float:
    """P(a verdict) for ``n`` pairs when the median difference is 0 (any continuous law).

    The interval of :func:`median_interval` excludes 0 exactly when at most ``k`` of the
    differences fall on one side, so the rate is ``2 P(Binomial(n, 1/2) <= k)`` (at most
    ``1 - level``; 2/64 = 3.1% for 6 pairs at 95%), and 0 below :func:`min_pairs`.
    """
    if n < min_pairs(level):
        return 0.0
    return 2 * _dropped_per_end(n, level)[1]


def multiplicity_reading(verdicts: list[str], n_pairs: list[int], level: float = LEVEL) -> str:
    """How many of a table's comparisons reached a verdict, against how many would by
    chance if there were no difference anywhere (the verdicts are not corrected for
    multiple comparisons; docs/analysis.md, "Paired comparisons")."""
    decided = sum(map(is_decided, verdicts))
    expected = sum(null_verdict_rate(int(n), level) for n in n_pairs)
    return (f"{decided} of {len(verdicts)} comparisons reached a verdict at {level:.0%} each; with "
            f"no difference anywhere about {expected:.1f} would by chance. Verdicts are not "
            "corrected for multiple comparisons, and comparisons that share seeds and metrics err "
            "together.")


def is_decided(text: str) -> bool:
    """Whether a :func:`verdict` says better or worse (not "inconclusive"/"no conclusion")."""
    return not text.startswith(("no conclusion", "inconclusive"))


def verdict(n: int, lo: float, hi: float, higher_better: bool = True, level: float = LEVEL,
            subject: str = "L-VAE") -> str:
    """What the interval allows one to say, in words."""
    need = min_pairs(level)
    if n < need:
        return (f"no conclusion can be drawn: {n} paired seed(s), at least {need} are needed "
                f"for a {level:.0%} interval")
    if lo <= 0 <= hi:
        return "inconclusive: the interval includes no difference"
    higher = lo > 0
    return f"{subject} better" if higher == higher_better else f"{subject} worse"
