"""The selection question without labels: L-VAE at its default lambda vs fixed betas.

Someone without ground-truth factors cannot pick the best beta; they run L-VAE at its
default lambda or guess a beta. These tables say what that choice costs or gains, seed
by seed (:mod:`analysis.stats.paired`): L-VAE's default cell against every fixed beta (the
plain VAE is beta = 1), and against the best, median and worst fixed beta chosen on
*other* seeds than the one compared (leave-one-seed-out), so the choice is not fitted to
the numbers it is judged on. Collapsed trials are left out by default and counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.io.collapse import usable
from analysis.io.table import (
    TRAINING_HP_COLUMNS,
    completed,
    higher_is_better,
    resolve_metrics,
    with_cells,
)
from analysis.stats.paired import LEVEL, Paired
from lvae.contract import HP_PREFIX

#: comparisons against a fixed beta chosen on held-out seeds
PICKS = ("best", "median", "worst")
#: training settings that must match for two cells to be compared (besides dataset/architecture)
SHARED = (*TRAINING_HP_COLUMNS, "metric_settings")
COLUMNS = ["dataset", "architecture", "metric", "comparison",
           "selection", "lambda_default", "lambda_used",
           "lvae_cell", "fixed_cell", "beta", "n_pairs", "lvae_median",
           "fixed_median", "median_diff",
           "median_diff_lo", "median_diff_hi", "p_better", "p_better_lo", "p_better_hi", "p_value",
           "verdict", "n_collapsed_lvae", "n_collapsed_fixed", "level"]


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




def fixed_pool(group: pd.DataFrame, fixed: str, vae: str | None, beta_col: str) -> pd.DataFrame:
    """Fixed-beta trials of a group with their beta: ``fixed`` cells, and the VAE as beta = 1."""
    fx = group[group["objective"] == fixed]
    fx = fx.assign(beta=pd.to_numeric(fx[beta_col], errors="coerce") if beta_col in fx else np.nan)
    if vae is not None:
        fx = pd.concat([fx, group[group["objective"] == vae].assign(beta=1.0)], sort=False)
    return fx


def _lvae_rows(lv: pd.DataFrame, default_lambda: float | None, defaults: Mapping[str, Any],
               lambda_col: str) -> tuple[float | None, pd.DataFrame]:
    """The L-VAE trials at (the swept lambda nearest) the default and the other defaults."""
    if lambda_col not in lv or lv[lambda_col].isna().all():
        return None, lv.iloc[:0]
    swept = np.sort(lv[lambda_col].dropna().unique().astype(float))
    lam = _nearest(swept, default_lambda if default_lambda is not None else float(np.median(swept)))
    return lam, _at_defaults(lv[np.isclose(lv[lambda_col].astype(float), lam)], defaults)


def _by_seed(rows: pd.DataFrame, m: str) -> pd.Series:
    """Metric per seed (mean over repeats of a seed)."""
    return rows.dropna(subset=[m]).groupby("seed")[m].mean()


def _paired_row(x: pd.Series, y: pd.Series, m: str, level: float) -> dict[str, Any]:
    shared = x.index.intersection(y.index)
    stats = Paired.of((x[shared] - y[shared]).to_numpy(), higher_is_better(m), level)
    return {**vars(stats), "lvae_median": x[shared].median(), "fixed_median": y[shared].median()}


def _per_beta(x: pd.Series, fx: pd.DataFrame, all_fx: pd.DataFrame, m: str, level: float,
              base: dict[str, Any]) -> list[dict[str, Any]]:
    """L-VAE against each fixed-beta cell on their shared seeds (no selection involved)."""
    out = []
    for cell, rows in fx.groupby("cell", sort=False):
        beta = rows["beta"].iloc[0]
        collapsed = int(all_fx.loc[all_fx["cell"] == cell,
                                   "collapsed"].sum()) if "collapsed" in all_fx else 0
        out.append({**base, "comparison": f"beta={beta:g}", "selection": "none (every fixed beta)",
                    "fixed_cell": cell, "beta": beta, "n_collapsed_fixed": collapsed,
                    **_paired_row(x, _by_seed(rows, m), m, level)})
    return sorted(out, key=lambda r: r["beta"])


def _pick(medians: pd.Series, which: str, better_high: bool) -> str:
    ranked = medians.sort_values(ascending=not better_high, kind="stable")
    return ranked.index[{"best": 0, "median": (len(ranked) - 1) // 2,
                         "worst": len(ranked) - 1}[which]]


def _held_out(x: pd.Series, fx: pd.DataFrame, m: str,
              which: str) -> tuple[pd.Series, list[str], bool]:
    """Per L-VAE seed s, the fixed cell ranked ``which`` on the other seeds, and its value at s.

    Falls back to ranking on every seed (selection-biased, flagged) when no fixed cell has
    a value on a seed other than s.
    """
    values = {cell: _by_seed(rows, m) for cell, rows in fx.groupby("cell", sort=True)}
    better = higher_is_better(m)
    picked, chosen, held_out = {}, [], True
    for s in x.index:
        medians = pd.Series({c: v.drop(s, errors="ignore").median() for c,
                             v in values.items()}).dropna()
        if medians.empty:
            held_out = False
            break
        cell = _pick(medians, which, better)
        if s in values[cell].index:
            picked[s], chosen = values[cell][s], chosen + [cell]
    if not held_out:
        medians = pd.Series({c: v.median() for c, v in values.items()}).dropna()
        cell = _pick(medians, which, better)
        return values[cell], [cell] * len(values[cell]), False
    return pd.Series(picked, dtype=float), chosen, True


def _held_out_rows(x: pd.Series, fx: pd.DataFrame, all_fx: pd.DataFrame, m: str, level: float,
                   base: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    collapsed = int(all_fx["collapsed"].sum()) if "collapsed" in all_fx else 0
    betas = fx.groupby("cell")["beta"].first()
    for which in PICKS:
        y, chosen, held_out = _held_out(x, fx, m, which)
        counts = pd.Series(chosen, dtype=object).value_counts()
        named = ", ".join(f"{c} ({n} seed{'s' if n > 1 else ''})" for c, n in counts.items())
        selection = ("held out (chosen on the other seeds)" if held_out else
                     "in-sample (selection-biased: chosen on the seeds it is compared on)")
        out.append({**base, "comparison": which, "selection": selection, "fixed_cell": named,
                    "beta": betas.get(counts.index[0], np.nan) if len(counts) else np.nan,
                    "n_collapsed_fixed": collapsed, **_paired_row(x, y, m, level)})
    return out


def comparison_groups(df: pd.DataFrame) -> list[tuple[str, tuple, pd.DataFrame]]:
    """Trials split by what must match for a comparison: dataset, architecture, training settings.

    Each group comes with a name that lists the settings which differ between groups.
    """
    keys = ["dataset", "architecture"] + [c for c in SHARED if c in df.columns]
    groups = list(df.groupby(keys, sort=True, dropna=False))
    shown = [i for i, k in enumerate(keys) if i < 2 or len({str(g[0][i]) for g in groups}) > 1]
    return [(" ".join(f"{keys[i]}={key[i]}" for i in shown), key, g) for key, g in groups]


def compare_with_notes(
    df: pd.DataFrame, metrics: Sequence[str] | None = None, *, default_lambda: float | None = None,
    defaults: Mapping[str, Any] | None = None, lvae: str = "lvae", fixed: str = "beta_vae",
    vae: str | None = "vae", include_collapsed: bool = False, level: float = LEVEL,
    lambda_col: str = "hp.lambda", beta_col: str = "hp.beta",
) -> tuple[pd.DataFrame, list[str]]:
    """:func:`lvae_vs_fixed_beta` plus the reasons a group gave no rows (said in place)."""
    finished = completed(df if "cell" in df.columns else with_cells(df))
    use = usable(finished, include_collapsed)
    metrics = resolve_metrics(finished, metrics)
    default_lambda = default_lambda if default_lambda is not None else default_lvae_lambda(lvae)
    defaults = defaults if defaults is not None else (default_params(lvae) or {})
    rows, notes = [], []
    for where, key, group in comparison_groups(finished):
        all_lv = group[group["objective"] == lvae]
        all_fx = fixed_pool(group, fixed, vae, beta_col)
        lam, lv_all = _lvae_rows(all_lv, default_lambda, defaults, lambda_col)
        if lv_all.empty or all_fx.empty:
            missing = [n for n, part in ((lvae, lv_all), ("fixed-beta", all_fx)) if part.empty]
            notes.append(f"{where}: no finished {' or '.join(missing)} trials (with {lambda_col}) "
                         "at these settings: no L-VAE vs fixed-beta comparison")
            continue
        ok = group.index.intersection(use.index)
        fx = all_fx[all_fx.index.isin(ok)]
        for lvae_cell, lv_cell in lv_all.groupby("cell", sort=True):
            lv = lv_cell[lv_cell.index.isin(ok)]
            base = {"dataset": key[0], "architecture": key[1], "lambda_default": default_lambda,
                    "lambda_used": lam, "lvae_cell": lvae_cell, "level": level,
                    "n_collapsed_lvae": int(lv_cell["collapsed"].sum()) if
                    "collapsed" in lv_cell else 0}
            lacking = []
            for m in metrics:
                x = _by_seed(lv, m)
                if x.empty or fx[m].isna().all():
                    lacking.append(m)
                    continue
                rows += _per_beta(x, fx, all_fx, m, level, {**base, "metric": m})
                rows += _held_out_rows(x, fx, all_fx, m, level, {**base, "metric": m})
            if lacking:
                which = "any metric" if len(lacking) == len(metrics) else ", ".join(lacking)
                notes.append(f"{lvae_cell} vs fixed beta: no values to compare for {which} "
                             f"({len(lv_cell) - len(lv)} of {len(lv_cell)} L-VAE and "
                             f"{len(all_fx) - len(fx)} of {len(all_fx)} fixed-beta trials "
                             "collapsed and left out)")
    return pd.DataFrame(rows, columns=COLUMNS), notes


def lvae_vs_fixed_beta(df: pd.DataFrame, metrics: Sequence[str] | None = None,
                       **options: Any) -> pd.DataFrame:
    """L-VAE at its default lambda vs every fixed beta (VAE = beta 1), paired over shared seeds.

    Per (dataset, architecture, training settings). The L-VAE rows are those at the
    default lambda (the nearest swept one when it was not swept: ``lambda_used``) and, where
    other L-VAE hyperparameters vary, at their defaults. Rows ``beta=<b>`` compare with each
    fixed-beta cell; ``best``/``median``/``worst`` with the fixed beta ranked so on the
    *other* seeds (``selection`` says so, or says it was selection-biased when there were
    no other seeds). ``median_diff`` (L-VAE - fixed) and ``p_better`` come with exact
    ``level`` intervals and a ``verdict`` (:class:`analysis.stats.paired.Paired`). Options: see
    :func:`compare_with_notes`.
    """
    return compare_with_notes(df, metrics, **options)[0]
