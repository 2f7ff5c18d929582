"""The scalar table a run leaves at its end (lvae.scalar_table, run/scalars.npz): the analysis
reads it instead of the TensorBoard events, which cost seconds per paper-length run. It must
give exactly the trajectories the events give, and a table older than the events (a run
resumed after writing it) must not be used."""

from __future__ import annotations

import os

import pandas as pd
from helpers.train import toy_config

from analysis.io.events import read_scalars, read_trajectories, run_table
from lvae import scalar_table
from lvae.contract import TB_DIR
from lvae.train import train


def _trials(run_dir) -> pd.DataFrame:
    return pd.DataFrame({"trial": ["exp/t0"], "run_dir": [str(run_dir)]})


def test_the_table_gives_the_events_trajectories(tmp_path, toy_dataset) -> None:
    config = toy_config(tmp_path, steps=12, objective="lvae")
    train(config)
    run = tmp_path / "run"
    table_file = run / scalar_table.SCALARS_FILE
    assert table_file.is_file()
    events = scalar_table.wide_table(read_scalars(run / TB_DIR))
    pd.testing.assert_frame_equal(run_table(run), events, check_exact=True)
    options = [{}, {"include_metrics": True}, {"include_kl_dims": True},
               {"include_metrics": True, "columns": ["beta_eff", "objective.beta_stationary"]}]
    from_table = [read_trajectories(_trials(run), **o) for o in options]
    table_file.unlink()  # now from the events, with TensorBoard's reader
    for got, o in zip(from_table, options, strict=True):
        pd.testing.assert_frame_equal(got, read_trajectories(_trials(run), **o), check_exact=True)
    assert list(from_table[3].columns) == ["trial", "step", "beta_eff", "loss_total", "loss_recon",
                                           "loss_kl", "objective.beta_stationary"]


def test_a_table_older_than_the_events_is_not_used(tmp_path, toy_dataset) -> None:
    train(toy_config(tmp_path, steps=6, log_every=3, checkpoint_every=6))
    run = tmp_path / "run"
    assert scalar_table.read_scalar_table(run) is not None
    written = (run / scalar_table.SCALARS_FILE).stat().st_mtime
    for events in (run / TB_DIR).glob("events.out.tfevents.*"):
        os.utime(events, (written + 10, written + 10))
    assert scalar_table.read_scalar_table(run) is None
    assert run_table(run) is not None  # the events instead
