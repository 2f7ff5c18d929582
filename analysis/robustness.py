"""How metrics move with seeds, hyperparameters and objectives (pure functions on tables).

Every function takes the trial table of :func:`analysis.load.load_experiments`, uses the
finished trials only, and returns a tidy table (one row per cell/metric or metric).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.stats

from analysis.table import (
    CELL_BASE,
    HP_PREFIX,
    completed,
    format_value,
    hp_columns,
    resolve_metrics,
    short_name,
    with_cells,
)

STATS = ("median", "q25", "q75", "iqr", "min", "max")


def _stats(values: pd.Series) -> dict[str, float]:
    v = values.dropna().to_numpy(dtype=float)
    if v.size == 0:
        return {s: np.nan for s in STATS}
    q25, med, q75 = np.quantile(v, [0.25, 0.5, 0.75])
    return {"median": med, "q25": q25, "q75": q75, "iqr": q75 - q25, "min": v.min(), "max": v.max()}


def _prepare(df: pd.DataFrame) -> pd.DataFrame:
    done = completed(df)
    return done if "cell" in done.columns else with_cells(done)


def cell_summary(df: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Per cell and metric: median, IQR, min, max over seeds, and how many seeds scored.

    ``n_seeds`` counts the finished seeds with a value for that metric, so a metric that is
    missing for some trials shows a smaller n than its neighbours.
    """
    done = _prepare(df)
    metrics = resolve_metrics(done, metrics)
    keys = list(CELL_BASE) + hp_columns(done)
    rows = []
    for cell, group in done.groupby("cell", sort=True):
        first = group.iloc[0]
        for m in metrics:
            vals = group[m]
            rows.append({
                "cell": cell, **{k: first[k] for k in keys}, "metric": m,
                **_stats(vals), "n_seeds": int(group.loc[vals.notna(), "seed"].nunique()),
                "n_trials": len(group),
            })
    cols = ["cell", *keys, "metric", *STATS, "n_seeds", "n_trials"]
    return pd.DataFrame(rows, columns=cols)


def variance_decomposition(df: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.DataFrame:
    """Nested sums of squares of each metric: objective > cell within objective > seed.

    SS_total = SS_objective + SS_hyperparameter + SS_seed, with
    SS_objective = sum over trials of (objective mean - grand mean)^2,
    SS_hyperparameter = sum of (cell mean - objective mean)^2 (hyperparameters and
    architecture within an objective), SS_seed = sum of (value - cell mean)^2. Reported as
    fractions of SS_total, the question Locatello et al. (2019) asked of seeds vs
    hyperparameters. ``n_cells_replicated`` counts cells with two or more seeds: with none,
    the seed share is zero by construction, not by evidence.
    """
    done = _prepare(df)
    metrics = resolve_metrics(done, metrics)
    rows = []
    for m in metrics:
        d = done.loc[done[m].notna(), ["objective", "cell", m]]
        x = d[m].to_numpy(dtype=float)
        row: dict[str, object] = {"metric": m, "n_trials": len(d)}
        if len(d) == 0:
            rows.append(row)
            continue
        obj_mean = d.groupby("objective")[m].transform("mean").to_numpy()
        cell_mean = d.groupby("cell")[m].transform("mean").to_numpy()
        grand = x.mean()
        ss = {
            "objective": float(((obj_mean - grand) ** 2).sum()),
            "hyperparameter": float(((cell_mean - obj_mean) ** 2).sum()),
            "seed": float(((x - cell_mean) ** 2).sum()),
        }
        total = float(((x - grand) ** 2).sum())
        sizes = d.groupby("cell").size()
        row.update({
            "n_objectives": d["objective"].nunique(), "n_cells": len(sizes),
            "n_cells_replicated": int((sizes >= 2).sum()), "ss_total": total,
            **{f"ss_{k}": v for k, v in ss.items()},
            **{f"frac_{k}": (v / total if total > 0 else np.nan) for k, v in ss.items()},
        })
        rows.append(row)
    cols = ["metric", "n_trials", "n_objectives", "n_cells", "n_cells_replicated", "ss_total",
            "ss_objective", "ss_hyperparameter", "ss_seed",
            "frac_objective", "frac_hyperparameter", "frac_seed"]
    return pd.DataFrame(rows, columns=cols)


def _series_label(row: pd.Series, columns: Sequence[str]) -> str:
    parts = [f"{short_name(c)}={format_value(row[c])}" if c.startswith(HP_PREFIX) else format_value(row[c])
             for c in columns if pd.notna(row[c])]
    return " ".join(parts) or "all"


def sensitivity(
    df: pd.DataFrame, objective: str, param: str, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Each metric against one hyperparameter of one objective, with the seed spread.

    One row per (series, value, metric) where a series is everything else that defines a
    cell (dataset, architecture, other hyperparameters), so curves never mix them.
    """
    done = _prepare(df)
    metrics = resolve_metrics(done, metrics)
    sub = done[done["objective"] == objective]
    cols = ["objective", "param", "series", "value", "metric", *STATS, "n_seeds"]
    if sub.empty or param not in sub.columns:
        return pd.DataFrame(columns=cols)
    sub = sub[sub[param].notna()]
    others = [c for c in ("dataset", "architecture", *hp_columns(sub))
              if c != param and sub[c].dropna().nunique() > 1]
    series = sub.apply(lambda r: _series_label(r, others), axis=1) if len(sub) else []
    sub = sub.assign(series=series)
    rows = []
    for (label, value), group in sub.groupby(["series", param], sort=True):
        for m in metrics:
            vals = group[m]
            rows.append({"objective": objective, "param": param, "series": label, "value": value,
                         "metric": m, **_stats(vals),
                         "n_seeds": int(group.loc[vals.notna(), "seed"].nunique())})
    return pd.DataFrame(rows, columns=cols)


def sensitivity_trend(
    df: pd.DataFrame, objective: str, param: str, metrics: Sequence[str] | None = None
) -> pd.DataFrame:
    """Spearman rank correlation of each metric with the hyperparameter, over trials."""
    done = _prepare(df)
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
        rows.append({"objective": objective, "param": param, "metric": m, "n_trials": len(d),
                     "n_values": int(d[param].nunique()), "spearman_rho": rho, "p_value": p})
    return pd.DataFrame(rows, columns=["objective", "param", "metric", "n_trials", "n_values",
                                       "spearman_rho", "p_value"])
