"""Variance components of a metric: objective > hyperparameters within objective > seed.

Model (nested random effects): ``y = mu + a_objective + b_cell + e``, with variances
``var_objective``, ``var_hyperparameter`` (cells, i.e. hyperparameters and architecture,
within an objective) and ``var_seed`` (replicates within a cell).

*Point estimates* are the ANOVA (method-of-moments) estimators for an unbalanced nested
design: mean squares with their degrees of freedom, solved through their expected values
(Searle, Casella and McCulloch 1992, ch. 4). They are unbiased, which raw sums of squares
are not: on pure noise with 3 objectives, 6 cells and 2 seeds the sums of squares give
the objective about 18% and the hyperparameters 27% of the variance, the estimators here
about 0% each. An unbiased estimate can be negative (a component indistinguishable from
zero); it is reported as is, not clipped, since clipping at 0 biases it upwards.

*Intervals* are generalized confidence intervals (Weerahandi 1993): each mean square
MS_k is replaced by its pivot SS_k / U_k with U_k ~ chi2(df_k), the components are
solved from the pivots (clipped at 0) and the percentiles over many draws are the
interval. They reach their nominal coverage in simulation even for 3 objectives (see
tests/analysis/test_variance.py and docs/analysis.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

LEVELS = ("objective", "hyperparameter", "seed")


@dataclass(frozen=True)
class Design:
    """Which objective and cell each trial belongs to, and the expected-mean-square coefficients."""

    objective: np.ndarray  # (N,) objective index per trial
    cell: np.ndarray  # (N,) cell index per trial
    cell_objective: np.ndarray  # (B,) objective index per cell
    df: dict[str, int]
    k1: float  # E[MS_hyper] = var_seed + k1 var_hyper
    k2: float  # E[MS_obj] = var_seed + k2 var_hyper + k3 var_obj
    k3: float

    @classmethod
    def from_labels(cls, objectives: Sequence, cells: Sequence) -> Design:
        cell_codes, cell_names = pd.factorize(pd.Series(list(zip(objectives, cells, strict=True))))
        obj_codes, _ = pd.factorize(pd.Series(list(objectives)))
        n, a, b = len(obj_codes), int(obj_codes.max()) + 1, len(cell_names)
        cell_obj = np.zeros(b, dtype=int)
        cell_obj[cell_codes] = obj_codes
        n_cell = np.bincount(cell_codes, minlength=b).astype(float)
        n_obj = np.bincount(obj_codes, minlength=a).astype(float)
        within = float(sum((n_cell[cell_obj == i] ** 2).sum() / n_obj[i] for i in range(a)))
        df = {"objective": a - 1, "hyperparameter": b - a, "seed": n - b}
        k1 = (n - within) / df["hyperparameter"] if df["hyperparameter"] else np.nan
        k2 = (within - (n_cell**2).sum() / n) / df["objective"] if df["objective"] else np.nan
        k3 = (n - (n_obj**2).sum() / n) / df["objective"] if df["objective"] else np.nan
        return cls(obj_codes, cell_codes, cell_obj, df, k1, k2, k3)


def sums_of_squares(y: np.ndarray, d: Design) -> dict[str, np.ndarray]:
    """Nested sums of squares of y (shape (N,) or (S, N) for S tables at once)."""
    y = np.atleast_2d(np.asarray(y, dtype=float))
    cells = np.eye(len(d.cell_objective))[d.cell]  # (N, B) one-hot
    objs = np.eye(int(d.objective.max()) + 1)[d.objective]  # (N, A)
    n_cell, n_obj = cells.sum(axis=0), objs.sum(axis=0)
    cell_mean = y @ cells / n_cell
    obj_mean = y @ objs / n_obj
    grand = y.mean(axis=1, keepdims=True)
    return {
        "objective": (n_obj * (obj_mean - grand) ** 2).sum(axis=1),
        "hyperparameter": (n_cell * (cell_mean - obj_mean[:, d.cell_objective]) ** 2).sum(axis=1),
        "seed": ((y - cell_mean[:, d.cell]) ** 2).sum(axis=1),
    }


def solve(ms: dict[str, np.ndarray], d: Design, clip: bool = False) -> dict[str, np.ndarray]:
    """Components from (pivots of) mean squares through their expected values."""
    zero = np.zeros_like(ms["seed"])
    seed = ms["seed"] if d.df["seed"] else zero * np.nan
    hyper = (ms["hyperparameter"] - seed) / d.k1 if d.df["hyperparameter"] else zero * np.nan
    if clip:
        hyper = np.maximum(hyper, 0.0)
    hyper_term = np.nan_to_num(d.k2 * hyper) if d.df["hyperparameter"] else 0.0
    obj = (ms["objective"] - seed - hyper_term) / d.k3 if d.df["objective"] else zero * np.nan
    if clip:
        obj = np.maximum(obj, 0.0)
    return {"objective": obj, "hyperparameter": hyper, "seed": seed}


def shares(components: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each component over the sum of the estimable ones (NaN components left out)."""
    total = sum(np.nan_to_num(v) for v in components.values())
    with np.errstate(divide="ignore", invalid="ignore"):  # a constant metric has no variance to share
        return {k: v / total for k, v in components.items()}


def estimate(y: np.ndarray, d: Design) -> dict[str, np.ndarray]:
    """Unbiased (unclipped) ANOVA components of one or many tables."""
    ss = sums_of_squares(y, d)
    ms = {k: ss[k] / d.df[k] if d.df[k] else ss[k] * np.nan for k in LEVELS}
    return solve(ms, d)


def intervals(y: np.ndarray, d: Design, level: float = 0.95, draws: int = 4000,
              seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Generalized confidence intervals of the shares (and ``var_*`` of the components)."""
    ss = sums_of_squares(y, d)
    rng = np.random.default_rng(seed)
    pivots = {}
    for k in LEVELS:
        u = scipy.stats.chi2.rvs(max(d.df[k], 1), size=(ss[k].shape[0], draws), random_state=rng)
        pivots[k] = ss[k][:, None] / u if d.df[k] else np.full_like(u, np.nan)
    comps = solve(pivots, d, clip=True)
    tail = (1 - level) / 2
    out = {}
    for name, values in {**{f"var_{k}": v for k, v in comps.items()},
                         **{f"share_{k}": v for k, v in shares(comps).items()}}.items():
        lo, hi = np.quantile(values, [tail, 1 - tail], axis=1)
        out[name] = (lo, hi)
    return out


COLUMNS = ["metric", "n_trials", "n_objectives", "n_cells", "n_cells_replicated",
           "df_objective", "df_hyperparameter", "df_seed",
           "var_objective", "var_hyperparameter", "var_seed",
           "share_objective", "share_objective_lo", "share_objective_hi",
           "share_hyperparameter", "share_hyperparameter_lo", "share_hyperparameter_hi",
           "share_seed", "share_seed_lo", "share_seed_hi", "level"]


def metric_components(d: pd.DataFrame, metric: str, level: float, draws: int, seed: int) -> dict:
    """One row of :func:`variance_table` (``d``: rows with a value of ``metric``)."""
    row: dict[str, object] = {"metric": metric, "n_trials": len(d), "level": level}
    if len(d) < 2:
        return row
    design = Design.from_labels(d["objective"].tolist(), d["cell"].tolist())
    y = d[metric].to_numpy(dtype=float)
    comps = {k: float(v[0]) for k, v in estimate(y, design).items()}
    point = {k: float(v) for k, v in shares(comps).items()}
    ci = intervals(y, design, level, draws, seed)
    sizes = d.groupby("cell").size()
    row.update({"n_objectives": d["objective"].nunique(), "n_cells": len(sizes),
                "n_cells_replicated": int((sizes >= 2).sum()),
                **{f"df_{k}": design.df[k] for k in LEVELS},
                **{f"var_{k}": comps[k] for k in LEVELS}})
    for k in LEVELS:
        lo, hi = ci[f"share_{k}"]
        row.update({f"share_{k}": point[k], f"share_{k}_lo": float(lo[0]), f"share_{k}_hi": float(hi[0])})
    return row


def variance_table(done: pd.DataFrame, metrics: Sequence[str], level: float = 0.95,
                   draws: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Components and shares with intervals per metric, over the trials given (with ``cell``)."""
    rows = [metric_components(done.loc[done[m].notna()], m, level, draws, seed) for m in metrics]
    return pd.DataFrame(rows, columns=COLUMNS)
