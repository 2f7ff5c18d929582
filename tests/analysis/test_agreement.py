"""Spearman agreement between metrics."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.analysis_fixtures import trial_table

from analysis import metric_agreement


def test_monotone_relations_give_plus_and_minus_one():
    rng = np.random.default_rng(0)
    dci = rng.uniform(size=20)
    rows = [{"objective": "lvae", "seed": i, "metric.dci.disentanglement": d,
             "metric.mig": np.exp(3 * d),
             "metric.sap": rng.uniform(), "loss_recon": -d} for i, d in enumerate(dci)]
    corr = metric_agreement(trial_table(rows))
    assert list(corr.columns) == ["dci.disentanglement", "mig",
                                  "sap", "loss_recon"]  # absent ones left out
    assert corr.loc["dci.disentanglement", "mig"] == pytest.approx(1.0)
    assert corr.loc["dci.disentanglement", "loss_recon"] == pytest.approx(-1.0)
    assert abs(corr.loc["dci.disentanglement", "sap"]) < 0.6
    assert np.allclose(np.diag(corr), 1.0)


def test_failed_trials_and_too_few_pairs():
    rows = [{"objective": "lvae", "seed": i, "metric.mig": float(i),
             "metric.sap": float(i) if i < 2 else np.nan}
            for i in range(5)]
    rows.append({"objective": "lvae", "seed": 9, "metric.mig": -100.0,
                 "metric.sap": 100.0, "status": "ERROR"})
    corr = metric_agreement(trial_table(rows))
    assert np.isnan(corr.loc["mig", "sap"])  # only 2 common finished trials
    with pytest.raises(KeyError, match="metric.nope"):
        metric_agreement(trial_table(rows), ["metric.nope"])
