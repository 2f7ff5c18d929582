"""Read finished experiments from disk: results.csv and the trials' TensorBoard events.

Only files are read (no Ray, no sweeps import), so a results folder copied from a
cluster is enough.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.io.cells import fill_defaults
from analysis.io.collapse import add_collapse
from analysis.io.events import read_trajectories
from analysis.io.pooling import check_pooling
from analysis.io.table import with_cells
from lvae.contract import (
    FINAL_TAGS,
    HP_PREFIX,
    METRIC_PREFIX,
    REQUIRED_COLUMNS,
    RESULTS_FILE,
    RUN_DIR,
    TUNE_KEYS,
)

#: contract columns that are filled with NaN (or "") when an older results.csv lacks them.
OPTIONAL_TEXT = ("error", "experiment", "space", "preset", "node")
OPTIONAL_NUMERIC = ("steps", *(TUNE_KEYS[tag] for tag in FINAL_TAGS), "wall_time_s")
#: the columns read as text whatever they hold
TEXT_COLUMNS = ("trial_id", "status", "objective", "dataset",
                "architecture", "trial_dir", *OPTIONAL_TEXT)

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
        raise ExperimentError(f"{exp_dir}: is a file; expected an experiment folder holding "
                              f"{RESULTS_FILE}")
    if not exp_dir.is_dir():
        raise ExperimentError(f"{exp_dir}: experiment folder does not exist")
    if path.is_dir():
        raise ExperimentError(f"{path}: is a folder; expected the sweep's {RESULTS_FILE} file")
    if not path.is_file():
        raise ExperimentError(f"{path}: missing; an experiment folder holds the sweep's "
                              f"{RESULTS_FILE}")
    return path


def _read_csv(path: Path) -> pd.DataFrame:
    """The table as text/NaN cells; binary, empty or malformed files raise ExperimentError."""
    with open(path, "rb") as fh:
        if b"\x00" in fh.read(8192):  # pandas would parse a binary file as garbage rows
            raise ExperimentError(f"{path}: not text (binary or not UTF-8); expected {EXPECTED}")
    try:
        # low_memory=False: one type per column over all rows (pandas' chunked guess gives a
        # sparse text column, e.g. hp.regulariser at 12,600 trials, mixed types and a warning)
        return pd.read_csv(path, dtype=dict.fromkeys(TEXT_COLUMNS, str), keep_default_na=True,
                           low_memory=False)
    except pd.errors.EmptyDataError as exc:
        raise ExperimentError(f"{path}: empty file, expected a header with "
                              f"{list(REQUIRED_COLUMNS)}") from exc
    except UnicodeDecodeError:
        raise ExperimentError(f"{path}: not text (binary or not UTF-8); expected "
                              f"{EXPECTED}") from None
    except pd.errors.ParserError as exc:
        detail = " ".join(str(exc).split())
        raise ExperimentError(f"{path}: not a well-formed CSV table ({detail}); "
                              f"expected {EXPECTED}") from None


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
            raise ExperimentError(f"{path}: column {col!r} must be numeric (NaN "
                                  f"allowed): {exc}") from exc
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
        raise ExperimentError(f"{path}: missing column(s) {missing}; required: "
                              f"{list(REQUIRED_COLUMNS)}")
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
            f"experiment folders must have distinct names (trials are keyed by it): {repeated} "
            f"repeated in {dirs}"
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


def load_beta_trajectories(*paths: PathLike, include_kl_dims: bool = False) -> pd.DataFrame:
    """Trajectories (trial, step, beta_eff, loss terms) of every trial of the experiments."""
    return read_trajectories(load_experiments(*paths), include_kl_dims=include_kl_dims)
