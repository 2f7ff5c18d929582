"""``tensorboard --logdir <experiment>`` as opened: one run per trial, named by its cell and
seed (``<cell>_seed=<seed>/run/tb``, the twins' under ``twins/``), and no second copy from
Tune's own TensorBoard logger in the trial folders (its JSON and CSV logs stay)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from helpers.sweep_helpers import run_sweep, smoke_args
from tensorboard.backend.event_processing.plugin_event_multiplexer import EventMultiplexer

from lvae.contract import LOG_BETA_TAG, RESULTS_FILE, RUN_DIR, TB_DIR


def event_dirs(root: Path) -> set[str]:
    """Folders under ``root`` holding TensorBoard event files, relative to it."""
    return {str(p.parent.relative_to(root)) for p in root.rglob("events.out.tfevents.*")}


def test_one_tensorboard_run_per_trial_named_by_cell_and_seed(cluster, tmp_path):
    args = smoke_args(tmp_path, "names", cluster, "--steps", "10", "--max-concurrent", "2",
                      twins=True)
    proc = run_sweep(args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    exp = tmp_path / "names"
    df = pd.read_csv(exp / RESULTS_FILE)
    # 4 cells of the smoke grid and 2 beta-matched twins, one seed each
    assert len(df) == 6 and set(df["status"]) == {"TERMINATED"}
    expected = {}
    for row in df.itertuples():
        stage = "twins/" if isinstance(row.matched_to, str) and row.matched_to else ""
        assert row.trial_dir == f"{stage}{row.cell}_seed={row.seed}"
        expected[f"{row.trial_dir}/{RUN_DIR}/{TB_DIR}"] = row.cell
        # Tune's own per-trial logs are still written (its JSON and CSV loggers)
        assert {"result.json", "progress.csv"} <= {p.name for p in (exp / row.trial_dir).iterdir()}
    # the trainer's events are the only ones: none from Tune's TBX logger in the trial folders
    assert event_dirs(exp) == set(expected)
    # and TensorBoard's server finds exactly those runs, each with the log-scale beta (its
    # multiplexer keeps scalars as tensors)
    mux = EventMultiplexer().AddRunsFromDirectory(str(exp))
    mux.Reload()
    assert set(mux.Runs()) == set(expected)
    assert all(LOG_BETA_TAG in mux.GetAccumulator(run).Tags()["tensors"] for run in expected)
