"""Crossed variance components: cell, seed, cell x seed and evaluation noise (docs/statistics.md).

Every seed runs in every cell (the seed fixes initial weights and data order for all of
them), so seeds are crossed with cells, not nested in them:

    y_ijk = mu + o_g(i) + c_i + s_j + (cs)_ij + e_ijk

for cell ``i`` (of objective ``g(i)``), seed ``j`` and repeated evaluation ``k`` of the same
trained model. The estimator is the method of moments on the two-way table of trial means
(the "unweighted means" analysis: exact for a balanced table, the harmonic mean of the
evaluation counts standing for the count otherwise). Each component is a difference of two
mean squares divided by a constant, so it is unbiased and may be negative (indistinguishable
from zero); it is not clipped, since clipping biases a null component upwards.

Intervals are generalized confidence intervals of the same formulas on the same, unclipped
scale: each mean square is replaced by its pivot ``SS / U``, ``U ~ chi2(df)``, and the
percentiles over draws are the interval. A component ``A X - B Y`` of two such pivots lies at
its point estimate between about the 16th and 84th percentiles of its pivot distribution, so
a point is never outside its own interval (checked over the simulations in
tests/analysis/stats/test_crossed.py for the shares too). An objective component is
estimated only with at least :data:`MIN_OBJECTIVES` objectives: with fewer, its variance
rests on at most 2 degrees of freedom; the objectives' means are then removed as fixed
effects and the cell component is the variation of cells within their objective.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.stats

COMPONENTS = ("objective", "cell", "seed", "cell_seed", "evaluation")
MIN_OBJECTIVES = 4
LEVEL = 0.95
COLUMNS = ["metric", "component", "var", "var_lo", "var_hi", "share", "share_lo", "share_hi",
           "n_cells", "n_seeds", "n_seeds_dropped", "n_objectives", "evaluations", "level",
           "note"]


@dataclass(frozen=True)
class Layout:
    """The crossed table's shape: cells x seeds, the objective of each cell, evaluation counts."""

    groups: np.ndarray  # (a,) objective index per cell (all 0 without objectives)
    counts: np.ndarray  # (a, b) evaluations per trial
    random_objective: bool  # whether the objective is a random component (>= 4 objectives)

    @property
    def shape(self) -> tuple[int, int]:
        return self.counts.shape

    @property
    def r(self) -> float:
        """Harmonic mean of the evaluations per trial (the count of a balanced table)."""
        return float(self.counts.size / (1.0 / self.counts).sum())

    @property
    def k0(self) -> float:
        """E[MS_objective] = E[MS_cell] + k0 var_objective (cells per objective, unbalanced)."""
        a, n_g = self.shape[0], np.bincount(self.groups)
        return float((a - (n_g**2).sum() / a) / (n_g.size - 1))

    def df(self) -> dict[str, int]:
        a, b = self.shape
        g = int(self.groups.max()) + 1
        return {"objective": g - 1 if self.random_objective else 0, "cell": a - g,
                "seed": b - 1, "cell_seed": (a - 1) * (b - 1),
                "evaluation": int(self.counts.sum()) - a * b}


def sums_of_squares(y: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
    """Sums of squares of S tables at once: ``y`` is (S, a, b, r), NaN where a trial has
    fewer than r evaluations."""
    z = np.nanmean(y, axis=3)  # trial means (S, a, b)
    cell, seed, grand = z.mean(axis=2), z.mean(axis=1), z.mean(axis=(1, 2))
    onehot = np.eye(int(layout.groups.max()) + 1)[layout.groups]  # (a, g)
    group = cell @ onehot / onehot.sum(axis=0)  # unweighted mean of each objective's cells
    inter = z - cell[:, :, None] - seed[:, None, :] + grand[:, None, None]
    return {
        "objective": (onehot.sum(axis=0) * (group - cell.mean(axis=1)[:, None]) ** 2).sum(1),
        "cell": ((cell - group[:, layout.groups]) ** 2).sum(axis=1),
        "seed": layout.shape[0] * ((seed - grand[:, None]) ** 2).sum(axis=1),
        "cell_seed": (inter**2).sum(axis=(1, 2)),
        "evaluation": np.nansum((y - z[..., None]) ** 2, axis=(1, 2, 3)),
    }


def solve(ms: dict[str, np.ndarray], layout: Layout) -> dict[str, np.ndarray]:
    """Components from (pivots of) mean squares through their expected values; NaN where a
    component has no degrees of freedom. ``ms["cell"]`` and ``ms["objective"]`` are on the
    scale of cell means (their sums of squares are over the a cell means)."""
    df, (a, b) = layout.df(), layout.shape
    nan = np.full_like(ms["seed"], np.nan)
    evaluation = ms["evaluation"] if df["evaluation"] else nan
    cell_seed = ms["cell_seed"] - (ms["evaluation"] / layout.r if df["evaluation"] else 0.0)
    cell = ms["cell"] - ms["cell_seed"] / b if df["cell"] else nan
    objective = (ms["objective"] - ms["cell"]) / layout.k0 if df["objective"] else nan
    return {"objective": objective, "cell": cell, "seed": (ms["seed"] - ms["cell_seed"]) / a,
            "cell_seed": cell_seed, "evaluation": evaluation}


def shares(components: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each component over the sum of the estimable ones (a positive sum of mean squares)."""
    total = sum(np.nan_to_num(v) for v in components.values())
    with np.errstate(divide="ignore", invalid="ignore"):  # no variance at all: shares are NaN
        return {k: v / total for k, v in components.items()}


def estimate(y: np.ndarray, layout: Layout) -> dict[str, np.ndarray]:
    """Unbiased (unclipped) components of S tables, (S, a, b, r) -> {component: (S,)}."""
    ss, df = sums_of_squares(y, layout), layout.df()
    return solve({k: ss[k] / max(df[k], 1) for k in COMPONENTS}, layout)


def intervals(y: np.ndarray, layout: Layout, level: float = LEVEL, draws: int = 4000,
              seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Generalized confidence intervals of ``var_<component>`` and ``share_<component>``."""
    ss, df = sums_of_squares(y, layout), layout.df()
    rng = np.random.default_rng(seed)
    pivots = {}
    for k in COMPONENTS:
        u = scipy.stats.chi2.rvs(max(df[k], 1), size=(ss[k].shape[0], draws), random_state=rng)
        pivots[k] = ss[k][:, None] / u
    comps = solve(pivots, layout)
    tail = (1 - level) / 2
    named = {**{f"var_{k}": v for k, v in comps.items()},
             **{f"share_{k}": v for k, v in shares(comps).items()}}
    return {name: tuple(np.quantile(v, [tail, 1 - tail], axis=1)) for name, v in named.items()}


def to_array(table: pd.DataFrame, value: str, objective: str | None
             ) -> tuple[np.ndarray, Layout, int, str | None]:
    """(1, a, b, r) array of a long table, its :class:`Layout`, the seeds dropped for missing a
    cell, and why there is no objective component (None when there is one)."""
    rows = table.loc[table[value].notna()]
    full = rows.groupby("seed")["cell"].nunique() == rows["cell"].nunique()
    dropped = int((~full).sum())
    rows = rows.loc[rows["seed"].isin(full.index[full])]
    rows = rows.assign(_k=rows.groupby(["cell", "seed"]).cumcount())
    cube = rows.pivot_table(index=["cell", "seed"], columns="_k", values=value, aggfunc="first")
    cells, seeds = cube.index.levels[0], cube.index.levels[1]
    cube = cube.reindex(pd.MultiIndex.from_product([cells, seeds]))
    y = cube.to_numpy(dtype=float).reshape(len(cells), len(seeds), -1)[None]
    groups, reason = np.zeros(len(cells), dtype=int), None
    if objective is not None:
        of_cell = rows.groupby("cell")[objective].first().reindex(cells)
        groups = pd.factorize(of_cell)[0]
        g = int(groups.max()) + 1
        if g < MIN_OBJECTIVES:
            reason = (f"{g} objective(s), at least {MIN_OBJECTIVES} are needed for an objective "
                      "component; their means are removed and the cell share is within "
                      "objectives")
    layout = Layout(groups, np.isfinite(y[0]).sum(axis=2), objective is not None and not reason)
    return y, layout, dropped, reason


def _notes(layout: Layout, reason: str | None, has_objective: bool) -> dict[str, str]:
    notes = {k: "" for k in COMPONENTS}
    if layout.df()["evaluation"] == 0:
        notes["evaluation"] = "one evaluation per trial: counted in cell_seed"
        notes["cell_seed"] = "residual: includes evaluation noise"
    if not has_objective:
        notes["objective"] = "no objective column given"
    elif reason:
        notes["objective"] = reason
    if layout.df()["cell"] == 0:
        notes["cell"] = "one cell per objective: no within-objective cell variation"
    return notes


def crossed_components(table: pd.DataFrame, value: str = "value", objective: str | None = None,
                       metric: str | None = None, level: float = LEVEL, draws: int = 4000,
                       seed: int = 0) -> pd.DataFrame:
    """One row per component (:data:`COLUMNS`) for a long table of ``cell``, ``seed``, the
    ``value`` and optionally ``objective``; repeated rows of a (cell, seed) are repeated
    evaluations of that trial. Seeds missing a cell are dropped (``n_seeds_dropped``); a
    component that cannot be estimated is NaN with its reason in ``note``. ``seed`` fixes
    the interval's draws: the same table and seed give the same numbers."""
    y, layout, dropped, reason = to_array(table, value, objective)
    a, b = layout.shape
    base = {"metric": metric or value, "n_cells": a, "n_seeds": b, "n_seeds_dropped": dropped,
            "n_objectives": int(layout.groups.max()) + 1 if objective else math.nan,
            "evaluations": layout.r, "level": level}
    if a < 2 or b < 2:
        note = f"{a} cell(s) x {b} seed(s) with every cell: at least 2 x 2 are needed"
        return pd.DataFrame([{**base, "component": k, "note": note} for k in COMPONENTS],
                            columns=COLUMNS)
    point = {k: float(v[0]) for k, v in estimate(y, layout).items()}
    share = shares(point)
    ci = intervals(y, layout, level, draws, seed)
    notes = _notes(layout, reason, objective is not None)
    rows = [{**base, "component": k, "var": point[k], "share": share[k],
             "var_lo": float(ci[f"var_{k}"][0][0]), "var_hi": float(ci[f"var_{k}"][1][0]),
             "share_lo": float(ci[f"share_{k}"][0][0]),
             "share_hi": float(ci[f"share_{k}"][1][0]), "note": notes[k]} for k in COMPONENTS]
    return pd.DataFrame(rows, columns=COLUMNS)
