"""The headline table: per cell, the few numbers a README quotes, each with its interval.

Per cell: finished trials, how many collapsed (the collapse rate is itself a robustness
result), and the median over seeds of MIG, DCI disentanglement and the final beta_eff,
each with the exact order-statistic interval of a median and the confidence that
interval actually has (:func:`analysis.stats.paired.median_interval_at`: with 5 seeds no
interval reaches 95%, and [min, max] is shown with its 94%). Metrics leave collapsed
trials out by default (their values score noise); beta_eff keeps every finished trial,
since collapsing is one of the things a learned beta can do.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.io.collapse import usable
from analysis.io.table import BETA_EFF, completed, short_name, with_cells
from analysis.stats.paired import LEVEL, median_interval_at


def _median_columns(values: pd.Series, name: str, level: float) -> dict[str, float]:
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    lo, hi, conf = median_interval_at(v, level)
    return {f"{name}_median": float(np.median(v)) if v.size else np.nan,
            f"{name}_lo": lo, f"{name}_hi": hi,
            f"{name}_confidence": conf, f"{name}_n": int(v.size)}


def headline_table(df: pd.DataFrame, metrics: Sequence[str], include_collapsed: bool = False,
                   level: float = LEVEL) -> pd.DataFrame:
    """One row per cell: n_finished, n_collapsed, collapse_rate and, for each metric column
    and beta_eff, ``<name>_median``, ``_lo``, ``_hi``, ``_confidence`` and ``_n``."""
    finished = completed(df if "cell" in df.columns else with_cells(df))
    use = usable(finished, include_collapsed)
    rows = []
    for cell, g in finished.groupby("cell", sort=True):
        collapsed = int(g["collapsed"].astype(bool).sum()) if "collapsed" in g else 0
        row = {"cell": cell, "objective": g["objective"].iloc[0],
               "n_finished": len(g), "n_collapsed": collapsed,
               "collapse_rate": collapsed / len(g)}
        kept = use[use["cell"] == cell]
        for m in metrics:
            row.update(_median_columns(kept[m] if m in kept else pd.Series(dtype=float),
                                       short_name(m), level))
        row.update(_median_columns(g[BETA_EFF] if BETA_EFF in g else pd.Series(dtype=float),
                                   BETA_EFF, level))
        rows.append(row)
    return pd.DataFrame(rows)


def interval_text(row: pd.Series, name: str) -> str:
    """'0.12 [0.08, 0.15] (94%, 5 seeds)' for one column group of the headline table."""
    med, lo, hi = row[f"{name}_median"], row[f"{name}_lo"], row[f"{name}_hi"]
    if pd.isna(med):
        return "n/a"
    if pd.isna(lo):
        return f"{med:.3g} (n={row[f'{name}_n']}, no interval)"
    return f"{med:.3g} [{lo:.3g}, {hi:.3g}] ({row[f'{name}_confidence']:.0%}, n={row[f'{name}_n']})"
