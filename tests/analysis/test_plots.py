"""Every figure renders to PNG, including on empty inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.analysis_fixtures import standard_trials, write_experiment

from analysis import (
    load_experiments,
    read_trajectories,
    sensitivity,
    trajectory_bands,
    with_cells,
)
from analysis.report import plots
from analysis.stats.agreement import metric_agreement

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def trials(tmp_path_factory):
    root = tmp_path_factory.mktemp("plots")
    exps = [write_experiment(root, name, ts) for name, ts in standard_trials(seeds=(0, 1)).items()]
    return with_cells(load_experiments(*exps))


def axes_of(fig):
    return fig.get_axes()


def test_boxplots_one_box_per_cell_with_seed_points(trials):
    fig = plots.metric_boxplots(trials, ["metric.dci.disentanglement", "metric.mig"])
    assert len(axes_of(fig)) == 2
    for ax in axes_of(fig):
        assert len(ax.get_xticklabels()) == trials["cell"].nunique()
        points = sum(len(c.get_offsets()) for c in ax.collections)
        assert points == len(trials)
    assert plots.png_bytes(fig).startswith(PNG)
    empty = plots.metric_boxplots(trials.assign(**{"metric.mig": np.nan}), ["metric.mig"])
    assert plots.png_bytes(empty).startswith(PNG)
    assert plots.png_bytes(plots.metric_boxplots(trials, [])).startswith(PNG)


def test_beta_trajectories_log_axis_one_line_per_cell(trials):
    bands = trajectory_bands(read_trajectories(trials), trials)
    fig = plots.beta_trajectories(bands)
    ax = axes_of(fig)[0]
    assert ax.get_yscale() == "log"
    assert len(ax.get_lines()) == trials["cell"].nunique()
    assert plots.png_bytes(fig).startswith(PNG)
    assert plots.png_bytes(plots.beta_trajectories(bands.iloc[:0])).startswith(PNG)


def test_sensitivity_curves_log_x(trials):
    table = sensitivity(trials, "lvae", "hp.lambda")
    fig = plots.sensitivity_curves(table, ["metric.dci.disentanglement"])
    ax = axes_of(fig)[0]
    assert ax.get_xscale() == "log"
    np.testing.assert_allclose(ax.get_lines()[0].get_xdata(), [0.001, 0.01, 0.1, 1.0])
    assert plots.png_bytes(plots.sensitivity_curves(table.iloc[:0], ["metric.mig"])).startswith(PNG)


def test_heatmap_and_traversal(trials):
    corr = metric_agreement(trials)
    assert plots.png_bytes(plots.correlation_heatmap(corr)).startswith(PNG)
    assert plots.png_bytes(plots.correlation_heatmap(pd.DataFrame())).startswith(PNG)
    grid = np.random.default_rng(0).uniform(size=(1, 131, 66))
    assert plots.png_bytes(plots.traversal_figure(grid, "t")).startswith(PNG)
    assert plots.png_bytes(plots.traversal_figure(grid.repeat(3, 0), "rgb")).startswith(PNG)
