"""Does learning beta add anything beyond the beta it settles at? (docs/analysis.md,
"Dose-response and the beta-matched twin")

L-VAE's learned beta is set by lambda and R/K (docs/objectives.md, "What the balance point
implies"), so comparing it with each fixed beta mostly measures the difference in beta.
The two direct tests, each paired over shared seeds:

* **curve**: the fixed-beta cells (the VAE is beta = 1; twins left out, so the two tests
  stay distinct) traced against ln beta, and each L-VAE cell's departure from that curve
  at its own learned beta (:mod:`analysis.stats.dose_response`);
* **twin**: a beta-VAE fixed at the L-VAE cell's median learned beta, trained on the same
  seeds (``matched_to`` in results.csv names its L-VAE cell), compared seed by seed.

MIG and DCI disentanglement under those two contrasts are the primary family (Holm);
every other metric is exploratory, with Benjamini-Hochberg q-values per contrast
(:mod:`analysis.stats.multiplicity`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.io.table import BETA_EFF, completed, higher_is_better, short_name
from analysis.stats import dose_response as dr
from analysis.stats.multiplicity import (
    CURVE,
    EXPLORATORY,
    PRIMARY,
    PRIMARY_ENDPOINTS,
    TWIN,
    adjust_families,
    declare_primary,
)
from analysis.stats.paired import median_interval_at
from lvae.contract import HP_PREFIX, MATCHED_TO, METRIC_PREFIX

BETA_COLUMN = HP_PREFIX + "beta"
#: the columns of the comparison table, effect sizes and intervals first
COLUMNS = ("contrast", "cell", "metric", "n_seeds", "beta_eff_median", "beta_eff_lo", "beta_eff_hi",
           "reference_beta", "estimate", "lo", "hi", "p", "family", "adjustment", "p_holm",
           "q_bh", "reading")


def is_twin(df: pd.DataFrame) -> pd.Series:
    """Rows of beta-matched twins (``matched_to`` set)."""
    if MATCHED_TO not in df.columns:
        return pd.Series(False, index=df.index)
    return df[MATCHED_TO].notna() & (df[MATCHED_TO].astype(str) != "")


def dose_table(trials: pd.DataFrame, metric: str, lvae: str = "lvae",
               fixed: str = "beta_vae") -> pd.DataFrame:
    """The long table :func:`analysis.stats.dose_response.departure_table` reads: fixed-beta
    rows (the VAE at beta 1, ``fixed`` at its ``hp.beta``; twins left out) and L-VAE rows
    (beta NaN, their final ``beta_eff``), with the metric as ``value``."""
    done = completed(trials)
    beta = pd.Series(np.nan, index=done.index)
    beta[done["objective"] == "vae"] = 1.0
    if BETA_COLUMN in done:
        on = done["objective"] == fixed
        beta[on] = pd.to_numeric(done.loc[on, BETA_COLUMN], errors="coerce")
    keep = (beta.notna() & ~is_twin(done)) | (done["objective"] == lvae)
    out = pd.DataFrame({"cell": done["cell"], "seed": done["seed"], "beta": beta,
                        "learned_beta": pd.to_numeric(done[BETA_EFF], errors="coerce"),
                        "value": pd.to_numeric(done.get(metric), errors="coerce")})
    return out[keep].reset_index(drop=True)


def curve_rows(trials: pd.DataFrame, metrics: Sequence[str], lvae: str = "lvae",
               fixed: str = "beta_vae", level: float = dr.LEVEL) -> list[dict]:
    """One row per L-VAE cell and metric: its departure from the fixed-beta curve."""
    rows = []
    for metric in metrics:
        if metric not in trials.columns:
            continue
        table = dr.departure_table(dose_table(trials, metric, lvae, fixed), short_name(metric),
                                   "value", level, higher_is_better(metric))
        for _, r in table.iterrows():
            rows.append({"contrast": CURVE, "cell": r["cell"], "metric": metric,
                         "n_seeds": r["n_seeds"], "beta_eff_median": r["beta_eff_median"],
                         "beta_eff_lo": r["beta_eff_lo"], "beta_eff_hi": r["beta_eff_hi"],
                         "reference_beta": r["beta_eff_median"], "estimate": r["departure"],
                         "lo": r["departure_lo"], "hi": r["departure_hi"], "p": r["p_value"],
                         "reading": r["reading"]})
    return rows


def twin_pairs(trials: pd.DataFrame,
               lvae: str = "lvae") -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """(L-VAE cell, its trials, its twin's trials) for every L-VAE cell that has a twin."""
    done = completed(trials)
    twins = done[is_twin(done)]
    if twins.empty:
        return []
    source = "sweep_cell" if "sweep_cell" in done else "cell"
    out = []
    for label, twin in twins.groupby(MATCHED_TO, sort=True):
        mine = done[(done[source].astype(str) == str(label)) & (done["objective"] == lvae)]
        if len(mine):
            out.append((str(mine["cell"].iloc[0]), mine, twin))
    return out


def _twin_reading(cell: str, metric: str, twin_beta: float, n: int, est: tuple,
                  level: float) -> str:
    mean, lo, hi, _ = est
    head = (f"{cell} vs its twin (beta-VAE at {twin_beta:.2g}), {n} paired seeds: "
            f"{short_name(metric)}")
    if n < dr.MIN_SEEDS or np.isnan(lo):
        return f"{head}: no conclusion can be drawn ({n} seed(s), at least {dr.MIN_SEEDS} needed)"
    verdict = "indistinguishable" if lo <= 0 <= hi else (
        "better" if (lo > 0) == higher_is_better(metric) else "worse")
    return f"{head} {mean:+.3f} [{lo:.3f}, {hi:.3f}] ({level:.0%}), L-VAE {verdict}"


def twin_rows(trials: pd.DataFrame, metrics: Sequence[str], lvae: str = "lvae",
              level: float = dr.LEVEL) -> list[dict]:
    """One row per L-VAE cell with a twin and metric: mean paired difference L-VAE - twin
    over shared seeds, with its Student t interval and p-value (as for the curve)."""
    rows = []
    for cell, mine, twin in twin_pairs(trials, lvae):
        twin_beta = float(pd.to_numeric(twin.get(BETA_COLUMN), errors="coerce").median())
        b = pd.to_numeric(mine[BETA_EFF], errors="coerce").to_numpy(dtype=float)
        b_lo, b_hi, _ = median_interval_at(b, level)
        for metric in metrics:
            if metric not in mine.columns:
                continue
            pair = pd.merge(mine[["seed", metric]], twin[["seed", metric]], on="seed",
                            suffixes=("_l", "_t")).dropna()
            d = (pair[f"{metric}_l"] - pair[f"{metric}_t"]).to_numpy(dtype=float)
            est = dr.t_interval(d, level) if len(d) >= dr.MIN_SEEDS else (np.nan,) * 4
            rows.append({"contrast": TWIN, "cell": cell, "metric": metric, "n_seeds": len(d),
                         "beta_eff_median": float(np.nanmedian(b)) if b.size else np.nan,
                         "beta_eff_lo": b_lo, "beta_eff_hi": b_hi, "reference_beta": twin_beta,
                         "estimate": est[0], "lo": est[1], "hi": est[2], "p": est[3],
                         "reading": _twin_reading(cell, metric, twin_beta, len(d), est, level)})
    return rows


def comparisons(trials: pd.DataFrame, metrics: Sequence[str], lvae: str = "lvae",
                fixed: str = "beta_vae", endpoints: Sequence[str] = PRIMARY_ENDPOINTS,
                level: float = dr.LEVEL) -> pd.DataFrame:
    """Both contrasts for every L-VAE cell and metric, with the family each belongs to and
    its adjusted p-value: Holm within the primary family (``endpoints`` x both contrasts),
    BH within each contrast's exploratory rows."""
    rows = curve_rows(trials, metrics, lvae, fixed, level) + twin_rows(trials, metrics, lvae, level)
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in
                                        ("family", "adjustment", "p_holm", "q_bh")])
    if table.empty:
        return pd.DataFrame(columns=list(COLUMNS))
    table = declare_primary(table, endpoints, prefix=METRIC_PREFIX)
    exploratory = table["family"] == EXPLORATORY
    table.loc[exploratory, "family"] = EXPLORATORY + ": " + table.loc[exploratory, "contrast"]
    table = adjust_families(table).drop(columns="n_family")
    table = table.assign(_secondary=table["family"] != PRIMARY)  # the primary family first
    return (table.sort_values(["_secondary", "family", "contrast", "cell", "metric"], kind="stable")
            [list(COLUMNS)].reset_index(drop=True))


def ranked_worst(trials: pd.DataFrame, metrics: Sequence[str]) -> pd.DataFrame:
    """The trials with collapsed ones kept and their metrics set to the worst value any
    trial reached: a collapsed run counts as a failure, never as noise near the floor."""
    out = trials.copy()
    if "collapsed" not in out.columns:
        return out
    gone = out["collapsed"].astype(bool)
    for metric in metrics:
        if metric in out.columns and gone.any():
            values = pd.to_numeric(out[metric], errors="coerce")
            worst = values.min() if higher_is_better(metric) else values.max()
            out.loc[gone, metric] = worst
    return out


def decided(row: pd.Series, level: float = dr.LEVEL) -> bool:
    """Whether a comparison excludes zero after its family's adjustment, at 1 - ``level``."""
    p = row["p_holm"] if pd.notna(row["p_holm"]) else row["q_bh"]
    return bool(pd.notna(p) and p < 1 - level)


def figure_points(trials: pd.DataFrame, metric: str, lvae: str = "lvae",
                  fixed: str = "beta_vae") -> pd.DataFrame:
    """What the dose-response figure draws for one metric: every finished trial's beta (the
    fixed dose, the twin's dose, or L-VAE's learned beta_eff) and score, with ``kind``
    (fixed, twin, learned) and its cell."""
    done = completed(trials)
    points = dose_table(trials, metric, lvae, fixed)
    points["kind"] = np.where(points["beta"].notna(), "fixed", "learned")
    points["x"] = points["beta"].fillna(points["learned_beta"])
    twins = done[is_twin(done)]
    if len(twins):
        twin = pd.DataFrame({"cell": twins["cell"], "seed": twins["seed"],
                             "x": pd.to_numeric(twins.get(BETA_COLUMN), errors="coerce"),
                             "value": pd.to_numeric(twins.get(metric), errors="coerce"),
                             "kind": "twin"})
        points = pd.concat([points, twin], ignore_index=True)
    return points[["cell", "seed", "kind", "x", "value"]].dropna(subset=["x", "value"])


def curve(trials: pd.DataFrame, metric: str, lvae: str = "lvae", fixed: str = "beta_vae",
          level: float = dr.LEVEL) -> pd.DataFrame:
    """The fixed-beta curve of one metric on a ln-beta grid with its pointwise band."""
    table = dose_table(trials, metric, lvae, fixed)
    return dr.curve_band(table[table["beta"].notna()], "value", level=level).assign(metric=metric)
