"""Beta-matched twins: a beta-VAE fixed at each L-VAE cell's median learned beta.

Whether L-VAE's learning of beta helps, beyond landing on a good beta, is the question a
fixed-beta grid cannot answer: its betas are not the ones L-VAE learned. A twin is a
beta-VAE at the median ``beta_eff`` of the L-VAE cell's finished trials (rounded to two
significant figures), on the same architecture and seeds, so every L-VAE seed has a
fixed-beta partner at the beta it learned.

The twins are the sweep's second stage: once every trial of the first has finished,
:func:`plan_twins` reads the L-VAE cells' results and ``sweeps/run.py`` trains the twins
as a second Tune experiment in ``<experiment>/twins/``; ``results.csv`` lists both stages
(``matched_to`` names a twin's L-VAE cell). The plan, with the reason for every L-VAE cell
left without a twin, is recorded in ``sweep.json`` under ``twins``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from lvae.contract import BETA_TAG, MATCHED_TO, TUNE_KEYS
from sweeps.spaces import Cell, twin_cell

#: a median learned beta outside [low, high] gets no twin: the fixed-beta grids span 1 to
#: 16, and an L-VAE whose beta ran away (lambda = 0 can reach 1e9) or vanished has no
#: meaningful fixed-beta counterpart (training at beta = 1e9 only empties the code)
BETA_RANGE = (1e-3, 1e3)
#: sweep.json's key for the twins' plan
TWINS_KEY = "twins"
BETA_EFF = TUNE_KEYS[BETA_TAG]


def two_significant(value: float) -> float:
    """``value`` rounded to two significant figures (2.345 -> 2.3, 0.01234 -> 0.012)."""
    return float(f"{value:.2g}")


@dataclass
class TwinPlan:
    """The twins to train and the L-VAE cells left without one (with the reason)."""

    twins: list[Cell] = field(default_factory=list)
    #: {"matched_to": L-VAE cell label, "reason": why it has no twin}
    skipped: list[dict[str, str]] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """What sweep.json keeps (under ``TWINS_KEY``)."""
        trained = [{MATCHED_TO: t[MATCHED_TO], "cell": t["label"],
                    "beta": t["objective_params"]["beta"]} for t in self.twins]
        return {"trained": trained, "skipped": self.skipped}

    def lines(self) -> list[str]:
        """One printed line per L-VAE cell: its twin's beta, or why it has none."""
        out = [f"twin of {t[MATCHED_TO]}: beta-VAE at beta {t['objective_params']['beta']:g}"
               for t in self.twins]
        return out + [f"twin of {s[MATCHED_TO]}: skipped ({s['reason']})" for s in self.skipped]


def twin_beta(label: str, rows: pd.DataFrame) -> float | str:
    """The twin's beta for the L-VAE cell ``label`` (its rows of results.csv), or why it
    gets no twin: no finished trial, or a median learned beta that is not finite or lies
    outside ``BETA_RANGE``."""
    done = rows[rows["status"] == "TERMINATED"]
    if done.empty:
        counts = rows["status"].value_counts().items()
        statuses = ", ".join(f"{n} {s}" for s, n in counts) or "no trials"
        return f"no finished trial of {label} ({statuses}): no learned beta to match"
    median = _median(done[BETA_EFF])
    low, high = BETA_RANGE
    if not math.isfinite(median):
        return f"median {BETA_EFF} of {label} is {median}, not a finite beta"
    if not low <= median <= high:
        how = "ran away" if median > high else "vanished"
        return (f"median {BETA_EFF} of {label} is {median:.3g}, outside [{low:g}, {high:g}]: "
                f"the learned beta {how}, no fixed beta matches it")
    return two_significant(median)


def _median(values: pd.Series) -> float:
    """The median, NaN when any value is missing (a finished trial without a beta)."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    return math.nan if numbers.isna().any() else float(numbers.median())


def plan_twins(df: pd.DataFrame, sources: list[Cell]) -> TwinPlan:
    """Each L-VAE cell of ``sources`` with its twin from the first stage's results ``df``."""
    plan = TwinPlan()
    for source in sources:
        outcome = twin_beta(source["label"], df[df["cell"] == source["label"]])
        if isinstance(outcome, str):
            plan.skipped.append({MATCHED_TO: source["label"], "reason": outcome})
        else:
            plan.twins.append(twin_cell(source, outcome))
    return plan


def recorded_plan(exp_dir: Path) -> dict[str, Any] | None:
    """The twins' plan recorded in sweep.json (None before it was made)."""
    from sweeps.results import read_sweep_file

    return read_sweep_file(exp_dir).get(TWINS_KEY)


def record_plan(exp_dir: Path, plan: TwinPlan) -> None:
    """Keep the plan in sweep.json next to the sweep's settings."""
    from sweeps.results import read_sweep_file, write_sweep_file

    write_sweep_file(exp_dir, {**read_sweep_file(exp_dir), TWINS_KEY: plan.record()})
