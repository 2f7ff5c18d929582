"""The selection question without labels: L-VAE at its default lambda vs fixed betas.

Someone without ground-truth factors cannot pick the best beta; they run L-VAE at its
default lambda or guess a beta. These tables say what that choice costs or gains:
L-VAE's default cell against the best, median and worst fixed-beta cell (ranked by
median metric over seeds), and the probability that an L-VAE seed beats a fixed-beta
seed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.table import HP_PREFIX, completed, higher_is_better, resolve_metrics, with_cells

COMPARISONS = ("best", "median", "worst", "any")


def prob_superiority(x: Sequence[float], y: Sequence[float], higher_better: bool = True) -> float:
    """P(X > Y) + 0.5 P(X = Y) over all pairs (the common-language effect size).

    NaNs are dropped; with an empty side the answer is NaN. With ``higher_better=False``
    'beats' means 'is lower'.
    """
    a = np.asarray(x, dtype=float)
    b = np.asarray(y, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if a.size == 0 or b.size == 0:
        return float("nan")
    if not higher_better:
        a, b = -a, -b
    diff = a[:, None] - b[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())


def default_params(objective: str = "lvae") -> dict[str, Any] | None:
    """The objective's defaults from lvae's registry (lambda and the rest); None without it."""
    try:
        from lvae.objectives import OBJECTIVES
    except ImportError:
        return None
    try:
        return dict(OBJECTIVES[objective].defaults)
    except (KeyError, AttributeError, TypeError):
        return None


def default_lvae_lambda(objective: str = "lvae") -> float | None:
    """The L-VAE default lambda from lvae's objective registry; None if lvae lacks it."""
    params = default_params(objective)
    try:
        return float(params["lambda"]) if params is not None else None
    except (KeyError, TypeError, ValueError):
        return None


def _nearest(values: np.ndarray, target: float) -> float:
    """The swept value closest to target (in log space when everything is positive)."""
    if target > 0 and (values > 0).all():
        return float(values[np.argmin(np.abs(np.log(values) - np.log(target)))])
    return float(values[np.argmin(np.abs(values - target))])


def _matches(column: pd.Series, value: Any) -> pd.Series:
    if isinstance(value, int | float) and not isinstance(value, bool):
        numeric = pd.to_numeric(column, errors="coerce")
        return pd.Series(np.isclose(numeric.astype(float), float(value)), index=column.index)
    return column.astype(str) == str(value)


def _at_defaults(rows: pd.DataFrame, defaults: Mapping[str, Any]) -> pd.DataFrame:
    """Rows at the default of every other hyperparameter that varies among them.

    A hyperparameter whose default was not swept is left unfiltered (each L-VAE cell then
    gets its own comparison rows, named by ``lvae_cell``).
    """
    for name, value in defaults.items():
        col = f"{HP_PREFIX}{name}"
        if name == "lambda" or col not in rows or rows[col].dropna().nunique() < 2:
            continue
        keep = _matches(rows[col], value)
        if keep.any():
            rows = rows[keep.to_numpy()]
    return rows


def lvae_vs_fixed_beta(
    df: pd.DataFrame,
    metrics: Sequence[str] | None = None,
    *,
    default_lambda: float | None = None,
    defaults: Mapping[str, Any] | None = None,
    lvae: str = "lvae",
    fixed: str = "beta_vae",
    lambda_col: str = "hp.lambda",
    beta_col: str = "hp.beta",
) -> pd.DataFrame:
    """L-VAE at ``default_lambda`` vs the best / median / worst fixed-beta cell and all of them.

    Done per (dataset, architecture). The L-VAE rows are those at the default lambda and,
    where other L-VAE hyperparameters vary (``hp.regulariser``...), at their ``defaults``
    (default: lvae's registry); any L-VAE cells still distinct get rows of their own.
    Fixed-beta cells are ranked by their median over seeds; with an even number of cells
    'median' is the better of the two middle ones. ``lambda_used`` differs from
    ``lambda_default`` when the default was not swept (the nearest swept value is used,
    and the report says so). ``p_beat`` is :func:`prob_superiority` of L-VAE seeds over
    that cell's seeds ('any': over the seeds of every fixed-beta cell pooled).
    """
    done = completed(df)
    done = done if "cell" in done.columns else with_cells(done)
    metrics = resolve_metrics(done, metrics)
    if default_lambda is None:
        default_lambda = default_lvae_lambda(lvae)
    if defaults is None:
        defaults = default_params(lvae) or {}
    cols = ["dataset", "architecture", "metric", "comparison", "lambda_default", "lambda_used",
            "lvae_cell", "fixed_cell", "beta", "lvae_median", "fixed_median", "p_beat",
            "n_lvae", "n_fixed"]
    rows = []
    for (dataset, arch), group in done.groupby(["dataset", "architecture"], sort=True):
        lv = group[(group["objective"] == lvae)]
        fx = group[(group["objective"] == fixed)]
        if lv.empty or fx.empty or lambda_col not in lv or lv[lambda_col].isna().all():
            continue
        swept = np.sort(lv[lambda_col].dropna().unique().astype(float))
        target = default_lambda if default_lambda is not None else float(np.median(swept))
        lam = _nearest(swept, target)
        lv = _at_defaults(lv[np.isclose(lv[lambda_col].astype(float), lam)], defaults)
        for lvae_cell, lv_cell in lv.groupby("cell", sort=True):
            for m in metrics:
                rows += _compare(lv_cell[m].dropna(), fx, m, beta_col, fixed, {
                    "dataset": dataset, "architecture": arch, "metric": m,
                    "lambda_default": default_lambda, "lambda_used": lam, "lvae_cell": lvae_cell})
    return pd.DataFrame(rows, columns=cols)


def _compare(x: pd.Series, fx: pd.DataFrame, m: str, beta_col: str, fixed: str,
             base: dict[str, Any]) -> list[dict[str, Any]]:
    """The best / median / worst / any rows for one L-VAE cell and metric."""
    better = higher_is_better(m)
    medians = fx.groupby("cell")[m].median().dropna()
    if medians.empty:
        return []
    ranked = medians.sort_values(ascending=not better, kind="stable")
    picks = {"best": ranked.index[0], "median": ranked.index[(len(ranked) - 1) // 2],
             "worst": ranked.index[-1]}
    base = {**base, "lvae_median": x.median() if len(x) else np.nan, "n_lvae": len(x)}
    out = []
    for name, cell in picks.items():
        in_cell = fx["cell"] == cell
        y = fx.loc[in_cell, m].dropna()
        beta = fx.loc[in_cell, beta_col].iloc[0] if beta_col in fx else np.nan
        out.append({**base, "comparison": name, "fixed_cell": cell, "beta": beta,
                    "fixed_median": y.median(), "p_beat": prob_superiority(x, y, better),
                    "n_fixed": len(y)})
    y = fx[m].dropna()
    out.append({**base, "comparison": "any", "fixed_cell": f"{fixed} (all cells)", "beta": np.nan,
                "fixed_median": y.median(), "p_beat": prob_superiority(x, y, better),
                "n_fixed": len(y)})
    return out
