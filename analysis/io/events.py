"""TensorBoard events of the trials: the scalars one run logged, and per-step trajectories
(beta_eff, losses, objective.*) of many. Uses TensorBoard's own reader; the only module of
``analysis`` that opens event files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

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
    from tensorboard.backend.event_processing import event_accumulator as ea

    guidance = {ea.SCALARS: 0, ea.IMAGES: 1, ea.AUDIO: 1, ea.HISTOGRAMS: 1,
                ea.COMPRESSED_HISTOGRAMS: 1, ea.TENSORS: 1}
    acc = ea.EventAccumulator(str(tb_dir), size_guidance=guidance)
    acc.Reload()
    wanted = set(tags) if tags is not None else None
    rows = [
        (tag, ev.step, ev.wall_time, ev.value)
        for tag in acc.Tags()["scalars"]
        if wanted is None or tag in wanted
        for ev in acc.Scalars(tag)
    ]
    df = pd.DataFrame(rows, columns=["tag", "step", "wall_time", "value"])
    return df.drop_duplicates(["tag", "step"], keep="last").reset_index(drop=True)


def read_trajectories(trials: pd.DataFrame, include_kl_dims: bool = False,
                      include_metrics: bool = False) -> pd.DataFrame:
    """Per-step beta_eff and loss terms of the given trials (rows of load_experiments).

    Columns: trial, step, beta_eff, loss_total, loss_recon, loss_kl, objective.<key>
    (and kl.dim_XX, and the metrics tracked along training as metric.<key> with their cost
    perf.track_seconds, if asked). Trials without TensorBoard events contribute no rows;
    compare ``trials.trial`` with the result's ``trial`` to name them.
    """
    frames = []
    for trial, run_dir in zip(trials["trial"], trials["run_dir"], strict=True):
        tb_dir = Path(run_dir) / TB_DIR
        if not tb_dir.is_dir():
            continue
        scalars = read_scalars(tb_dir)
        cols = scalars["tag"].map(lambda t: _trajectory_column(t, include_kl_dims, include_metrics))
        scalars = scalars.assign(column=cols).dropna(subset=["column"])
        if scalars.empty:
            continue
        wide = scalars.pivot_table(index="step", columns="column", values="value", aggfunc="last")
        wide = wide.reset_index()
        wide.insert(0, "trial", trial)
        frames.append(wide)
    base = ["trial", "step", *TRAJECTORY_TAGS.values()]
    if not frames:
        return pd.DataFrame(columns=base)
    out = pd.concat(frames, ignore_index=True, sort=False)
    out.columns.name = None
    for col in base:
        if col not in out.columns:
            out[col] = float("nan")
    rest = sorted(c for c in out.columns if c not in base)
    return out[base + rest].sort_values(["trial", "step"], kind="stable").reset_index(drop=True)


def trials_without_events(trials: pd.DataFrame, trajectories: pd.DataFrame) -> list[str]:
    """Trials whose TensorBoard folder is missing or holds no contract scalars."""
    seen = set(trajectories["trial"])
    return [t for t in trials["trial"] if t not in seen]
