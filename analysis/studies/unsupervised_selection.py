"""Label-free model selection with UDR, checked against the supervised metrics.

UDR is computed the way Duan et al. (2020) use it: within a cell (same objective and
hyperparameters, different seeds), so a model is scored by how consistently its seeds
agree. The check: pick the model with the highest UDR and ask whether it is in the top
quartile of a supervised metric, over the whole pool and over many random sub-pools.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import scipy.stats

from analysis.io.table import completed, resolve_metrics, with_cells
from analysis.stats.udr import udr

#: trial -> (codes (N, D), kl per latent (D,)) of the same inputs.
Codes = Mapping[str, tuple[np.ndarray, np.ndarray | None]]


def udr_table(codes: Codes, groups: Mapping[str, Sequence[str]], **udr_options) -> pd.DataFrame:
    """UDR per trial, computed within each group of trials (a cell's seeds).

    Groups with fewer than two encoded trials get NaN (nothing to compare with).
    """
    rows = []
    for group, trials in groups.items():
        present = [t for t in trials if t in codes]
        if len(present) < 2:
            rows += [{"trial": t, "group": group, "udr": np.nan, "n_models": len(present)}
                     for t in trials]
            continue
        kls = [codes[t][1] for t in present]
        res = udr([codes[t][0] for t in present], None if any(k is None for k in kls) else kls,
                  **udr_options)
        rows += [{"trial": t, "group": group, "udr": float(s), "n_models": len(present),
                  "n_active": int(a.sum())}
                 for t, s, a in zip(present, res.model_scores, res.active, strict=True)]
        rows += [{"trial": t, "group": group, "udr": np.nan, "n_models": len(present)}
                 for t in trials if t not in codes]
    return pd.DataFrame(rows, columns=["trial", "group", "udr", "n_models", "n_active"])


def udr_for_trials(
    df: pd.DataFrame, encode: Callable[[list[str]], tuple[list[np.ndarray], list[np.ndarray]]],
    trials: Sequence[str] | None = None, **udr_options,
) -> pd.DataFrame:
    """Encode the given finished trials (default: all) and score UDR within their cells.

    ``encode(run_dirs) -> (codes, kls)`` must encode the same inputs with every model
    (:func:`analysis.io.model_io.encode_runs`); it is called once per dataset, and only for
    cells with at least two trials (a lone seed has nothing to be compared with).
    """
    done = completed(df)
    done = done if "cell" in done.columns else with_cells(done)
    if trials is not None:
        done = done[done["trial"].isin(trials)]
    groups = {cell: list(g["trial"]) for cell, g in done.groupby("cell", sort=True)}
    paired = done[done["cell"].map(lambda c: len(groups[c]) >= 2)]
    codes: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
    for _, d in paired.groupby("dataset", sort=True):
        codes_list, kls = encode(list(d["run_dir"]))
        codes.update({t: (c, k) for t, c, k in zip(d["trial"], codes_list, kls, strict=True)})
    return udr_table(codes, groups, **udr_options)


def _subset_hits(u: np.ndarray, v: np.ndarray, k: int, n_draws: int,
                 rng: np.random.Generator) -> tuple[float, float]:
    """Over random size-k sub-pools: how often UDR's pick is in the sub-pool's top quartile
    of v, and how often a random pick is (the chance level)."""
    idx = np.argsort(rng.random((n_draws, len(v))), axis=1)[:, :k]
    us, vs = u[idx], v[idx]
    q75 = np.quantile(vs, 0.75, axis=1)
    picked = vs[np.arange(n_draws), np.argmax(us, axis=1)]
    return float(np.mean(picked >= q75)), float(np.mean(vs >= q75[:, None]))


def udr_selection(
    df: pd.DataFrame, scores: pd.DataFrame, metrics: Sequence[str] | None = None, *,
    pool_by: str = "objective", subset_size: int = 6, n_draws: int = 500, seed: int = 0,
) -> pd.DataFrame:
    """How well UDR picks models compared with supervised metrics.

    For each pool (all trials with a UDR, and each ``pool_by`` group) and metric:
    Spearman(UDR, metric); the UDR-best trial's percentile and whether it is in the
    metric's top quartile; and over ``n_draws`` random sub-pools of ``subset_size`` trials
    (seeded) how often UDR's pick is in the sub-pool's top quartile, next to the rate of a
    random pick (``p_top_quartile_random``).
    """
    rng = np.random.default_rng(seed)
    done = completed(df).merge(scores[["trial", "udr"]], on="trial", how="inner")
    done = done[done["udr"].notna()]
    metrics = resolve_metrics(done, metrics)
    pools = [("all", done)] + [(f"{pool_by}={k}", g) for k, g in done.groupby(pool_by, sort=True)]
    rows = []
    for pool, group in pools:
        for m in metrics:
            d = group[["trial", "udr", m]].dropna()
            row: dict[str, object] = {"pool": pool, "metric": m, "n_models": len(d)}
            if len(d) < 2:
                rows.append(row)
                continue
            u, v = d["udr"].to_numpy(), d[m].to_numpy(dtype=float)
            best = int(np.argmax(u))
            rho = scipy.stats.spearmanr(u,
                                        v).statistic if np.ptp(u) > 0 and np.ptp(v) > 0 else np.nan
            k = min(subset_size, len(d))
            hit_rate, chance = _subset_hits(u, v, k, n_draws, rng)
            row.update({
                "spearman_udr": float(rho), "picked_trial": d["trial"].iloc[best],
                "picked_percentile": float((v <= v[best]).mean()),
                "picked_top_quartile": bool(v[best] >= np.quantile(v, 0.75)),
                "subset_size": k, "p_top_quartile_udr": hit_rate, "p_top_quartile_random": chance,
            })
            rows.append(row)
    cols = ["pool", "metric", "n_models", "spearman_udr", "picked_trial", "picked_percentile",
            "picked_top_quartile", "subset_size", "p_top_quartile_udr", "p_top_quartile_random"]
    return pd.DataFrame(rows, columns=cols)
