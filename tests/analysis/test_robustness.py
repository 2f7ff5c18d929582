"""Robustness summaries on synthetic trial tables whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.analysis_fixtures import trial_table

from analysis import (
    cell_summary,
    sensitivity,
    sensitivity_trend,
    with_cells,
)
from analysis.stats.robustness import collapse_summary


def sweep(metric, seeds=(0, 1, 2, 3)) -> pd.DataFrame:
    rows = []
    for lam in (0.001, 0.01, 0.1, 1.0):
        rows += [{"objective": "lvae", "hp.lambda": lam, "seed": s,
                  "metric.m": metric("lvae", lam, s)}
                 for s in seeds]
    for beta in (1.0, 4.0, 16.0):
        rows += [{"objective": "beta_vae", "hp.beta": beta, "seed": s,
                  "metric.m": metric("beta_vae", beta, s)}
                 for s in seeds]
    return trial_table(rows)


def test_cell_labels_name_what_varies():
    df = with_cells(sweep(lambda o, h, s: 0.0))
    assert set(df["cell"]) == {"lvae "
                               "lambda=0.001", "lvae "
                                               "lambda=0.01", "lvae lambda=0.1", "lvae lambda=1",
                               "beta_vae beta=1", "beta_vae beta=4", "beta_vae beta=16"}
    df2 = with_cells(pd.concat([sweep(lambda o, h, s: 0.0),
                                sweep(lambda o, h, s: 0.0).assign(architecture="mlp")]))
    assert "lvae lambda=0.01 mlp" in set(df2["cell"])


def test_cell_summary_statistics_and_counts():
    df = trial_table([{"objective": "lvae", "hp.lambda": 0.1,
                       "seed": s, "metric.a": v, "metric.b": b}
                for s, v, b in [(0, 1.0, 1.0), (1, 2.0, np.nan), (2, 3.0, 3.0), (3, 10.0, np.nan)]]
               + [{"objective": "lvae", "hp.lambda": 0.1, "seed": 4,
                   "metric.a": 99.0, "metric.b": 99.0,
                   "status": "ERROR"}])
    out = cell_summary(df).set_index("metric")
    a = out.loc["metric.a"]
    assert a["median"] == 2.5 and a["min"] == 1.0 and a["max"] == 10.0
    assert a["q25"] == pytest.approx(1.75) and a["q75"] == pytest.approx(4.75)
    assert a["iqr"] == pytest.approx(3.0)
    assert a["n_seeds"] == 4  # the failed trial is not counted
    assert out.loc["metric.b", "n_seeds"] == 2 and out.loc["metric.b", "median"] == 2.0
    assert out.loc["metric.a", "cell"] == "lvae" and out.loc["metric.a", "hp.lambda"] == 0.1


def test_collapsed_trials_are_counted_per_cell_and_left_out():
    df = sweep(lambda o, h, s: float(s))
    df["collapsed"] = (df["objective"] == "lvae") & (df["hp.lambda"] == 0.1) & (df["seed"] >= 2)
    df.loc[df["collapsed"], "metric.m"] = 100.0  # what a collapsed code scores: noise
    out = cell_summary(df).set_index("cell")
    r = out.loc["lvae lambda=0.1"]
    assert r["n_collapsed"] == 2 and r["collapse_rate"] == 0.5 and r["n_finished"] == 4
    assert r["n_seeds"] == 2 and r["max"] == 1.0  # the collapsed seeds are not in the statistics
    assert out.loc["lvae lambda=1", "collapse_rate"] == 0.0
    assert (
        cell_summary(df, include_collapsed=True).set_index("cell").loc["lvae lambda=0.1", "max"]
        == 100.0
    )
    rates = collapse_summary(df).set_index("cell")["collapse_rate"]
    assert rates["lvae lambda=0.1"] == 0.5 and rates.drop("lvae lambda=0.1").eq(0).all()
    curve = sensitivity(df, "lvae", "hp.lambda", ["metric.m"]).set_index("value")
    assert curve.loc[0.1, "n_seeds"] == 2 and curve.loc[0.01, "n_seeds"] == 4


def test_metric_equal_to_lambda_has_spearman_one():
    df = sweep(lambda o, h, s: h + 0.0001 * s)
    trend = sensitivity_trend(df, "lvae", "hp.lambda").iloc[0]
    assert trend["spearman_rho"] == pytest.approx(1.0, abs=0.05)
    exact = sensitivity_trend(sweep(lambda o, h, s: h, seeds=(0,)), "lvae", "hp.lambda").iloc[0]
    assert exact["spearman_rho"] == pytest.approx(1.0)
    curve = sensitivity(df, "lvae", "hp.lambda")
    np.testing.assert_allclose(curve["value"], [0.001, 0.01, 0.1, 1.0])
    np.testing.assert_allclose(curve["median"], curve["value"] + 0.00015)
    np.testing.assert_allclose(curve["max"] - curve["min"], 0.0003)
    assert (curve["n_seeds"] == 4).all()
    assert (curve["series"] == "all").all()


def test_sensitivity_against_beta_and_absent_objective():
    df = sweep(lambda o, h, s: -h)
    trend = sensitivity_trend(df, "beta_vae", "hp.beta").iloc[0]
    assert trend["spearman_rho"] == pytest.approx(-1.0)
    assert sensitivity(df, "controlvae", "hp.beta").empty
    # a second architecture makes two separate curves
    two = pd.concat([df, df.assign(architecture="mlp")], ignore_index=True)
    assert set(sensitivity(two, "lvae", "hp.lambda")["series"]) == {"conv", "mlp"}


def test_unknown_metric_is_named():
    with pytest.raises(KeyError, match="metric.nope"):
        cell_summary(sweep(lambda o, h, s: 0.0), ["metric.nope"])
