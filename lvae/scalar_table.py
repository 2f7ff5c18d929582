"""A run's TensorBoard scalars as one small table, ``<run>/scalars.npz``, written when the run
ends: the analysis reads it instead of re-parsing the event files, which costs about 2 s per
paper-length run with TensorBoard's reader (docs/cluster.md, "The report at
disentanglement_lib's scale").

The table is what the events say, read back with TensorBoard's own reader: one row per
logged step, one column per scalar tag (NaN where a tag was not logged at that step), the
last value per (tag, step) where a resumed run logged a step twice. A table older than the
newest event file (a run resumed after it was written) is not used.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from lvae.atomic import write_bytes_atomic
from lvae.contract import TB_DIR

#: the table's file in a run folder
SCALARS_FILE = "scalars.npz"
PathLike = str | os.PathLike


def read_scalars(tb_dir: PathLike, tags: Iterable[str] | None = None) -> pd.DataFrame:
    """All scalar events of one TensorBoard folder as (tag, step, wall_time, value), with
    TensorBoard's own reader; a resumed run that re-logged steps keeps the last value per
    (tag, step)."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    guidance = {ea.SCALARS: 0, ea.IMAGES: 1, ea.AUDIO: 1, ea.HISTOGRAMS: 1,
                ea.COMPRESSED_HISTOGRAMS: 1, ea.TENSORS: 1}
    acc = ea.EventAccumulator(str(tb_dir), size_guidance=guidance)
    # a resumed run's purge marker makes the reader warn ("Detected out of order
    # event.step ... Purging expired events"): expected here, and what we want it to do
    reader_log = logging.getLogger("tensorboard")
    level = reader_log.level
    reader_log.setLevel(logging.ERROR)
    try:
        acc.Reload()
    finally:
        reader_log.setLevel(level)
    wanted = set(tags) if tags is not None else None
    rows = [
        (tag, ev.step, ev.wall_time, ev.value)
        for tag in acc.Tags()["scalars"]
        if wanted is None or tag in wanted
        for ev in acc.Scalars(tag)
    ]
    df = pd.DataFrame(rows, columns=["tag", "step", "wall_time", "value"])
    return df.drop_duplicates(["tag", "step"], keep="last").reset_index(drop=True)


def wide_table(scalars: pd.DataFrame) -> pd.DataFrame:
    """(tag, step, wall_time, value) rows as one row per step (``step``, ``wall_time``: the
    latest of the step, then one column per tag in first-logged order)."""
    values = scalars.pivot(index="step", columns="tag", values="value")
    values = values[list(dict.fromkeys(scalars["tag"]))]
    wall = scalars.groupby("step")["wall_time"].max()
    out = values.assign(wall_time=wall).reset_index()
    out.columns.name = None
    return out[["step", "wall_time", *values.columns]]


def table_bytes(table: pd.DataFrame) -> bytes:
    """A wide table (:func:`wide_table`) as the bytes of ``scalars.npz``."""
    tags = [c for c in table.columns if c not in ("step", "wall_time")]
    buf = io.BytesIO()
    np.savez(buf, step=table["step"].to_numpy(np.int64),
             wall_time=table["wall_time"].to_numpy(np.float64), tags=np.array(tags, dtype=str),
             values=table[tags].to_numpy(np.float64).reshape(len(table), len(tags)))
    return buf.getvalue()


def write_scalar_table(run_dir: PathLike) -> Path | None:
    """Write ``<run_dir>/scalars.npz`` from the run's events (None: no events to summarise)."""
    tb = Path(run_dir) / TB_DIR
    if not tb.is_dir():
        return None
    scalars = read_scalars(tb)
    if scalars.empty:
        return None
    return write_bytes_atomic(Path(run_dir) / SCALARS_FILE, table_bytes(wide_table(scalars)))


def read_scalar_table(run_dir: PathLike) -> pd.DataFrame | None:
    """The run's table as :func:`wide_table` gives it, or None when there is none or an event
    file is newer than it (the events are then the record)."""
    path = Path(run_dir) / SCALARS_FILE
    try:
        written = path.stat().st_mtime
    except OSError:
        return None
    events = (Path(run_dir) / TB_DIR).glob("events.out.tfevents.*")
    if any(e.stat().st_mtime > written for e in events):
        return None
    with np.load(path, allow_pickle=False) as z:
        table = pd.DataFrame(z["values"], columns=[str(t) for t in z["tags"]])
        table.insert(0, "step", z["step"])
        table.insert(1, "wall_time", z["wall_time"])
    return table
