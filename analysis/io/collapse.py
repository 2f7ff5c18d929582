"""Posterior collapse per trial, by the one rule in :mod:`lvae.collapse` (docs/analysis.md,
"Posterior collapse"): collapsed when the final total KL is below 1 nat or the
reconstruction gains less than 10% over the dataset's mean image. The sweep computes it
when it writes results.csv; this module reads it, and fills it in by the same rule for
folders written before the rule existed.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.io.events import read_scalars
from lvae.collapse import collapse_fields
from lvae.contract import (
    KL_DIM_PREFIX,
    KL_DIM_TAG,
    KL_TAG,
    RECON_BASELINE_TAG,
    RECON_TAG,
    TB_DIR,
    TUNE_KEYS,
)

#: the column a sweep writes only with the current rule: its collapse columns are read as they are
COMPUTED = "total_kl"


def kl_dim_columns(df: pd.DataFrame) -> list[str]:
    return sorted(c for c in df.columns if c.startswith(KL_DIM_PREFIX))


def final_kl_from_events(run_dir: str | Path) -> dict[str, float]:
    """Last logged ``kl/dim_XX`` of a run's TensorBoard events, as ``kl.dim_XX`` (empty if none)."""
    tb = Path(run_dir) / TB_DIR
    if not tb.is_dir():
        return {}
    s = read_scalars(tb)
    s = s[s["tag"].str.startswith(KL_DIM_TAG)].sort_values("step")
    return {KL_DIM_PREFIX + tag[len(KL_DIM_TAG):]: float(g["value"].iloc[-1]) for tag,
            g in s.groupby("tag")}


def add_collapse(df: pd.DataFrame) -> pd.DataFrame:
    """Make sure a trial table (rows of ``load_experiments``) has the collapse columns of
    :func:`lvae.collapse.collapse_fields`: ``active_dims``, ``total_kl``, ``recon_gain``
    and ``collapsed``.

    A results.csv written by the current sweep has them (computed once, when the sweep wrote
    it) and they are read as they are. An older one is filled in by the same rule: the
    per-latent KL from the ``kl.dim_*`` columns or, failing those, the last ``kl/dim_*`` of
    the trial's TensorBoard events, else the final KL term; the reconstruction gain only
    where the mean image's reconstruction (``recon_mean_image``) was recorded.
    """
    out = df.copy()
    if COMPUTED in out.columns:
        out["collapsed"] = out["collapsed"].astype("boolean").fillna(False).astype(bool)
        return out
    missing = (
        out.index
        if not kl_dim_columns(out)
        else out.index[out[kl_dim_columns(out)].isna().all(axis=1)]
    )
    for i in missing:
        if "run_dir" in out.columns and out.at[i, "status"] == "TERMINATED":
            for col, value in final_kl_from_events(out.at[i, "run_dir"]).items():
                out.loc[i, col] = value
    cols = kl_dim_columns(out)
    fields = [
        collapse_fields(
            row[cols].tolist() if cols else [],
            _num(row, TUNE_KEYS[KL_TAG]),
            _num(row, TUNE_KEYS[RECON_TAG]),
            _num(row, TUNE_KEYS[RECON_BASELINE_TAG]),
        )
        for _, row in out.iterrows()
    ]
    for key in ("active_dims", "total_kl", "recon_gain", "collapsed"):
        out[key] = [f[key] for f in fields]
    out["collapsed"] = out["collapsed"].astype("boolean").fillna(False).astype(bool)
    return out


def _num(row: pd.Series, column: str) -> float:
    value = pd.to_numeric(row.get(column), errors="coerce")
    return float(value) if pd.notna(value) else float("nan")


def usable(df: pd.DataFrame, include_collapsed: bool = False) -> pd.DataFrame:
    """Finished trials whose metrics mean something: collapsed trials left out by default."""
    done = df[df["status"] == "TERMINATED"]
    if include_collapsed or "collapsed" not in done.columns:
        return done
    return done[~done["collapsed"].astype(bool)]
