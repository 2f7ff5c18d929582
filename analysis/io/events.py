"""TensorBoard events of the trials: the scalars one run logged, and per-step trajectories
(beta_eff, losses, objective.*) of many. Reads the table of scalars a run leaves at its end
(:mod:`lvae.scalar_table`) and, where there is none, the events with TensorBoard's own reader;
the only module of ``analysis`` that opens event files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from lvae import scalar_table
from lvae.contract import (
    BETA_TAG,
    KL_DIM_TAG,
    LOSS_TAGS,
    METRIC_TAG,
    OBJECTIVE_PREFIX,
    TB_DIR,
    TRACK_SECONDS_TAG,
    TUNE_KEYS,
)

PathLike = str | os.PathLike

#: TensorBoard scalar tag -> trajectory column; ``objective/<key>`` becomes ``objective.<key>``.
TRAJECTORY_TAGS = {tag: TUNE_KEYS[tag] for tag in (BETA_TAG, *LOSS_TAGS)}


#: tags of the metrics tracked along training (``metric/<key>``, every eval_every steps) and
#: their cost (``perf/track_seconds``), read when asked: ``metric.<key>``, ``perf.track_seconds``
TRACKED_PREFIXES = (METRIC_TAG, TRACK_SECONDS_TAG)


def scalar_column(tag: str) -> str:
    """The trajectory column of a TensorBoard tag outside TRAJECTORY_TAGS: ``a/b`` -> ``a.b``."""
    return tag.replace("/", ".", 1)


def _trajectory_column(tag: str, include_kl_dims: bool = False,
                       include_metrics: bool = False) -> str | None:
    if tag in TRAJECTORY_TAGS:
        return TRAJECTORY_TAGS[tag]
    if (tag.startswith(OBJECTIVE_PREFIX) or (include_kl_dims and tag.startswith(KL_DIM_TAG))
            or (include_metrics and tag.startswith(TRACKED_PREFIXES))):
        return scalar_column(tag)
    return None


def read_scalars(tb_dir: PathLike, tags: Iterable[str] | None = None) -> pd.DataFrame:
    """All scalar events of one TensorBoard folder as (tag, step, wall_time, value).

    Uses TensorBoard's own reader; a resumed run that re-logged steps keeps the last
    value per (tag, step).
    """
    return scalar_table.read_scalars(tb_dir, tags)


def run_table(run_dir: PathLike) -> pd.DataFrame | None:
    """One run's scalars, one row per step and one column per tag: the table the run left
    (:mod:`lvae.scalar_table`) when it is there and current, else its events read whole
    (None: no events)."""
    table = scalar_table.read_scalar_table(run_dir)
    if table is not None:
        return table
    tb_dir = Path(run_dir) / TB_DIR
    scalars = read_scalars(tb_dir) if tb_dir.is_dir() else None
    return None if scalars is None or scalars.empty else scalar_table.wide_table(scalars)


def _trial_columns(table: pd.DataFrame, include_kl_dims: bool, include_metrics: bool,
                   columns: Iterable[str] | None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The steps and trajectory columns of one run's table; steps and columns with no value
    left out (what a pivot of the events gives)."""
    names = {tag: _trajectory_column(tag, include_kl_dims, include_metrics)
             for tag in table.columns[2:]}
    wanted = set(columns) if columns is not None else None
    names = {t: c for t, c in names.items() if c is not None and (
        wanted is None or c in wanted or (include_metrics and t.startswith(TRACKED_PREFIXES)))}
    values = table[list(names)].to_numpy(dtype=float)
    rows = ~np.isnan(values).all(axis=1)
    values = values[rows]
    keep = ~np.isnan(values).all(axis=0)
    cols = {c: values[:, j] for j, c in enumerate(names.values()) if keep[j]}
    return table["step"].to_numpy()[rows], cols


def read_trajectories(trials: pd.DataFrame, include_kl_dims: bool = False,
                      include_metrics: bool = False,
                      columns: Iterable[str] | None = None) -> pd.DataFrame:
    """Per-step beta_eff and loss terms of the given trials (rows of load_experiments).

    Columns: trial, step, beta_eff, loss_total, loss_recon, loss_kl, objective.<key>
    (and kl.dim_XX, and the metrics tracked along training as metric.<key> with their cost
    perf.track_seconds, if asked; ``columns``: only these of the others, a memory saving at
    thousands of trials). Trials without TensorBoard events contribute no rows; compare
    ``trials.trial`` with the result's ``trial`` to name them. Each run is read from the
    table it left at its end where there is one (:func:`run_table`); the trials' columns are
    joined as arrays (a frame per trial costs twice the memory at thousands of trials).
    """
    parts = []
    pairs = sorted(zip(trials["trial"], trials["run_dir"], strict=True), key=lambda p: p[0])
    for trial, run_dir in pairs:  # in trial order: the result needs no sort
        table = run_table(run_dir)
        if table is None:
            continue
        steps, cols = _trial_columns(table, include_kl_dims, include_metrics, columns)
        if len(steps) and cols:
            parts.append((trial, steps, cols))
    base = ["trial", "step", *TRAJECTORY_TAGS.values()]
    if not parts:
        return pd.DataFrame(columns=base)
    lengths = [len(steps) for _, steps, _ in parts]
    data = {"trial": np.repeat(np.array([t for t, _, _ in parts], dtype=object), lengths),
            "step": np.concatenate([steps for _, steps, _ in parts])}
    present = set().union(*(cols for _, _, cols in parts))
    for col in [*base[2:], *sorted(present - set(base))]:
        data[col] = np.concatenate([cols[col] if col in cols else np.full(n, np.nan)
                                    for (_, _, cols), n in zip(parts, lengths, strict=True)])
    return pd.DataFrame(data)


def trials_without_events(trials: pd.DataFrame, trajectories: pd.DataFrame) -> list[str]:
    """Trials whose TensorBoard folder is missing or holds no contract scalars."""
    seen = set(trajectories["trial"])
    return [t for t in trials["trial"] if t not in seen]
