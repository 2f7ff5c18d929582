"""``results.csv``: one row per trial, rebuilt from the experiment state each time.

Rebuilding from Tune's saved state (not appending) means rerunning the summary, or
resuming an experiment, never duplicates a row.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from lvae.atomic import atomic_path, write_json_atomic
from lvae.collapse import collapse_fields
from lvae.contract import (
    EVAL_PREFIX,
    FINAL_TAGS,
    HP_PREFIX,
    KL_DIM_PREFIX,
    KL_DIM_TUNE_PREFIX,
    KL_TAG,
    MATCHED_TO,
    METRIC_PREFIX,
    RECON_BASELINE_TAG,
    RECON_TAG,
    RESULTS_FILE,
    TUNE_KEYS,
)
from sweeps.provenance import effective_objective_params, metric_settings, training_hps
from sweeps.storage import is_storage_full

SWEEP_FILE = "sweep.json"
#: the beta-matched twins' stage: a second Tune experiment inside the experiment folder
TWINS_DIR = "twins"
FIRST_COLUMNS = [
    "trial_id", "status", "error", "experiment", "space", "preset", "dataset", "architecture",
    "objective", "cell", "seed", MATCHED_TO,
]
LOSS_COLUMNS = ["steps", *(TUNE_KEYS[tag] for tag in FINAL_TAGS)]
#: the collapse rule's inputs and verdict (lvae.collapse)
COLLAPSE_COLUMNS = ["active_dims", "total_kl", "recon_gain", "collapsed"]
TAIL_COLUMNS = ["node", "node_id", "device", "num_failures",
                "resumed_from", "wall_time_s", "train_wall_time_s", "trial_dir"]


def write_sweep_file(exp_dir: Path, settings: dict[str, Any]) -> None:
    exp_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(exp_dir / SWEEP_FILE, settings)


#: sweep.json's key for the sweep's wall seconds, summed over resumed sessions
WALL_TIME_KEY = "wall_time_s"


def add_wall_time(exp_dir: Path, seconds: float) -> float:
    """Add this driver session's wall time to the wall time in sweep.json (summed over
    resumes) and return the total: what the report's cost is measured against
    (benchmarks/bench_report.py)."""
    settings = read_sweep_file(exp_dir)
    total = float(settings.get(WALL_TIME_KEY) or 0.0) + float(seconds)
    write_sweep_file(exp_dir, {**settings, WALL_TIME_KEY: round(total, 1)})
    return total


def recorded_wall_time(exp_dir: Path) -> float | None:
    """The sweep's wall seconds recorded in sweep.json (None when absent or not recorded)."""
    if not (exp_dir / SWEEP_FILE).is_file():
        return None
    recorded = read_sweep_file(exp_dir).get(WALL_TIME_KEY)
    return float(recorded) if recorded else None


#: what sweep.json holds, for error messages
SWEEP_FILE_CONTENT = ("the sweep's settings as written by sweeps/run.py (space, preset, dataset, "
                      "seeds, ...)")


def read_sweep_file(exp_dir: Path) -> dict[str, Any]:
    """The settings in ``sweep.json``; FileNotFoundError if absent, InputError (naming
    the file) if it is a folder, binary, not JSON or not an object."""
    from lvae.atomic import read_json

    path = exp_dir / SWEEP_FILE
    if not path.exists():
        raise FileNotFoundError(f"{exp_dir} is not a sweep experiment folder ({SWEEP_FILE} is "
                                "missing)")
    return read_json(path, SWEEP_FILE_CONTENT)


#: Tune saves running trials as PENDING when the driver stops; one that had started
#: (reported, or has its folder) is listed as interrupted with its last step.
INTERRUPTED = "INTERRUPTED"


def _started(trial, last: dict[str, Any]) -> bool:
    """Whether the trial ran at all: it reported, or Tune stamped its start time (saved
    with the experiment state; never-started trials have none)."""
    if "step" in last:
        return True
    return getattr(getattr(trial, "run_metadata", None), "start_time", None) is not None


def _status(trial, last: dict[str, Any], started: bool = False,
            stop: str = "Ctrl-C") -> tuple[str, str]:
    """The trial's status and error for results.csv; ``stop``: what stopped the sweep (a
    trial it stopped, or one a full storage failed, is INTERRUPTED: --resume reruns it)."""
    step = last.get("step", 0) or 0
    if last.get("trial_error"):
        return "ERROR", str(last["trial_error"])
    if trial.status == "ERROR":
        message = ""
        try:
            message = (trial.get_error() and str(trial.get_error())) or ""
        except Exception:  # noqa: BLE001 - an unreadable error file must not lose the row
            message = "trial errored (error file unreadable)"
        if is_storage_full(message):
            return INTERRUPTED, f"interrupted at step {step} (storage full); --resume continues it"
        return "ERROR", message.strip().splitlines()[-1] if message.strip() else "trial errored"
    if trial.status == "TERMINATED" and not last.get("done_training"):
        return "INCOMPLETE", "trial ended before training finished"
    if trial.status in ("PENDING", "RUNNING", "PAUSED") and started:
        return INTERRUPTED, f"interrupted at step {step} ({stop}); --resume continues it"
    return trial.status, ""


def trial_row(trial, exp_dir: Path, settings: dict[str, Any],
              stop: str = "Ctrl-C") -> dict[str, Any]:
    config = trial.config
    cell = config.get("cell", {})
    last = trial.last_result or {}
    status, error = _status(trial, last, started=_started(trial, last), stop=stop)
    row: dict[str, Any] = {
        "trial_id": trial.trial_id,
        "status": status,
        "error": error,
        "experiment": exp_dir.name,
        "space": settings.get("space"),
        "preset": settings.get("preset"),
        "dataset": config.get("train", {}).get("dataset", settings.get("dataset")),
        "architecture": cell.get("architecture"),
        "objective": cell.get("objective"),
        "cell": cell.get("label"),
        "seed": config.get("seed", config.get("__trial_index__")),
        MATCHED_TO: cell.get(MATCHED_TO),
    }
    train_cfg = config.get("train", {})
    row.update(training_hps(train_cfg))
    # every effective parameter, defaults included: the same configuration is the same cell
    for key, value in effective_objective_params(cell.get("objective"),
                                                 cell.get("objective_params")).items():
        row[HP_PREFIX + key] = value
    row.update(metric_settings(train_cfg))
    row["steps"] = last.get("step", 0) or 0
    for key in LOSS_COLUMNS[1:]:
        row[key] = last.get(key, math.nan)
    for key, value in last.items():
        if key.startswith(METRIC_PREFIX):
            row[key] = value
        elif key.startswith(KL_DIM_TUNE_PREFIX):  # final per-latent KL: active_dims / collapsed
            row[KL_DIM_PREFIX + key[len(KL_DIM_TUNE_PREFIX):]] = value
    kl = [v for k, v in row.items() if k.startswith(KL_DIM_PREFIX)]
    row.update(collapse_fields(kl, row[TUNE_KEYS[KL_TAG]], row[TUNE_KEYS[RECON_TAG]],
                               row[TUNE_KEYS[RECON_BASELINE_TAG]]))
    row["node"] = last.get("node_ip", "")
    row["node_id"] = last.get("node_id", "")
    row["device"] = last.get("device", "")
    row["num_failures"] = getattr(trial, "num_failures", 0)
    row["resumed_from"] = last.get("resumed_from")
    row["wall_time_s"] = last.get("time_total_s", math.nan)
    row["train_wall_time_s"] = last.get("train_wall_time_s", math.nan)
    row["trial_dir"] = os.path.relpath(trial.path, exp_dir) if trial.path else ""
    return row


class _UnstartedTrialsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Failed to fetch metrics for")


@contextmanager
def quiet_unstarted_trials() -> Iterator[None]:
    """Drop ExperimentAnalysis' warning about trials without metrics files.

    Rows come from the trials' saved state, not from those files; the trials that have
    none are those an interrupted sweep never started (listed as PENDING), which the
    warning would call failures, with a multi-line listing per trial.
    """
    log = logging.getLogger("ray.tune.analysis.experiment_analysis")
    quiet = _UnstartedTrialsFilter()
    log.addFilter(quiet)
    try:
        yield
    finally:
        log.removeFilter(quiet)


def has_tune_state(stage_dir: Path) -> bool:
    """Whether a Tune experiment saved its state in ``stage_dir`` (it has started)."""
    return stage_dir.is_dir() and any(stage_dir.glob("experiment_state-*.json"))


def _stage_rows(stage_dir: Path, exp_dir: Path, settings: dict[str, Any],
                stop: str = "Ctrl-C") -> list[dict[str, Any]]:
    """One row per trial of the Tune experiment saved in ``stage_dir`` (the experiment
    folder, or its twins stage inside it); trial folders are relative to ``exp_dir``."""
    from ray.tune import ExperimentAnalysis

    with quiet_unstarted_trials():
        analysis = ExperimentAnalysis(str(stage_dir))
    return [trial_row(t, exp_dir, settings, stop) for t in analysis.trials]


def collect(exp_dir: Path, stop: str = "Ctrl-C") -> pd.DataFrame:
    """All trials of the experiment in ``exp_dir`` (read from Tune's saved state): the
    sweep's, then its beta-matched twins' (``TWINS_DIR``) once that stage has started;
    ``stop``: what stopped an unfinished sweep (its INTERRUPTED rows say so)."""
    settings = read_sweep_file(exp_dir)
    rows = _stage_rows(exp_dir, exp_dir, settings, stop)
    if has_tune_state(exp_dir / TWINS_DIR):
        rows += _stage_rows(exp_dir / TWINS_DIR, exp_dir, settings, stop)
    df = pd.DataFrame(rows)
    if df.empty:
        return pd.DataFrame(columns=FIRST_COLUMNS + LOSS_COLUMNS + TAIL_COLUMNS)
    hp, metrics, evals, kl = (sorted(c for c in df.columns if c.startswith(prefix))
                              for prefix in (HP_PREFIX, METRIC_PREFIX, EVAL_PREFIX, KL_DIM_PREFIX))
    ordered = (FIRST_COLUMNS + hp + LOSS_COLUMNS + COLLAPSE_COLUMNS + metrics + evals + kl
               + TAIL_COLUMNS)
    df = df.reindex(columns=ordered)
    return df.sort_values(["cell", "seed", "trial_id"], kind="stable").reset_index(drop=True)


def write_results(exp_dir: Path, stop: str = "Ctrl-C") -> tuple[Path, pd.DataFrame]:
    df = collect(exp_dir, stop)
    path = exp_dir / RESULTS_FILE
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return path, df
