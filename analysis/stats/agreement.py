"""Do the metrics agree? Spearman rank correlations between them over trials."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from analysis.io.table import HEADLINE_METRICS, LOSS_RECON, completed, short_name

#: metrics compared by default (those present are used); loss_recon is reconstruction
#: error, so a negative correlation with a metric means better reconstruction goes with
#: a higher score.
AGREEMENT_COLUMNS = (*HEADLINE_METRICS, LOSS_RECON)


def agreement_columns(df: pd.DataFrame, columns: Sequence[str] | None = None) -> list[str]:
    """The default columns present with at least one value."""
    wanted = AGREEMENT_COLUMNS if columns is None else columns
    return [c for c in wanted if c in df.columns and df[c].notna().any()]


def metric_agreement(
    df: pd.DataFrame, columns: Sequence[str] | None = None, min_trials: int = 3
) -> pd.DataFrame:
    """Spearman correlation matrix over finished trials (pairwise complete observations).

    Rows and columns use short names (``dci.disentanglement``); entries with fewer than
    ``min_trials`` common trials, or a constant column, are NaN.
    """
    done = completed(df)
    cols = agreement_columns(done, columns)
    if columns is not None:
        missing = [c for c in columns if c not in df.columns]
        if missing:
            raise KeyError(f"no column(s) {missing} in the trial table")
    data = done[cols].astype(float)
    corr = data.corr(method="spearman", min_periods=min_trials)
    names = [short_name(c) for c in cols]
    corr.index, corr.columns = names, names
    return corr
