"""Metrics along training: was the run long enough?

With ``eval_every > 0`` the trainer scores cheap metrics (MIG and DCI with the fast probe
on a small sample) every ``eval_every`` steps and logs them to TensorBoard as
``metric/<key>`` (the keys of metrics.json), with the seconds each evaluation took as
``perf/track_seconds``; :func:`analysis.io.load.read_trajectories` (``include_metrics=True``)
reads them as ``metric.<key>`` and ``perf.track_seconds`` columns. An end-of-run number
cannot say whether a metric had settled; the curve of its median over seeds, with the
spread between seeds, can.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.io.events import scalar_column
from analysis.stats.dose_response import t_interval
from analysis.stats.multiplicity import add_q_values
from analysis.stats.trajectories import trajectory_bands, with_trial_cells
from lvae.contract import METRIC_PREFIX, TRACK_SECONDS_TAG

COST_COLUMN = scalar_column(TRACK_SECONDS_TAG)
BAND_COLUMNS = ["metric", "cell", "objective", "step", "median",
                "q25", "q75", "min", "max", "n_seeds"]
ENDPOINT_COLUMNS = ["metric", "cell", "objective", "n_seeds", "mid_step", "last_step", "mid_median",
                    "last_median", "change_second_half", "last_min", "last_max"]
SLOPE_COLUMNS = ["metric", "cell", "objective", "n_seeds", "from_step", "last_step",
                 "slope_per_1k", "slope_lo", "slope_hi", "change", "change_lo", "change_hi",
                 "p_value", "q_bh", "reading"]


def tracked_metrics(trajectories: pd.DataFrame, preferred: Sequence[str] = ()) -> list[str]:
    """``metric.*`` columns of the trajectories with at least one value; ``preferred`` first."""
    present = [c for c in trajectories.columns
               if c.startswith(METRIC_PREFIX) and trajectories[c].notna().any()]
    return [c for c in preferred if c in present] + sorted(c for c in present if c not in preferred)


def metric_bands(trajectories: pd.DataFrame, trials: pd.DataFrame,
                 metrics: Sequence[str]) -> pd.DataFrame:
    """Long table: per metric, cell and evaluated step the median, quartiles, min and max
    over seeds, and the number of seeds evaluated at that step."""
    parts = [trajectory_bands(trajectories, trials, m).assign(metric=m) for m in metrics]
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame(columns=BAND_COLUMNS)
    return pd.concat(parts, ignore_index=True)[BAND_COLUMNS]


def _nearest_step(steps: np.ndarray, target: float) -> int:
    return int(steps[np.argmin(np.abs(steps - target))])


def metric_endpoints(bands: pd.DataFrame) -> pd.DataFrame:
    """Per metric and cell: the median over seeds halfway through the evaluated steps and at
    the last one, their difference (still moving in the second half?) and the seeds' range
    at the last step."""
    rows = []
    for (metric, cell, objective), g in bands.groupby(["metric", "cell", "objective"], sort=True):
        g = g.sort_values("step")
        steps = g["step"].to_numpy(dtype=float)
        last = g.iloc[-1]
        mid = g[g["step"] == _nearest_step(steps, steps[-1] / 2)].iloc[0]
        rows.append({"metric": metric, "cell": cell, "objective": objective,
                     "n_seeds": int(last["n_seeds"]),
                     "mid_step": int(mid["step"]), "last_step": int(last["step"]),
                     "mid_median": mid["median"], "last_median": last["median"],
                     "change_second_half": last["median"] - mid["median"],
                     "last_min": last["min"], "last_max": last["max"]})
    return pd.DataFrame(rows, columns=ENDPOINT_COLUMNS)


def tracking_cost(trajectories: pd.DataFrame) -> dict[str, float]:
    """Seconds per evaluation along training (median over all of them) and per trial (median
    of the trials' totals); empty when the trainer logged no cost."""
    if COST_COLUMN not in trajectories.columns or trajectories[COST_COLUMN].isna().all():
        return {}
    d = trajectories.dropna(subset=[COST_COLUMN])
    return {"per_evaluation": float(d[COST_COLUMN].median()),
            "per_trial": float(d.groupby("trial")[COST_COLUMN].sum().median()),
            "evaluations_per_trial": float(d.groupby("trial").size().median())}


def seed_slope(steps: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of one seed's metric against the step (NaN below 2 points)."""
    ok = np.isfinite(values)
    if ok.sum() < 2 or np.ptp(steps[ok]) == 0:
        return float("nan")
    return float(np.polyfit(steps[ok], values[ok], 1)[0])


def second_half_slopes(trajectories: pd.DataFrame, trials: pd.DataFrame, metrics: Sequence[str],
                       level: float = 0.95) -> pd.DataFrame:
    """Per metric and cell: is the metric still moving in the second half of training?

    Each seed's slope is fitted by least squares over its evaluations at or after half of the
    cell's last evaluated step; the cell's slope is the mean over seeds with a Student t
    interval (the seeds are independent runs), given per 1,000 steps and as the change it
    implies over the second half. Exploratory: Benjamini-Hochberg q-values over the table
    (docs/analysis.md, "Metrics along training").
    """
    present = [m for m in metrics if m in trajectories.columns]
    d = with_trial_cells(trajectories[["trial", "step", *present]], trials)
    rows = []
    for metric in metrics:
        if metric not in d.columns:
            continue
        for (cell, objective), g in d.dropna(subset=[metric]).groupby(["cell", "objective"]):
            last = int(g["step"].max())
            half = g[g["step"] >= last / 2]
            slopes = np.array([seed_slope(t["step"].to_numpy(float), t[metric].to_numpy(float))
                               for _, t in half.groupby("trial")])
            mean, lo, hi, p = t_interval(slopes, level)
            span = last - int(half["step"].min())
            rows.append({"metric": metric, "cell": cell, "objective": objective,
                         "n_seeds": int(np.isfinite(slopes).sum()),
                         "from_step": int(half["step"].min()), "last_step": last,
                         "slope_per_1k": 1000 * mean, "slope_lo": 1000 * lo,
                         "slope_hi": 1000 * hi, "change": mean * span, "change_lo": lo * span,
                         "change_hi": hi * span, "p_value": p})
    table = pd.DataFrame(rows, columns=SLOPE_COLUMNS[:-2])
    table = add_q_values(table, counted=table["p_value"].notna())
    table["reading"] = [_slope_reading(r) for _, r in table.iterrows()]
    return table[SLOPE_COLUMNS]


def _slope_reading(row: pd.Series) -> str:
    if not np.isfinite(row["slope_lo"]):
        return "no interval (fewer than 2 seeds)"
    if row["slope_lo"] > 0:
        return "rising"
    if row["slope_hi"] < 0:
        return "falling"
    return "no drift detected"
