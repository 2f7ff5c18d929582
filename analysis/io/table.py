"""Column conventions of the trial table, shared by every summary.

One row per trial, as :func:`analysis.io.load.load_experiments` returns it: ``hp.<name>``
columns hold hyperparameters (NaN where they do not apply), ``metric.<key>`` columns hold
the scores. A *cell* is (dataset, objective, architecture, hyperparameters other than
seed); seeds are the replicates inside a cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from lvae.contract import (
    ACTIVE_UNITS_KEY,
    BETA_TAG,
    DIAGNOSTIC_KEYS,
    HP_PREFIX,
    KL_TAG,
    LOSS_TAGS,
    MATCHED_TO,
    METRIC_PREFIX,
    RECON_TAG,
    TRAINING_HPS,
    TUNE_KEYS,
)

#: columns that identify a cell besides the hyperparameters.
CELL_BASE = ("dataset", "objective", "architecture")
#: the status Ray Tune gives a trial that finished normally.
DONE = "TERMINATED"
#: headline metrics, in the order reports show them (the ones present are used): a choice,
#: checked against the keys lvae.metrics produces by tests/e2e/test_contract.py
HEADLINE_METRICS = tuple(METRIC_PREFIX + key for key in (
    "dci.disentanglement",
    "mig",
    "sap",
    "factor_vae.eval_accuracy",
    "beta_vae.eval_accuracy",
    "modularity",  # lvae.metrics keeps a key equal to its metric bare
))
#: columns where lower is better (the loss terms); every metric.* column is higher-is-better.
LOWER_IS_BETTER = frozenset(TUNE_KEYS[tag] for tag in LOSS_TAGS)
#: columns of the trainer's final values, named by lvae.contract (results.csv and trajectories)
BETA_EFF, LOSS_RECON, LOSS_KL = (TUNE_KEYS[tag] for tag in (BETA_TAG, RECON_TAG, KL_TAG))
#: the training settings every trial records (hp.lr, ..., hp.train_steps)
TRAINING_HP_COLUMNS = tuple(HP_PREFIX + column for column in TRAINING_HPS.values())
#: the steps a trial was set to run (``steps`` holds the steps it completed)
TRAIN_STEPS = HP_PREFIX + TRAINING_HPS["steps"]


def hp_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c.startswith(HP_PREFIX)]


#: results.csv columns of the model diagnostics (lvae.contract.DIAGNOSTIC_KEYS)
DIAGNOSTIC_COLUMNS = frozenset(METRIC_PREFIX + key for key in DIAGNOSTIC_KEYS)
ACTIVE_UNITS = METRIC_PREFIX + ACTIVE_UNITS_KEY


def metric_columns(df: pd.DataFrame) -> list[str]:
    """The disentanglement scores among the columns (diagnostics such as active units left out)."""
    return [c for c in df.columns if c.startswith(METRIC_PREFIX) and c not in DIAGNOSTIC_COLUMNS]


def short_name(column: str) -> str:
    """``metric.dci.disentanglement`` -> ``dci.disentanglement``; ``hp.lambda`` -> ``lambda``."""
    for prefix in (METRIC_PREFIX, HP_PREFIX):
        if column.startswith(prefix):
            return column[len(prefix) :]
    return column


def higher_is_better(column: str) -> bool:
    return column not in LOWER_IS_BETTER


def completed(df: pd.DataFrame) -> pd.DataFrame:
    """Trials that finished (summaries further leave out collapsed ones:
    analysis.io.collapse.usable)."""
    return df[df["status"] == DONE]


def resolve_metrics(df: pd.DataFrame, metrics: Sequence[str] | None) -> list[str]:
    """The metric columns to summarise; unknown names raise naming what exists."""
    if metrics is None:
        return metric_columns(df)
    missing = [m for m in metrics if m not in df.columns]
    if missing:
        raise KeyError(f"no column(s) {missing} in the trial table; metric columns: "
                       f"{metric_columns(df)}")
    return list(metrics)


def format_value(value: object) -> str:
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    return str(value)


def _varying(df: pd.DataFrame, columns: Iterable[str]) -> list[str]:
    return [c for c in columns if df[c].dropna().nunique() > 1]


def with_cells(df: pd.DataFrame) -> pd.DataFrame:
    """Add a ``cell`` label unique per cell, naming only what varies (``lvae lambda=0.01``).

    A hyperparameter is named when it varies within the row's objective; dataset and
    architecture are named when the table holds more than one. Two cells always differ in
    something that is named, so labels are unique. A beta-matched twin (``matched_to`` set)
    is labelled with the L-VAE cell it was matched to, so it never pools with a fixed-beta
    cell that happens to share its beta.
    """
    out = df.copy()
    hps = hp_columns(df)
    shown_base = _varying(df, ("dataset", "architecture"))
    varying_by_objective = {
        obj: _varying(group, hps) for obj, group in df.groupby("objective", sort=False)
    }
    labels = []
    for _, row in df.iterrows():
        parts = [str(row["objective"])]
        for col in varying_by_objective.get(row["objective"], []):
            if pd.notna(row[col]):
                parts.append(f"{short_name(col)}={format_value(row[col])}")
        parts += [format_value(row[c]) for c in shown_base]
        twin_of = row.get(MATCHED_TO)
        if isinstance(twin_of, str) and twin_of:  # a twin stays apart from a grid cell at its beta
            parts.append(f"(twin of {twin_of})")
        labels.append(" ".join(parts))
    out["cell"] = labels
    return out


def seeds_per_cell(df: pd.DataFrame) -> pd.Series:
    """Number of finished seeds per cell label (needs a ``cell`` column)."""
    return df.groupby("cell", sort=False)["seed"].nunique()
