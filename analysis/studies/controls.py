"""Positive controls: effects that must appear if training and the metrics work.

A study whose controls fail cannot support findings about disentanglement, whatever its
metric comparisons show. Two controls, on every finished trial (collapsed ones included:
collapse is what a large beta is expected to do, not a failure of the control):

* **beta grid** (per dataset, architecture and training settings): across the fixed-beta
  cells (the VAE as beta = 1), the final KL (``loss_kl``) must fall and the final
  reconstruction loss (``loss_recon``) rise with beta. Statistic: Spearman's rho of the
  per-trial values with log beta, with a percentile bootstrap interval over trials
  (``scipy.stats.bootstrap``, resampling trials with their beta). The control holds when
  the interval excludes 0 on the expected side. It needs 3 distinct betas and 6 trials.
* **L-VAE tracking** (per L-VAE cell): the learned beta sits at the stationary value of
  its objective for the current reconstruction and KL (docs/objectives.md), i.e.
  ``|ln beta_eff - ln beta_stationary| <= 0.1`` at the last step where the trainer logged
  both (TensorBoard ``beta/effective`` and ``objective/beta_stationary``), for every trial.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from analysis.io.table import BETA_EFF, LOSS_KL, LOSS_RECON, completed, with_cells
from analysis.studies.selection import comparison_groups, fixed_pool

#: |ln beta_eff - ln beta_stationary| at the last step, per trial
TRACKING_TOLERANCE = 0.1
#: what the beta-grid control needs: distinct betas and trials with finite losses
MIN_BETAS, MIN_TRIALS = 3, 6
#: loss column -> the sign its Spearman rho with log beta must have
EXPECTED_SIGN = {LOSS_KL: -1, LOSS_RECON: +1}
COLUMNS = ["control", "where", "statistic", "value", "lo", "hi",
           "n_trials", "n_hold", "holds", "detail"]
STATIONARY = "objective.beta_stationary"


def _spearman(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    """Spearman's rho along ``axis`` (vectorised for the bootstrap); 0 where a resample is
    constant."""
    rx = scipy.stats.rankdata(x, axis=axis)
    ry = scipy.stats.rankdata(y, axis=axis)
    rx = rx - rx.mean(axis=axis, keepdims=True)
    ry = ry - ry.mean(axis=axis, keepdims=True)
    den = np.sqrt((rx * rx).sum(axis=axis) * (ry * ry).sum(axis=axis))
    num = (rx * ry).sum(axis=axis)
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 0)


def spearman_interval(x: np.ndarray, y: np.ndarray, level: float = 0.95, seed: int = 0,
                      n_resamples: int = 2000) -> tuple[float, float, float]:
    """Spearman's rho of (x, y) with a percentile bootstrap interval over pairs: (rho, lo, hi)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rho = float(_spearman(x, y))
    res = scipy.stats.bootstrap((x, y), _spearman, paired=True, vectorized=True,
                                confidence_level=level,
                                n_resamples=n_resamples, method="percentile",
                                rng=np.random.default_rng(seed))
    return rho, float(res.confidence_interval.low), float(res.confidence_interval.high)


def _grid_rows(where: str, pool: pd.DataFrame, level: float, seed: int) -> list[dict[str, Any]]:
    rows = []
    for loss, sign in EXPECTED_SIGN.items():
        d = pool[["beta", loss]].apply(pd.to_numeric,
                                       errors="coerce").dropna() if loss in pool else pool.iloc[:0]
        d = d[d["beta"] > 0]
        base = {"control": f"{loss} {'falls' if sign < 0 else 'rises'} with beta", "where": where,
                "statistic": "Spearman rho with log beta", "n_trials": len(d), "n_hold": np.nan}
        betas = d["beta"].nunique() if len(d) else 0
        if betas < MIN_BETAS or len(d) < MIN_TRIALS:
            rows.append({**base, "value": np.nan, "lo": np.nan, "hi": np.nan, "holds": np.nan,
                         "detail": f"not checked: {betas} distinct beta(s) and {len(d)} "
                                   f"trial(s); needs {MIN_BETAS} and {MIN_TRIALS}"})
            continue
        rho, lo, hi = spearman_interval(np.log(d["beta"].to_numpy()), d[loss].to_numpy(), level,
                                        seed)
        holds = bool(hi < 0) if sign < 0 else bool(lo > 0)
        rows.append({**base, "value": rho, "lo": lo, "hi": hi, "holds": holds,
                     "detail": f"betas {', '.join(f'{b:g}' for b in sorted(d['beta'].unique()))}; "
                               f"{level:.0%} bootstrap interval "
                               f"{'excludes' if holds else 'does not exclude'} "
                               f"0 on the {'negative' if sign < 0 else 'positive'} side"})
    return rows


def beta_grid_control(df: pd.DataFrame, fixed: str = "beta_vae", vae: str | None = "vae",
                      beta_col: str = "hp.beta", level: float = 0.95,
                      seed: int = 0) -> pd.DataFrame:
    """KL falls and reconstruction rises with beta across the fixed-beta grid, per group."""
    finished = completed(df if "cell" in df.columns else with_cells(df))
    rows = []
    for where, _, group in comparison_groups(finished):
        pool = fixed_pool(group, fixed, vae, beta_col)
        if len(pool):
            rows += _grid_rows(where, pool, level, seed)
    return pd.DataFrame(rows, columns=COLUMNS)


def final_tracking_error(trajectories: pd.DataFrame) -> pd.Series:
    """Per trial: |ln beta_eff - ln beta_stationary| at the last step where both are logged."""
    if STATIONARY not in trajectories.columns or BETA_EFF not in trajectories.columns:
        return pd.Series(dtype=float)
    d = trajectories[["trial", "step", BETA_EFF, STATIONARY]].dropna(subset=[BETA_EFF,
                                                                          STATIONARY])
    d = d[(d[BETA_EFF] > 0) & (d[STATIONARY] > 0)].sort_values(["trial", "step"])
    last = d.groupby("trial").last()
    return (np.log(last[BETA_EFF]) - np.log(last[STATIONARY])).abs()


def lvae_tracking_control(df: pd.DataFrame, trajectories: pd.DataFrame, lvae: str = "lvae",
                          tolerance: float = TRACKING_TOLERANCE) -> pd.DataFrame:
    """Per L-VAE cell: the median and max final tracking error and how many trials hold."""
    finished = completed(df if "cell" in df.columns else with_cells(df))
    errors = final_tracking_error(trajectories)
    rows = []
    for cell, g in finished[finished["objective"] == lvae].groupby("cell", sort=True):
        err = errors.reindex(g["trial"]).dropna()
        base = {"control": "learned beta tracks its stationary value", "where": cell,
                "statistic": "|ln beta_eff - ln beta_stationary| at the last step (median; max)",
                "n_trials": len(err), "lo": np.nan}
        if err.empty:
            rows.append({**base, "value": np.nan, "hi": np.nan, "n_hold": np.nan, "holds": np.nan,
                         "detail": f"not checked: none of {len(g)} trial(s) logged "
                                   "objective/beta_stationary"})
            continue
        n_hold = int((err <= tolerance).sum())
        missing = (f"; {len(g) - len(err)} trial(s) without beta_stationary"
                   if len(err) < len(g) else "")
        rows.append(
            {
                **base,
                "value": float(err.median()),
                "hi": float(err.max()),
                "n_hold": n_hold,
                "holds": n_hold == len(err),
                "detail": f"{n_hold} of {len(err)} trials within {tolerance:g}{missing}",
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


def controls_table(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The controls' rows in one table; ``holds`` is True, False or missing (not checked)."""
    parts = [p for p in parts if len(p)]
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    out["holds"] = out["holds"].astype("boolean")
    return out


def controls_verdict(controls: pd.DataFrame) -> str:
    """'hold', 'failed' (any checked control failed) or 'not checked' (none could be)."""
    checked = controls["holds"].dropna() if len(controls) else pd.Series(dtype=object)
    if checked.empty:
        return "not checked"
    return "hold" if checked.astype(bool).all() else "failed"


def failed_controls(controls: pd.DataFrame) -> list[Mapping[str, Any]]:
    checked = controls.dropna(subset=["holds"])
    return [r for _, r in checked[~checked["holds"].astype(bool)].iterrows()]


def opening_statement(controls: pd.DataFrame) -> str:
    """The report's first words about its controls: failed ones make its comparisons not
    findings."""
    result = controls_verdict(controls)
    unchecked = int(controls["holds"].isna().sum()) if len(controls) else 0
    if result == "not checked":
        return (
            "Positive controls could not be checked (no fixed-beta grid of 3 betas or L-VAE "
            "trials with "
            "a logged stationary beta): nothing here vouches for training and metrics working."
        )
    if result == "failed":
        names = "; ".join(f"{r['control']} ({r['where']})" for r in failed_controls(controls))
        return (
            f"The study's positive controls failed ({names}): training or the metrics did not "
            "show effects "
            "they must show, so the metric comparisons in this report are not findings."
        )
    held = controls.dropna(subset=["holds"])
    names = ", ".join(dict.fromkeys(held["control"]))
    rest = f"; {unchecked} could not be checked" if unchecked else ""
    return f"Positive controls hold ({len(held)} checked{rest}): {names}."
