"""Floor and ceiling of every metric for an experiment, and each cell's scores against them.

    python -m analysis.studies.reference EXP_DIR [--init-seeds 0,1,2,3,4] [--data-root DIR]

A raw MIG of 0.07 means little until one knows what an untrained encoder and the true
factors score under the same sample and settings (docs/metrics.md, "Floor and ceiling").
The experiment's settings are read from results.csv (``dataset``, ``architecture``,
``hp.latent_dim``, ``eval.*``); the floor and ceiling are computed by
:mod:`lvae.metrics.reference` (imported lazily: ``import analysis`` loads no torch or
scikit-learn) once per (dataset, architecture, latent_dim, metric, settings, init seeds)
and cached in ``<exp>/metric_reference/metric_reference.csv`` (lvae.contract). A row is
reused only when every key column matches, so changed settings recompute (only the
metrics whose settings changed). The evaluation noise comes from the stability section's
re-scoring under other evaluation seeds (its ``stability_scores`` table), not recomputed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.stats

from analysis.io.files import write_csv_atomic
from analysis.io.table import completed
from analysis.stats.paired import median_interval_at
from analysis.studies.stability import STABILITY_SCORES, read_eval_noise
from lvae.contract import (
    EVAL_PREFIX,
    EVAL_SETTINGS,
    HP_PREFIX,
    METRIC_PREFIX,
    REFERENCE_DIR,
    REFERENCE_FILE,
    TRAINING_HPS,
)

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
#: the floor's init seeds when none are given (lvae.metrics.reference.DEFAULT_INIT_SEEDS)
INIT_SEEDS = (0, 1, 2, 3, 4)
#: what identifies a cached row: a row is reused only when all of these match
KEY_COLUMNS = ("dataset", "architecture", "latent_dim", "family", "settings", "init_seeds")
CACHE_COLUMNS = (*KEY_COLUMNS, "metric", "floor_mean", "floor_low", "floor_high", "floor_values",
                 "ceiling", "n_init_seeds")
#: the reference table's columns (one row per group and metric key)
REFERENCE_COLUMNS = ("dataset", "architecture", "latent_dim", "metric", "floor_mean", "floor_low",
                     "floor_high", "ceiling", "eval_noise_sd", "eval_noise_models", "n_init_seeds",
                     "settings")
CELL_COLUMNS = ("cell", "dataset", "architecture", "latent_dim", "metric", "n_seeds", "median",
                "median_lo", "median_hi", "confidence", "floor_mean", "floor_high", "ceiling",
                "normalised", "above_floor")
LATENT_DIM = HP_PREFIX + TRAINING_HPS["latent_dim"]

Scores = dict[str, float]
#: (group, metric families, init seeds) -> (floor per init seed, ceiling)
Compute = Callable[["Group", Sequence[str], Sequence[int]], tuple[dict[int, Scores], Scores]]


@dataclass(frozen=True)
class Group:
    """Trials sharing one floor and ceiling: same data, model shape and metric settings."""

    dataset: str
    architecture: str
    latent_dim: int
    settings: str  # lvae.metrics.reference.settings_key of every metric the trials computed

    def settings_dict(self) -> dict[str, Any]:
        return json.loads(self.settings)

    def metric_settings(self, families: Sequence[str]) -> dict[str, Any]:
        """The group's settings restricted to ``families`` (what scoring them takes)."""
        return {**self.settings_dict(), "metrics": list(families)}

    @property
    def label(self) -> str:
        """How messages name the group (its settings are in the cache's ``settings``)."""
        return f"{self.dataset}/{self.architecture}/{self.latent_dim} latents"


def eval_settings(row: pd.Series, metrics: Sequence[str] | None = None) -> dict[str, Any]:
    """A trial's metric settings from its ``eval.*`` columns (``eval.probe`` is DCI's
    probe, ``dci_probe``: sweeps/provenance.py); ``metrics`` defaults to ``eval.metrics``,
    else to the metrics whose columns it has values in."""
    from lvae.metrics.registry import setting_targets

    targets = setting_targets()
    out: dict[str, Any] = {}
    for name in EVAL_SETTINGS:
        value = row.get(EVAL_PREFIX + name)
        if value is None or (isinstance(value, float) and np.isnan(value)):
            raise ValueError(f"trial {row.get('trial_id', '?')}: results.csv does not record "
                             f"{EVAL_PREFIX}{name}; the floor must be scored with the trials' own "
                             "metric settings (an experiment from before eval.* columns cannot)")
        option = name if name in targets else next(
            (t for t in targets if t.endswith("_" + name)), name)
        out[option] = value
    if metrics is None:
        recorded = row.get(EVAL_PREFIX + "metrics")
        metrics = (str(recorded).split(",") if isinstance(recorded, str) and recorded else
                   sorted({c[len(METRIC_PREFIX):].split(".")[0] for c, v in row.items()
                           if str(c).startswith(METRIC_PREFIX) and pd.notna(v)}))
    out["metrics"] = list(metrics)
    return out


def group_of(row: pd.Series, metrics: Sequence[str] | None = None) -> Group:
    """The reference group of one trial row (needs ``hp.latent_dim`` and ``eval.*``)."""
    from lvae.metrics.reference import settings_key

    latent = row.get(LATENT_DIM)
    if latent is None or pd.isna(latent):
        raise ValueError(f"trial {row.get('trial_id', '?')}: results.csv has no {LATENT_DIM}; "
                         "the floor needs the trials' latent size")
    return Group(str(row["dataset"]), str(row["architecture"]), int(latent),
                 settings_key(eval_settings(row, metrics)))


def trial_groups(trials: pd.DataFrame, metrics: Sequence[str] | None = None) -> pd.Series:
    """The reference group of each finished trial (index: the trials' index)."""
    done = completed(trials)
    if done.empty:
        raise ValueError("no finished trial in the experiment: nothing to compare with a floor")
    return pd.Series([group_of(r, metrics) for _, r in done.iterrows()], index=done.index)


def family_settings(group: Group, family: str) -> str:
    """The settings key of one metric (its own options only): the cache's ``settings``."""
    from lvae.metrics.reference import settings_key

    return settings_key(group.metric_settings([family]))


def default_compute(data_root: str | None = None, device: str = "cpu",
                    n_jobs: int | None = None) -> Compute:
    """Floor and ceiling through lvae.metrics.reference (torch and the metric code)."""
    def compute(group: Group, families: Sequence[str],
                init_seeds: Sequence[int]) -> tuple[dict[int, Scores], Scores]:
        from lvae.metrics.reference import ceiling_scores, floor_scores

        settings = group.metric_settings(families)
        floor = floor_scores(group.dataset, group.architecture, group.latent_dim, settings,
                             init_seeds, data_root=data_root, device=device, n_jobs=n_jobs)
        return floor, ceiling_scores(group.dataset, settings, data_root=data_root, n_jobs=n_jobs)

    return compute


def floor_range(values: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Where an untrained encoder's score falls with probability ``level``: the normal
    prediction interval mean +- t_{n-1} sd sqrt(1 + 1/n) over the init seeds (a min-max over
    5 seeds would hold a new seed only 4 times in 6; docs/metrics.md, "Floor and ceiling")."""
    n = len(values)
    mean = float(np.mean(values))
    if n < 2:
        return mean, mean
    half = float(scipy.stats.t.ppf(0.5 + level / 2, n - 1) * np.std(values, ddof=1)
                 * np.sqrt(1 + 1 / n))
    return mean - half, mean + half


def reference_rows(group: Group, families: Sequence[str], init_seeds: Sequence[int],
                   floor: dict[int, Scores], ceiling: Scores) -> pd.DataFrame:
    """Cache rows of one group: per metric key, the floor's mean and 95% range over init
    seeds (:func:`floor_range`; each seed's value kept) and the ceiling."""
    rows = []
    for key in ceiling:
        family = key.split(".")[0]
        if family not in families:
            continue
        values = np.array([floor[s][key] for s in init_seeds], dtype=float)
        low, high = floor_range(values)
        rows.append({"dataset": group.dataset, "architecture": group.architecture,
                     "latent_dim": group.latent_dim, "family": family,
                     "settings": family_settings(group, family),
                     "init_seeds": _seeds_text(init_seeds), "metric": key,
                     "floor_mean": float(values.mean()), "floor_low": low,
                     "floor_high": high, "floor_values": json.dumps(values.tolist()),
                     "ceiling": float(ceiling[key]), "n_init_seeds": len(values)})
    return pd.DataFrame(rows, columns=list(CACHE_COLUMNS))


def _seeds_text(init_seeds: Iterable[int]) -> str:
    return json.dumps([int(s) for s in init_seeds])


def cache_path(exp_dir: PathLike) -> Path:
    return Path(exp_dir) / REFERENCE_DIR / REFERENCE_FILE


def read_cache(exp_dir: PathLike) -> pd.DataFrame:
    """The cached rows (empty when there are none). A cache that cannot be read or lacks
    columns is derived data: it is logged and recomputed, never half-used."""
    path = cache_path(exp_dir)
    empty = pd.DataFrame(columns=list(CACHE_COLUMNS))
    if not path.exists():
        return empty
    try:
        table = pd.read_csv(path, dtype={"settings": str, "init_seeds": str, "family": str})
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        log.warning("%s is unreadable (%s); recomputing the floor and ceiling", path, exc)
        return empty
    missing = [c for c in CACHE_COLUMNS if c not in table.columns]
    if missing:
        log.warning("%s lacks column(s) %s; recomputing the floor and ceiling", path, missing)
        return empty
    return table[list(CACHE_COLUMNS)]


def _matching(cache: pd.DataFrame, group: Group, family: str, seeds: str) -> pd.DataFrame:
    want = {"dataset": group.dataset, "architecture": group.architecture,
            "latent_dim": group.latent_dim, "family": family,
            "settings": family_settings(group, family), "init_seeds": seeds}
    mask = np.ones(len(cache), dtype=bool)
    for column, value in want.items():
        mask &= (cache[column].astype(str) == str(value)).to_numpy()
    return cache[mask]


def _row_keys(table: pd.DataFrame) -> pd.Series:
    """One text key per row: its key columns and metric."""
    columns = [*KEY_COLUMNS, "metric"]
    return table[columns].astype(str).agg("|".join, axis=1) if len(table) else pd.Series(dtype=str)


def missing_families(cache: pd.DataFrame, groups: Iterable[Group],
                     init_seeds: Sequence[int]) -> list[tuple[Group, list[str]]]:
    """(group, metric families) the cache lacks under exactly these init seeds, each group
    once, in the order given: what :func:`cached_reference` would compute."""
    seeds = _seeds_text(int(s) for s in init_seeds)
    out = []
    for group in dict.fromkeys(groups):
        missing = [f for f in group.settings_dict()["metrics"]
                   if _matching(cache, group, f, seeds).empty]
        if missing:
            out.append((group, missing))
    return out


def _store(exp_dir: PathLike, cache: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """The cache with ``new``'s rows replacing any under the same key, written atomically."""
    keep = cache[~_row_keys(cache).isin(set(_row_keys(new))).to_numpy()]
    table = pd.concat([keep, new], ignore_index=True) if len(keep) else new
    write_csv_atomic(cache_path(exp_dir), table)
    return table


def cached_reference(exp_dir: PathLike, groups: Iterable[Group],
                     init_seeds: Sequence[int] = INIT_SEEDS,
                     compute: Compute | None = None,
                     errors: dict[Group, str] | None = None) -> pd.DataFrame:
    """Cache rows for every group and metric, computing those the cache lacks under exactly
    these settings; other rows in the file are kept. Each group's rows are written as soon
    as they are computed (atomically), so an interrupted run keeps the groups it finished.

    A group whose computation fails (its dataset cannot be read, a cluster task died) is
    logged and left out, and the others stand; ``errors`` receives its one-line reason."""
    groups = list(dict.fromkeys(groups))
    init_seeds = [int(s) for s in init_seeds]
    compute = compute or default_compute()
    cache = read_cache(exp_dir)
    for group, families in missing_families(cache, groups, init_seeds):
        log.info("computing the floor (%d init seeds) and ceiling of %s for %s",
                 len(init_seeds), ", ".join(families), group.label)
        try:
            floor, ceiling = compute(group, families, init_seeds)
        except Exception as exc:  # noqa: BLE001 - one group's failure must not void the rest
            reason = traceback.format_exception_only(type(exc), exc)[-1].strip()
            log.warning("floor and ceiling of %s not computed: %s", group.label, reason)
            if errors is not None:
                errors[group] = reason
            continue
        cache = _store(exp_dir, cache, reference_rows(group, families, init_seeds, floor,
                                                      ceiling))
    seeds = _seeds_text(init_seeds)
    rows = [m for g in groups for f in g.settings_dict()["metrics"]
            if not (m := _matching(cache, g, f, seeds)).empty]
    if not rows:
        return pd.DataFrame(columns=list(CACHE_COLUMNS))
    return pd.concat(rows, ignore_index=True)


def reference_table(cache_rows: pd.DataFrame, noise: pd.DataFrame | None = None) -> pd.DataFrame:
    """The reference CSV's rows: floor (mean, 95% range over init seeds), ceiling and the
    evaluation noise per (group, metric key)."""
    out = cache_rows.copy()
    if noise is not None and len(noise):
        out = out.merge(noise, on="metric", how="left")
    for column in ("eval_noise_sd", "eval_noise_models"):
        if column not in out:
            out[column] = np.nan
    out["eval_noise_models"] = out["eval_noise_models"].astype("Int64")  # NaN: no stability table
    return out[list(REFERENCE_COLUMNS)].reset_index(drop=True)


def _cell_row(cell: str, values: pd.Series, ref: pd.Series) -> dict[str, Any]:
    values = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    median = float(np.median(values)) if values.size else np.nan
    lo, hi, confidence = median_interval_at(values)
    span = ref["ceiling"] - ref["floor_mean"]
    return {"cell": cell, "dataset": ref["dataset"], "architecture": ref["architecture"],
            "latent_dim": ref["latent_dim"], "metric": ref["metric"], "n_seeds": int(values.size),
            "median": median, "median_lo": lo, "median_hi": hi, "confidence": confidence,
            "floor_mean": ref["floor_mean"], "floor_high": ref["floor_high"],
            "ceiling": ref["ceiling"],
            "normalised": (median - ref["floor_mean"]) / span if span > 0 else np.nan,
            "above_floor": bool(lo > ref["floor_high"]) if not np.isnan(lo) else False}


def cell_table(trials: pd.DataFrame, groups: pd.Series, reference: pd.DataFrame) -> pd.DataFrame:
    """Per cell and metric key: the median over seeds with its sign-test interval
    (analysis.stats.paired.median_interval_at: [min, max] at 94% for 5 seeds, 97% for 6),
    the normalised median (median - floor) / (ceiling - floor), and ``above_floor``: the
    interval's lower end is above the floor's upper end (its 95% range over init seeds).
    Collapsed trials count: a cell that collapses scores what it scores."""
    rows = []
    done = completed(trials)
    for cell, members in done.groupby("cell", sort=False):
        group = groups[members.index[0]]
        mine = reference[(reference["dataset"] == group.dataset)
                         & (reference["architecture"] == group.architecture)
                         & (reference["latent_dim"].astype(int) == group.latent_dim)]
        for _, ref in mine.iterrows():
            family = str(ref["metric"]).split(".")[0]
            column = METRIC_PREFIX + str(ref["metric"])
            if column in members and ref["settings"] == family_settings(group, family):
                rows.append(_cell_row(str(cell), members[column], ref))
    return pd.DataFrame(rows, columns=list(CELL_COLUMNS))


def floor_and_ceiling(
    exp_dir: PathLike, init_seeds: Sequence[int] = INIT_SEEDS, metrics: Sequence[str] | None = None,
    compute: Compute | None = None, stability_scores: PathLike | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(reference table, cell table) of one experiment folder, the floor and ceiling
    computed or read from its cache (:func:`cached_reference`)."""
    from analysis.io.load import load_experiments

    trials = load_experiments(exp_dir)
    groups = trial_groups(trials, metrics)
    errors: dict[Group, str] = {}
    rows = cached_reference(exp_dir, groups.tolist(), init_seeds, compute, errors)
    if errors:  # the groups that were computed are cached; say which were not, and why
        raise ValueError("floor and ceiling not computed for "
                         + "; ".join(f"{g.label} ({why})" for g, why in errors.items()))
    reference = reference_table(rows, read_eval_noise(exp_dir, stability_scores))
    return reference, cell_table(trials, groups, reference)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m analysis.studies.reference",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("exp_dir", help="experiment folder holding results.csv")
    p.add_argument("--init-seeds", default=",".join(map(str, INIT_SEEDS)),
                   help="init seeds of the untrained encoders (default %(default)s)")
    p.add_argument("--metrics", default=None,
                   help="comma-separated metrics (default: results.csv's eval.metrics)")
    p.add_argument("--data-root", default=None, help="dataset root (default: $LVAE_DATA)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--n-jobs", type=int, default=None, help="parallel DCI probes (speed only)")
    p.add_argument("--stability-scores", default=None,
                   help=f"the report's stability table (default EXP_DIR/{STABILITY_SCORES})")
    return p


def _seeds(text: str) -> list[int]:
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--init-seeds must be comma-separated integers, got {text!r}") from None
    if not seeds or min(seeds) < 0:
        raise ValueError(f"--init-seeds must be non-negative integers, at least one; got {text!r}")
    return seeds


def _cli(args: argparse.Namespace) -> int:
    if not Path(args.exp_dir).is_dir():
        raise FileNotFoundError(f"{args.exp_dir} is not a folder; expected an experiment folder "
                                "holding results.csv")
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    compute = default_compute(args.data_root, args.device, args.n_jobs)
    reference, cells = floor_and_ceiling(args.exp_dir, _seeds(args.init_seeds), metrics, compute,
                                         args.stability_scores)
    with pd.option_context("display.width", 200, "display.max_rows", 500,
                           "display.float_format", "{:.4f}".format):
        print(reference.drop(columns=["settings"]).to_string(index=False))
        print(f"\nsettings: {'; '.join(sorted(set(reference['settings'])))}")
        print(f"cached in {cache_path(args.exp_dir)}\n")
        print(cells.drop(columns=["dataset", "architecture", "latent_dim"]).to_string(index=False))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from lvae.cli import run_cli

    args = build_parser().parse_args(argv)
    return run_cli(lambda: _cli(args))


if __name__ == "__main__":
    raise SystemExit(main())
