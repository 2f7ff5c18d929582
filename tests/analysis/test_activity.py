"""Active units for folders whose sweep did not score them: computed from the checkpoints,
kept where the sweep recorded them, and shown next to the KL count per cell."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.analysis_fixtures import TrialSpec, fake_load_run, write_experiment

from analysis import load_experiments
from analysis.io.activity import fill_active_units
from analysis.io.table import ACTIVE_UNITS, metric_columns
from analysis.stats.robustness import collapse_summary


@pytest.fixture()
def trials(tmp_path):
    specs = [TrialSpec("lvae", {"lambda": 0.1}, s) for s in range(3)]
    specs += [TrialSpec("lvae", {"lambda": 1.0}, 7, checkpoint=False)]
    return load_experiments(write_experiment(tmp_path, "exp", specs))


def test_filled_from_checkpoints_where_missing(trials):
    filled = fill_active_units(trials, num_samples=200, load_run=fake_load_run)
    by_seed = filled.set_index("seed")[ACTIVE_UNITS]
    # the toy models have two latents whose mean never moves (mu = 0): 2 of 4 active
    assert by_seed.loc[[0, 1, 2]].tolist() == [2, 2, 2]
    assert np.isnan(by_seed.loc[7])  # no checkpoint: nothing to compute
    assert ACTIVE_UNITS not in metric_columns(filled)  # a diagnostic, not a score


def test_recorded_values_are_kept_and_summarised_per_cell(trials):
    recorded = trials.assign(**{ACTIVE_UNITS: [5.0, 7.0, 6.0, 1.0]})

    def unused(run_dir):
        raise AssertionError(f"{run_dir}: loaded although the sweep recorded active units")

    filled = fill_active_units(recorded, load_run=unused)
    assert filled[ACTIVE_UNITS].tolist() == [5.0, 7.0, 6.0, 1.0]
    summary = collapse_summary(filled).set_index("cell")
    assert summary["active_units_median"].tolist() == [6.0, 1.0]
