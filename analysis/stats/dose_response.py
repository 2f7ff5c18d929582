"""L-VAE against the fixed-beta dose-response curve, seed by seed (docs/statistics.md).

The fixed-beta cells (the plain VAE is beta = 1) trace a metric against ln beta. Each L-VAE
trial learns its own beta_eff, so the fair fixed-beta reference for it is the curve at that
beta_eff, not the nearest swept cell. Every cell shares the same seeds, and a seed's effect
(its initial weights, data order, metric sample) is common to all its runs, so:

* seed ``s``'s own curve ``curve_s`` interpolates its fixed-beta values linearly in ln beta;
* the departure on seed ``s`` is ``d_s = y_lvae,s - curve_s(ln beta_eff,s)``: the seed effect
  cancels, as in any paired same-seed contrast;
* the d_s are independent across seeds, so their mean has a Student t interval and p-value.
  A percentile seed bootstrap of the mean covers 87% at 6 seeds instead of 95%; t covers 95%
  (docs/statistics.md, "Why t and not a bootstrap").

The population curve is the mean of the seeds' curves, with a pointwise t band over seeds
(the seed effects are part of the band, as they should be for the curve's level). Nothing
is extrapolated: a seed whose beta_eff lies outside its fixed-beta range has no curve value,
and a cell with such a seed gets no departure (NaN, ``in_range`` False). Nothing here is
random, so the same table always gives the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import scipy.stats

from analysis.stats.paired import median_interval_at

LEVEL = 0.95
#: fewest paired seeds for a departure (a t interval on 2 seeds is valid but its normality
#: assumption cannot be looked at; the project's other intervals need more)
MIN_SEEDS = 3
#: the column of a learned-beta trial's final beta_eff (the caller maps the results table's
#: column onto it: this module spells no name of lvae.contract)
LEARNED = "learned_beta"


def seed_curves(fixed: pd.DataFrame, value: str = "value") -> pd.DataFrame:
    """Seeds x ln beta table of the fixed-beta values (mean over a seed's repeats of a beta).

    ``fixed`` has columns ``seed``, ``beta`` and ``value``; rows without a value are left out.
    """
    rows = fixed.loc[fixed[value].notna() & fixed["beta"].notna(), ["seed", "beta", value]]
    table = rows.assign(log_beta=np.log(rows["beta"].astype(float))).pivot_table(
        index="seed", columns="log_beta", values=value, aggfunc="mean")
    return table.sort_index(axis=1)


def evaluate(curves: pd.DataFrame, seeds: np.ndarray, log_beta: np.ndarray) -> np.ndarray:
    """Each seed's own curve at its own ln beta (NaN outside that seed's fixed-beta range).

    ``curves`` comes from :func:`seed_curves`; ``seeds`` and ``log_beta`` are aligned arrays
    (a seed without fixed-beta runs gets NaN).
    """
    out = np.full(len(seeds), np.nan)
    grid = curves.columns.to_numpy(dtype=float)
    for i, (s, x) in enumerate(zip(seeds, log_beta, strict=True)):
        if s not in curves.index or not np.isfinite(x):
            continue
        y = curves.loc[s].to_numpy(dtype=float)
        ok = np.isfinite(y)
        if ok.sum() >= 2 and grid[ok][0] <= x <= grid[ok][-1]:
            out[i] = float(np.interp(x, grid[ok], y[ok]))
    return out


def t_interval(d: np.ndarray, level: float = LEVEL) -> tuple[float, float, float, float]:
    """Mean of ``d`` with its Student t interval and two-sided p-value of mean 0:
    (mean, low, high, p); NaN below 2 values, a zero-width interval (p NaN) if d is constant."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    n = d.size
    if n < 2:
        return math.nan, math.nan, math.nan, math.nan
    mean, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(n))
    if se == 0:
        return mean, mean, mean, math.nan
    half = float(scipy.stats.t.ppf(0.5 + level / 2, n - 1)) * se
    p = float(2 * scipy.stats.t.sf(abs(mean) / se, n - 1))
    return mean, mean - half, mean + half, p


def curve_band(fixed: pd.DataFrame, value: str = "value", grid: np.ndarray | None = None,
               points: int = 101, level: float = LEVEL) -> pd.DataFrame:
    """The fixed-beta curve on a ln-beta grid for plotting, with a pointwise ``level`` band.

    Columns ``log_beta``, ``beta``, ``mean`` (mean of the seeds' curves), ``lo``, ``hi``
    (Student t over those curves) and ``n_seeds`` (seeds whose fixed-beta range covers the
    point). The grid defaults to ``points`` evenly spaced values over the swept range.
    """
    curves = seed_curves(fixed, value)
    cols = ["log_beta", "beta", "mean", "lo", "hi", "n_seeds"]
    if curves.shape[1] < 2:
        return pd.DataFrame(columns=cols)
    knots = curves.columns.to_numpy(dtype=float)
    x = np.linspace(knots[0], knots[-1], points) if grid is None else np.asarray(grid, float)
    seeds = curves.index.to_numpy()
    at = np.stack([evaluate(curves, seeds, np.full(len(seeds), xi)) for xi in x], axis=1)
    stats = [t_interval(col, level) for col in at.T]
    return pd.DataFrame({
        "log_beta": x, "beta": np.exp(x), "mean": [s[0] for s in stats],
        "lo": [s[1] for s in stats], "hi": [s[2] for s in stats],
        "n_seeds": np.isfinite(at).sum(axis=0)}, columns=cols)


@dataclass(frozen=True)
class Departure:
    """One L-VAE cell against the fixed-beta curve on one metric."""

    cell: str
    metric: str
    n_seeds: int  # seeds with an L-VAE value, a beta_eff and fixed-beta runs
    n_outside: int  # of those, seeds whose beta_eff is outside their fixed-beta range
    beta_eff_median: float
    beta_eff_lo: float
    beta_eff_hi: float
    beta_eff_confidence: float
    beta_min: float  # the curve's swept range
    beta_max: float
    departure: float  # mean over seeds of y_lvae,s - curve_s(beta_eff,s)
    departure_lo: float
    departure_hi: float
    p_value: float  # two-sided t test of mean departure 0
    in_range: bool
    level: float


def departure(fixed: pd.DataFrame, lvae: pd.DataFrame, cell: str, metric: str,
              value: str = "value", level: float = LEVEL) -> Departure:
    """Paired same-seed departure of one L-VAE cell from the fixed-beta curve.

    ``fixed``: columns ``seed``, ``beta``, ``value`` (the curve's cells); ``lvae``: the L-VAE
    cell's trials, columns ``seed``, :data:`LEARNED`, ``value``. A departure needs
    :data:`MIN_SEEDS` seeds, all inside the fixed-beta range; otherwise it is NaN.
    """
    curves = seed_curves(fixed, value)
    rows = lvae.loc[lvae[value].notna() & lvae[LEARNED].notna()]
    rows = rows.loc[rows["seed"].isin(curves.index)].groupby("seed")[[LEARNED, value]].mean()
    b = rows[LEARNED].to_numpy(dtype=float)
    ref = evaluate(curves, rows.index.to_numpy(), np.log(b))
    n_outside = int(np.isnan(ref).sum())
    in_range = len(rows) > 0 and n_outside == 0
    est = (math.nan,) * 4
    if in_range and len(rows) >= MIN_SEEDS:
        est = t_interval(rows[value].to_numpy(dtype=float) - ref, level)
    lo, hi, conf = median_interval_at(b, level)
    swept = fixed.loc[fixed[value].notna(), "beta"].astype(float)
    return Departure(str(cell), str(metric), len(rows), n_outside,
                     float(np.median(b)) if b.size else math.nan, lo, hi, conf,
                     float(swept.min()), float(swept.max()), *est, bool(in_range), level)


def departure_table(trials: pd.DataFrame, metric: str, value: str | None = None,
                    level: float = LEVEL, higher_better: bool | None = None,
                    labels: dict[str, str] | None = None) -> pd.DataFrame:
    """:class:`Departure` of every learned-beta cell, one row each, with its ``reading``.

    ``trials`` is the long table: ``cell``, ``seed``, ``beta`` (the fixed dose, NaN for a
    learned-beta cell), :data:`LEARNED` (required on learned-beta rows) and the metric in column
    ``value`` (default: ``metric``). ``labels`` maps a cell to the name its reading uses.
    """
    value = value or metric
    fixed = trials.loc[trials["beta"].notna()]
    learned = trials.loc[trials["beta"].isna()]
    rows = []
    for cell, group in learned.groupby("cell", sort=True):
        dep = departure(fixed, group, str(cell), metric, value, level)
        label = (labels or {}).get(str(cell), str(cell))
        rows.append({**asdict(dep), "reading": reading(dep, label, None, higher_better)})
    cols = [*Departure.__dataclass_fields__, "reading"]
    return pd.DataFrame(rows, columns=cols)


def _beta(x: float) -> str:
    return f"{x:.2g}" if abs(x) < 10 else f"{x:.0f}"


def reading(dep: Departure, label: str | None = None, metric_label: str | None = None,
            higher_better: bool | None = None, digits: int = 3) -> str:
    """One line, e.g. "L-VAE lambda=0.1 (beta_eff 3.1 [2.8, 3.6]) vs fixed beta at 3.1:
    MIG +0.004 [-0.010, 0.019], indistinguishable". With ``higher_better`` set, a departure
    whose interval excludes 0 reads better/worse than the curve, else above/below it."""
    who, what = label or dep.cell, metric_label or dep.metric
    if dep.n_seeds == 0:
        return f"{who}: no seed has both a beta_eff and fixed-beta runs for {what}"
    where = (f"{who} (beta_eff {_beta(dep.beta_eff_median)} "
             f"[{_beta(dep.beta_eff_lo)}, {_beta(dep.beta_eff_hi)}])")
    if not dep.in_range:
        return (f"{where}: outside the curve's range [{_beta(dep.beta_min)}, "
                f"{_beta(dep.beta_max)}] on {dep.n_outside} of {dep.n_seeds} seeds; "
                "not extrapolated")
    if dep.n_seeds < MIN_SEEDS:
        return (f"{where}: no conclusion can be drawn: {dep.n_seeds} seed(s), at least "
                f"{MIN_SEEDS} are needed")
    f = f"{{:.{digits}f}}"
    est = (f"{dep.departure:+.{digits}f} "
           f"[{f.format(dep.departure_lo)}, {f.format(dep.departure_hi)}]")
    if dep.departure_lo <= 0 <= dep.departure_hi or math.isnan(dep.departure_lo):
        verdict = "indistinguishable"
    elif higher_better is None:
        verdict = "above the curve" if dep.departure_lo > 0 else "below the curve"
    else:
        verdict = "better" if (dep.departure_lo > 0) == higher_better else "worse"
        verdict += " than the curve"
    return f"{where} vs fixed beta at {_beta(dep.beta_eff_median)}: {what} {est}, {verdict}"
