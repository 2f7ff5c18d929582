"""How metrics move with seeds, hyperparameters and objectives (pure functions on tables).

Every function takes the trial table of :func:`analysis.io.load.load_experiments`, uses the
finished trials whose posterior did not collapse (``include_collapsed=True`` keeps those;
see :mod:`analysis.io.collapse`), and returns a tidy table (one row per cell/metric or metric).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.stats

from analysis.io.collapse import usable
from analysis.io.table import (
    ACTIVE_UNITS,
    CELL_BASE,
    HP_PREFIX,
    format_value,
    hp_columns,
    resolve_metrics,
    short_name,
    with_cells,
)
from analysis.stats.crossed import COLUMNS as CROSSED_COLUMNS
from analysis.stats.crossed import COMPONENTS, crossed_components

STATS = ("median", "q25", "q75", "iqr", "min", "max")


def _stats(values: pd.Series) -> dict[str, float]:
    v = values.dropna().to_numpy(dtype=float)
    if v.size == 0:
        return {s: np.nan for s in STATS}
    q25, med, q75 = np.quantile(v, [0.25, 0.5, 0.75])
    return {"median": med, "q25": q25, "q75": q75, "iqr": q75 - q25, "min": v.min(), "max": v.max()}


def _prepare(df: pd.DataFrame, include_collapsed: bool = False) -> pd.DataFrame:
    """Finished trials with a cell label; collapsed ones left out unless asked for."""
    df = df if "cell" in df.columns else with_cells(df)
    return usable(df, include_collapsed)


def cell_summary(
    df: pd.DataFrame, metrics: Sequence[str] | None = None, include_collapsed: bool = False
) -> pd.DataFrame:
    """Per cell and metric: median, IQR, min, max over seeds, and how many seeds scored.

    ``n_seeds`` counts the seeds with a value for that metric among the trials summarised
    (collapsed ones are left out unless ``include_collapsed``), so a metric that is missing
    for some trials shows a smaller n than its neighbours. ``n_finished``, ``n_collapsed``
    and ``collapse_rate`` count every finished trial of the cell.
    """
    finished = _prepare(df, include_collapsed=True)
    done = _prepare(df, include_collapsed)
    metrics = resolve_metrics(finished, metrics)
    keys = list(CELL_BASE) + hp_columns(finished)
    rows = []
    for cell, all_trials in finished.groupby("cell", sort=True):
        group = done[done["cell"] == cell]
        first = all_trials.iloc[0]
        n_collapsed = int(all_trials["collapsed"].sum()) if "collapsed" in all_trials else 0
        for m in metrics:
            vals = group[m]
            rows.append({
                "cell": cell, **{k: first[k] for k in keys}, "metric": m,
                **_stats(vals), "n_seeds": int(group.loc[vals.notna(), "seed"].nunique()),
                "n_trials": len(group), "n_finished": len(all_trials), "n_collapsed": n_collapsed,
                "collapse_rate": n_collapsed / len(all_trials),
            })
    cols = ["cell", *keys, "metric", *STATS, "n_seeds", "n_trials", "n_finished", "n_collapsed",
            "collapse_rate"]
    return pd.DataFrame(rows, columns=cols)


def collapse_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per cell: finished trials, how many collapsed (lvae.collapse's rule), and the median
    count of active units by KL (``active_dims``) and by Var_x of the posterior mean
    (``metric.active_units``; NaN where neither the sweep nor the analysis scored it)."""
    finished = _prepare(df, include_collapsed=True)
    cols = ["cell", "objective", "n_finished", "n_collapsed", "collapse_rate",
            "active_dims_median", "active_units_median"]
    if finished.empty or "collapsed" not in finished:
        return pd.DataFrame(columns=cols)
    for column in ("active_dims", ACTIVE_UNITS):
        if column not in finished:
            finished = finished.assign(**{column: np.nan})
    g = finished.groupby(["cell", "objective"], sort=True)
    out = pd.DataFrame({"n_finished": g.size(), "n_collapsed": g["collapsed"].sum().astype(int),
                        "active_dims_median": g["active_dims"].median(),
                        "active_units_median": g[ACTIVE_UNITS].median()}).reset_index()
    out["collapse_rate"] = out["n_collapsed"] / out["n_finished"]
    return out[cols]


def variance_decomposition(
    df: pd.DataFrame, metrics: Sequence[str] | None = None, *, level: float = 0.95,
    draws: int = 4000, seed: int = 0, include_collapsed: bool = False,
) -> pd.DataFrame:
    """Variance components of each metric in the crossed design every sweep has (each seed
    runs in every cell): cell, seed, cell x seed, and objective from 4 objectives on
    (:mod:`analysis.stats.crossed`; docs/statistics.md). One row per metric and component,
    point and interval from the same estimator on the same scale; ``n_trials`` counts the
    trials used. Collapsed trials are left out unless ``include_collapsed``.
    """
    done = _prepare(df, include_collapsed)
    frames = []
    for metric in resolve_metrics(done, metrics):
        values = pd.to_numeric(done[metric], errors="coerce")
        long = pd.DataFrame({"cell": done["cell"], "seed": done["seed"],
                             "objective": done["objective"], "value": values}).dropna()
        if long.empty:
            continue
        if not (long.groupby("seed")["cell"].nunique() == long["cell"].nunique()).any():
            note = "no seed ran in every cell: the crossed design cannot be estimated"
            table = pd.DataFrame([{"metric": metric, "component": k, "note": note}
                                  for k in COMPONENTS], columns=CROSSED_COLUMNS)
        else:
            table = crossed_components(long, "value", objective="objective", metric=metric,
                                       level=level, draws=draws, seed=seed)
        frames.append(table.assign(n_trials=len(long)))
    if not frames:
        return pd.DataFrame(columns=[*CROSSED_COLUMNS, "n_trials"])
    return pd.concat(frames, ignore_index=True)


def _series_label(row: pd.Series, columns: Sequence[str]) -> str:
    parts = [
        f"{short_name(c)}={format_value(row[c])}"
        if c.startswith(HP_PREFIX)
        else format_value(row[c])
        for c in columns
        if pd.notna(row[c])
    ]
    return " ".join(parts) or "all"


def sensitivity(df: pd.DataFrame, objective: str, param: str, metrics: Sequence[str] | None = None,
                include_collapsed: bool = False) -> pd.DataFrame:
    """Each metric against one hyperparameter of one objective, with the seed spread.

    One row per (series, value, metric) where a series is everything else that defines a
    cell (dataset, architecture, other hyperparameters), so curves never mix them.
    """
    done = _prepare(df, include_collapsed)
    metrics = resolve_metrics(done, metrics)
    sub = done[done["objective"] == objective]
    cols = ["objective", "param", "series", "value", "metric", *STATS, "n_seeds"]
    if sub.empty or param not in sub.columns:
        return pd.DataFrame(columns=cols)
    sub = sub[sub[param].notna()]
    others = [
        c
        for c in ("dataset", "architecture", *hp_columns(sub))
        if c != param and sub[c].dropna().nunique() > 1
    ]
    series = sub.apply(lambda r: _series_label(r, others), axis=1) if len(sub) else []
    sub = sub.assign(series=series)
    rows = []
    for (label, value), group in sub.groupby(["series", param], sort=True):
        for m in metrics:
            vals = group[m]
            rows.append(
                {
                    "objective": objective,
                    "param": param,
                    "series": label,
                    "value": value,
                    "metric": m,
                    **_stats(vals),
                    "n_seeds": int(group.loc[vals.notna(), "seed"].nunique()),
                }
            )
    return pd.DataFrame(rows, columns=cols)


def sensitivity_trend(df: pd.DataFrame, objective: str, param: str,
                      metrics: Sequence[str] | None = None,
                      include_collapsed: bool = False) -> pd.DataFrame:
    """Spearman rank correlation of each metric with the hyperparameter, over trials."""
    done = _prepare(df, include_collapsed)
    metrics = resolve_metrics(done, metrics)
    sub = done[done["objective"] == objective]
    rows = []
    for m in metrics:
        if param not in sub.columns:
            break
        d = sub[[param, m]].dropna()
        rho = p = np.nan
        if len(d) >= 3 and d[param].nunique() > 1 and d[m].nunique() > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = scipy.stats.spearmanr(d[param], d[m])
            rho, p = float(res.statistic), float(res.pvalue)
        rows.append(
            {
                "objective": objective,
                "param": param,
                "metric": m,
                "n_trials": len(d),
                "n_values": int(d[param].nunique()),
                "spearman_rho": rho,
                "p_value": p,
            }
        )
    return pd.DataFrame(
        rows,
        columns=["objective", "param", "metric", "n_trials", "n_values", "spearman_rho", "p_value"],
    )
