"""Summaries of per-step trajectories (beta_eff and loss terms) over the seeds of a cell."""

from __future__ import annotations

import pandas as pd

from analysis.io.table import BETA_EFF, with_cells


def with_trial_cells(trajectories: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    trials = trials if "cell" in trials.columns else with_cells(trials)
    return trajectories.merge(trials[["trial", "cell", "objective"]], on="trial", how="inner")


def trajectory_bands(
    trajectories: pd.DataFrame, trials: pd.DataFrame, column: str = BETA_EFF
) -> pd.DataFrame:
    """Per cell and step: median, 25% and 75% quantiles, min and max of ``column`` over seeds."""
    cols = ["cell", "objective", "step", "median", "q25", "q75", "min", "max", "n_seeds"]
    if column not in trajectories.columns:
        return pd.DataFrame(columns=cols)
    # the one column only: at thousands of trials a merge of every column costs gigabytes
    d = with_trial_cells(trajectories[["trial", "step", column]], trials).dropna(subset=[column])
    if d.empty:
        return pd.DataFrame(columns=cols)
    g = d.groupby(["cell", "objective", "step"], sort=True)[column]
    out = pd.DataFrame({
        "median": g.median(), "q25": g.quantile(0.25), "q75": g.quantile(0.75),
                        "min": g.min(), "max": g.max(),
        "n_seeds": g.count(),
    }).reset_index()
    return out[cols]


def trajectory_endpoints(
    trajectories: pd.DataFrame, trials: pd.DataFrame, column: str = BETA_EFF
) -> pd.DataFrame:
    """Per cell: median over seeds of the first and last logged value of ``column``."""
    d = with_trial_cells(trajectories[["trial", "step", column]],
                         trials).dropna(subset=[column]).sort_values(["trial", "step"])
    cols = ["cell", "objective", "first_step", "last_step", "start_median", "end_median", "n_seeds"]
    if d.empty:
        return pd.DataFrame(columns=cols)
    per_trial = d.groupby(["cell", "objective", "trial"], sort=True).agg(
        first_step=("step", "first"), last_step=("step", "last"),
        start=(column, "first"), end=(column, "last"))
    out = per_trial.groupby(["cell", "objective"], sort=True).agg(
        first_step=("first_step", "min"), last_step=("last_step", "max"),
        start_median=("start", "median"), end_median=("end", "median"),
        n_seeds=("start", "count")).reset_index()
    return out[cols]
