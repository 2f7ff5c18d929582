"""Posterior collapse per trial: how many latents carry information at the end of training.

A latent is *active* when its KL to the prior, KL(q(z_j|x) || N(0, 1)) averaged over a
batch, is above :data:`ACTIVE_KL` nats at the last logged step (the trainer logs it as
``kl/dim_XX``; the sweep copies the final values into results.csv as ``kl.dim_XX``). A
trial is *collapsed* when no latent is active: its codes carry (almost) no information
about the input, and DCI, MIG and friends then score noise (DCI disentanglement near 0.4
on pure noise). 0.01 nats is the usual active-unit threshold (Burda et al. 2016 use a
0.01 variance of the posterior mean; UDR in this package uses KL > 0.01 too).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.io.events import read_scalars
from lvae.contract import ACTIVE_KL, KL_DIM_PREFIX, KL_DIM_TAG, KL_TAG, TB_DIR, TUNE_KEYS


def kl_dim_columns(df: pd.DataFrame) -> list[str]:
    return sorted(c for c in df.columns if c.startswith(KL_DIM_PREFIX))


def active_dims(kl: pd.DataFrame, threshold: float = ACTIVE_KL) -> pd.Series:
    """Number of latents with KL above ``threshold`` per row (NaN where no KL is known)."""
    values = kl.apply(pd.to_numeric, errors="coerce")
    known = values.notna().any(axis=1)
    counts = (values > threshold).sum(axis=1).astype(float)
    return counts.where(known, np.nan)


def final_kl_from_events(run_dir: str | Path) -> dict[str, float]:
    """Last logged ``kl/dim_XX`` of a run's TensorBoard events, as ``kl.dim_XX`` (empty if none)."""
    tb = Path(run_dir) / TB_DIR
    if not tb.is_dir():
        return {}
    s = read_scalars(tb)
    s = s[s["tag"].str.startswith(KL_DIM_TAG)].sort_values("step")
    return {KL_DIM_PREFIX + tag[len(KL_DIM_TAG):]: float(g["value"].iloc[-1]) for tag, g in s.groupby("tag")}


def add_collapse(df: pd.DataFrame, threshold: float = ACTIVE_KL) -> pd.DataFrame:
    """Add ``active_dims`` and ``collapsed`` to a trial table (rows of ``load_experiments``).

    Uses the ``kl.dim_*`` columns; for trials without them (an older results.csv) the last
    ``kl/dim_*`` values in the trial's TensorBoard events; failing both, the final total KL
    (``loss_kl``): below ``threshold`` no latent can be above it, so the trial is collapsed,
    otherwise it is counted as not collapsed with ``active_dims`` unknown.
    """
    out = df.copy()
    missing = out.index if not kl_dim_columns(out) else out.index[out[kl_dim_columns(out)].isna().all(axis=1)]
    for i in missing:
        if "run_dir" in out.columns and out.at[i, "status"] == "TERMINATED":
            for col, value in final_kl_from_events(out.at[i, "run_dir"]).items():
                out.loc[i, col] = value
    cols = kl_dim_columns(out)
    active = active_dims(out[cols], threshold) if cols else pd.Series(np.nan, index=out.index)
    kl = TUNE_KEYS[KL_TAG]  # the final total KL's column
    total = pd.to_numeric(out[kl], errors="coerce") if kl in out else np.nan
    out["active_dims"] = active
    out["collapsed"] = np.where(active.notna(), active == 0, total < threshold).astype(bool)
    return out


def usable(df: pd.DataFrame, include_collapsed: bool = False) -> pd.DataFrame:
    """Finished trials whose metrics mean something: collapsed trials left out by default."""
    done = df[df["status"] == "TERMINATED"]
    if include_collapsed or "collapsed" not in done.columns:
        return done
    return done[~done["collapsed"].astype(bool)]
