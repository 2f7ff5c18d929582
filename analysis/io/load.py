"""Read finished experiments from disk: results.csv and the trials' TensorBoard events.

Only files are read (no Ray, no sweeps import), so a results folder copied from a
cluster is enough.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.io.cells import fill_defaults
from analysis.io.collapse import add_collapse
from analysis.io.pooling import check_pooling
from analysis.io.table import with_cells
from lvae.contract import (
    BETA_TAG,
    FINAL_TAGS,
    HP_PREFIX,
    KL_DIM_TAG,
    LOSS_TAGS,
    METRIC_PREFIX,
    METRIC_TAG,
    OBJECTIVE_PREFIX,
    REQUIRED_COLUMNS,
    RESULTS_FILE,
    RUN_DIR,
    TB_DIR,
    TRACK_SECONDS_TAG,
    TUNE_KEYS,
)

#: contract columns that are filled with NaN (or "") when an older results.csv lacks them.
OPTIONAL_TEXT = ("error", "experiment", "space", "preset", "node")
OPTIONAL_NUMERIC = ("steps", *(TUNE_KEYS[tag] for tag in FINAL_TAGS), "wall_time_s")
#: the columns read as text whatever they hold
TEXT_COLUMNS = ("trial_id", "status", "objective", "dataset", "architecture", "trial_dir", *OPTIONAL_TEXT)

#: TensorBoard scalar tag -> trajectory column; ``objective/<key>`` becomes ``objective.<key>``.
TRAJECTORY_TAGS = {tag: TUNE_KEYS[tag] for tag in (BETA_TAG, *LOSS_TAGS)}


class ExperimentError(ValueError):
    """A results folder that does not follow the contract."""


PathLike = str | os.PathLike
#: what a results.csv must be, for error messages
EXPECTED = (f"a UTF-8 CSV table (one row per trial) with columns {list(REQUIRED_COLUMNS)}, "
            "as sweeps/run.py writes it")


def _results_path(exp_dir: Path) -> Path:
    """``exp_dir/results.csv``, or an ExperimentError naming what is there instead."""
    path = exp_dir / RESULTS_FILE
    if exp_dir.exists() and not exp_dir.is_dir():
        raise ExperimentError(f"{exp_dir}: is a file; expected an experiment folder holding {RESULTS_FILE}")
    if not exp_dir.is_dir():
        raise ExperimentError(f"{exp_dir}: experiment folder does not exist")
    if path.is_dir():
        raise ExperimentError(f"{path}: is a folder; expected the sweep's {RESULTS_FILE} file")
    if not path.is_file():
        raise ExperimentError(f"{path}: missing; an experiment folder holds the sweep's {RESULTS_FILE}")
    return path


def _read_csv(path: Path) -> pd.DataFrame:
    """The table as text/NaN cells; binary, empty or malformed files raise ExperimentError."""
    with open(path, "rb") as fh:
        if b"\x00" in fh.read(8192):  # pandas would parse a binary file as garbage rows
            raise ExperimentError(f"{path}: not text (binary or not UTF-8); expected {EXPECTED}")
    try:
        return pd.read_csv(path, dtype=dict.fromkeys(TEXT_COLUMNS, str), keep_default_na=True)
    except pd.errors.EmptyDataError as exc:
        raise ExperimentError(f"{path}: empty file, expected a header with {list(REQUIRED_COLUMNS)}") from exc
    except UnicodeDecodeError:
        raise ExperimentError(f"{path}: not text (binary or not UTF-8); expected {EXPECTED}") from None
    except pd.errors.ParserError as exc:
        detail = " ".join(str(exc).split())
        raise ExperimentError(f"{path}: not a well-formed CSV table ({detail}); expected {EXPECTED}") from None


def _typed_columns(df: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Optional columns filled in, numbers parsed (a bad one names its column)."""
    for col in OPTIONAL_TEXT:
        df[col] = df[col].fillna("") if col in df.columns else ""
    for col in OPTIONAL_NUMERIC:
        if col not in df.columns:
            df[col] = float("nan")
    numeric = ["seed", *OPTIONAL_NUMERIC] + [c for c in df.columns if c.startswith(METRIC_PREFIX)]
    for col in numeric:
        try:
            df[col] = pd.to_numeric(df[col])
        except (ValueError, TypeError) as exc:
            raise ExperimentError(f"{path}: column {col!r} must be numeric (NaN allowed): {exc}") from exc
    for col in (c for c in df.columns if c.startswith(HP_PREFIX)):
        # numbers where they are numbers; a categorical hyperparameter (hp.regulariser) stays text
        try:
            df[col] = pd.to_numeric(df[col])
        except (ValueError, TypeError):
            df[col] = df[col].astype(object).where(df[col].notna(), np.nan)
    return df


def _check_rows(df: pd.DataFrame, path: Path) -> None:
    """Every trial has an id, folder, status and objective, and ids are unique."""
    for col in ("trial_id", "trial_dir", "status", "objective"):
        empty = df[col].isna() | (df[col].astype(str).str.strip() == "")
        if empty.any():
            rows = [int(i) + 2 for i in df.index[empty]]  # +2: header line, 1-based
            raise ExperimentError(f"{path}: column {col!r} is empty on line(s) {rows}")
    dup = df["trial_id"][df["trial_id"].duplicated()].unique().tolist()
    if dup:
        raise ExperimentError(f"{path}: trial_id must be unique, repeated: {dup}")


def _read_results(exp_dir: Path) -> pd.DataFrame:
    """One experiment's results.csv, checked and typed. A missing required column is an
    error (never filled in); optional ones (older files) are filled with NaN or ""."""
    path = _results_path(exp_dir)
    df = _read_csv(path)
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ExperimentError(f"{path}: missing column(s) {missing}; required: {list(REQUIRED_COLUMNS)}")
    df = _typed_columns(df, path)
    _check_rows(df, path)
    return df


def load_experiments(*paths: PathLike, keep_apart: bool = False) -> pd.DataFrame:
    """One row per trial of every experiment folder, concatenated.

    Adds ``exp_dir`` (absolute), ``exp_name`` (folder name), ``trial``
    (``<exp_name>/<trial_id>``, unique across experiments) and ``run_dir`` (absolute
    path of the trainer's run folder). hp.* and metric.* columns are the union over the
    experiments (NaN where an experiment lacks one); missing objective parameters are
    filled with the objective's defaults (:mod:`analysis.io.cells`) and ``cell`` names the
    canonical cell (the sweep's own label is kept as ``sweep_cell``). ``active_dims`` and
    ``collapsed`` come from the final per-latent KL (:mod:`analysis.io.collapse`).

    Rows whose metrics were computed with different settings (``eval.*``: probe, sample
    sizes, bins, representation, evaluation seed) are refused with a
    :class:`~analysis.io.pooling.PoolingError`; ``keep_apart=True`` gives each setting its
    own labelled metric columns instead (:func:`analysis.io.pooling.check_pooling`).
    """
    if not paths:
        raise ExperimentError("load_experiments needs at least one experiment folder")
    dirs = [Path(p).expanduser().resolve() for p in paths]
    names = [d.name for d in dirs]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ExperimentError(
            f"experiment folders must have distinct names (trials are keyed by it): {repeated} repeated in {dirs}"
        )
    frames = []
    for exp_dir in dirs:
        df = _read_results(exp_dir)
        df.insert(0, "exp_name", exp_dir.name)
        df.insert(1, "trial", exp_dir.name + "/" + df["trial_id"])
        df["exp_dir"] = str(exp_dir)
        df["run_dir"] = [str(exp_dir / t / RUN_DIR) for t in df["trial_dir"]]
        frames.append(df)
    out = pd.concat(frames, ignore_index=True, sort=False)
    out = check_pooling(add_collapse(fill_defaults(out)), keep_apart=keep_apart)
    if "cell" in out.columns:
        out = out.rename(columns={"cell": "sweep_cell"})
    out = with_cells(out)
    front = [c for c in out.columns if not c.startswith((HP_PREFIX, METRIC_PREFIX))]
    hps = sorted(c for c in out.columns if c.startswith(HP_PREFIX))
    metrics = sorted(c for c in out.columns if c.startswith(METRIC_PREFIX))
    return out[front + hps + metrics]


#: tags of the metrics tracked along training (``metric/<key>``, every eval_every steps) and
#: their cost (``perf/track_seconds``), read when asked: ``metric.<key>``, ``perf.track_seconds``
TRACKED_PREFIXES = (METRIC_TAG, TRACK_SECONDS_TAG)


def scalar_column(tag: str) -> str:
    """The trajectory column of a TensorBoard tag outside TRAJECTORY_TAGS: ``a/b`` -> ``a.b``."""
    return tag.replace("/", ".", 1)


def _trajectory_column(tag: str, include_kl_dims: bool = False, include_metrics: bool = False) -> str | None:
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


def load_beta_trajectories(*paths: PathLike, include_kl_dims: bool = False) -> pd.DataFrame:
    """Trajectories (trial, step, beta_eff, loss terms) of every trial of the experiments."""
    return read_trajectories(load_experiments(*paths), include_kl_dims=include_kl_dims)


def trials_without_events(trials: pd.DataFrame, trajectories: pd.DataFrame) -> list[str]:
    """Trials whose TensorBoard folder is missing or holds no contract scalars."""
    seen = set(trajectories["trial"])
    return [t for t in trials["trial"] if t not in seen]
