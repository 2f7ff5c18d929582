"""Metrics along training: metric/* TensorBoard scalars become per-cell bands over seeds."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.analysis_fixtures import TrialSpec, write_experiment

from analysis.io.events import read_trajectories
from analysis.io.load import load_experiments
from analysis.report.plots import metric_curves
from analysis.studies.metric_curves import (
    metric_bands,
    metric_endpoints,
    second_half_slopes,
    tracked_metrics,
    tracking_cost,
)

STEPS = (100, 200, 300, 400)


def rising(seed: int, top: float) -> dict[str, list[tuple[int, float]]]:
    """MIG rising linearly to ``top`` (+ a seed offset); DCI flat at 0.3 + seed offset."""
    return {"mig": [(s, top * s / 400 + 0.01 * seed) for s in STEPS],
            "dci.disentanglement": [(s, 0.3 + 0.01 * seed) for s in STEPS]}


@pytest.fixture(scope="module")
def curves(tmp_path_factory):
    trials = ([TrialSpec("vae", {}, s, metric_curves=rising(s, 0.2)) for s in range(4)]
              + [TrialSpec("beta_vae", {"beta": 4.0}, s,
                           metric_curves=rising(s, 0.4)) for s in range(4)]
              + [TrialSpec("beta_vae", {"beta": 8.0}, 0)])  # no tb folder: no curve
    exp = write_experiment(tmp_path_factory.mktemp("curves"), "exp", trials)
    df = load_experiments(exp)
    return df, read_trajectories(df, include_metrics=True)


def test_metric_tags_are_read_only_when_asked(curves):
    df, traj = curves
    assert tracked_metrics(traj,
                           ["metric.dci.disentanglement"]) == ["metric.dci.disentanglement",
                                                               "metric.mig"]
    assert not tracked_metrics(read_trajectories(df))


def test_bands_summarise_the_seeds_of_each_cell(curves):
    df, traj = curves
    bands = metric_bands(traj, df, ["metric.mig", "metric.dci.disentanglement"])
    row = bands[(bands["metric"] == "metric.mig") & (bands["cell"] ==
                                                     "beta_vae beta=4") & (bands["step"] == 200)]
    values = 0.4 * 200 / 400 + 0.01 * np.arange(4)
    assert row["median"].item() == pytest.approx(np.median(values))
    assert row["q25"].item() == pytest.approx(np.quantile(values, 0.25))
    assert (row["min"].item(), row["max"].item(),
            row["n_seeds"].item()) == pytest.approx((0.2, 0.23, 4))
    assert set(bands["step"]) == set(STEPS) and "beta_vae beta=8" not in set(bands["cell"])
    ends = metric_endpoints(bands).set_index(["metric", "cell"])
    mig = ends.loc[("metric.mig", "beta_vae beta=4")]
    assert (mig["mid_step"], mig["last_step"]) == (200, 400)
    assert mig["change_second_half"] == pytest.approx(0.2)  # still rising: the run was short
    assert ends.loc[("metric.dci.disentanglement", "vae"),
                    "change_second_half"] == pytest.approx(0.0)
    assert tracking_cost(traj) == {"per_evaluation": 0.5, "per_trial": 2.0,
                                   "evaluations_per_trial": 4.0}
    fig = metric_curves(bands, ["metric.mig", "metric.dci.disentanglement"])
    assert len([ax for ax in fig.axes if ax.lines]) == 2


def test_no_metric_tags_gives_empty_tables(curves):
    df, _ = curves
    traj = read_trajectories(df)
    assert metric_bands(traj, df, ["metric.mig"]).empty
    assert metric_endpoints(metric_bands(traj, df, [])).empty
    assert tracking_cost(traj) == {}


def test_second_half_slopes_name_a_metric_still_rising(curves):
    df, traj = curves
    slopes = second_half_slopes(traj, df, ["metric.mig", "metric.dci.disentanglement"])
    rows = slopes.set_index(["metric", "cell"])
    mig = rows.loc[("metric.mig", "beta_vae beta=4")]
    # every seed rises by 0.4 per 400 steps: 1.0 per 1,000 steps, 0.2 over steps 200-400
    assert (mig["from_step"], mig["last_step"], mig["n_seeds"]) == (200, 400, 4)
    assert mig["slope_per_1k"] == pytest.approx(1.0)
    assert mig["change"] == pytest.approx(0.2)
    assert mig["reading"] == "rising"
    assert rows.loc[("metric.dci.disentanglement", "vae"), "slope_per_1k"] == pytest.approx(0.0)
