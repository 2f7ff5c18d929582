"""Encode-once re-scoring gives evaluate_run's numbers, computing only what a setting changes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from helpers.analysis_fixtures import ToyDataset, ToyModel

from analysis.studies.rescoring import affected, rescore
from analysis.studies.stability import settings_for
from lvae.evaluate import evaluate_loaded

BASE = {"metrics": ("mig", "dci"), "num_train": 150, "num_test": 60, "seed": 0,
        "representation": "mean", "num_bins": 20, "dci_probe": "hgb"}
VARIATIONS = {"reference": {}, "bins10": {"num_bins": 10},
              "samples_half": {"num_train": 75, "num_test": 30},
              "sampled_codes": {"representation": "sampled"}, "eval_seed1": {"seed": 1},
              "logistic": {"dci_probe": "logistic"}}


def load_toy(run_dir: str) -> SimpleNamespace:
    return SimpleNamespace(model=ToyModel(int(run_dir)).eval(), dataset=ToyDataset(), step=0)


def test_a_setting_recomputes_only_the_metrics_it_changes():
    s = settings_for(VARIATIONS, base=BASE)
    assert affected(s["reference"], s["reference"]) == ["mig", "dci"]
    assert affected(s["bins10"], s["reference"]) == ["mig"]
    assert affected(s["logistic"], s["reference"]) == ["dci"]
    for name in ("samples_half", "sampled_codes", "eval_seed1"):
        assert affected(s[name], s["reference"]) == ["mig", "dci"], name
    assert affected({**s["reference"], "n_jobs": 4}, s["reference"]) == []


@pytest.fixture(scope="module")
def table():
    return rescore({"a": "0", "b": "1"}, settings_for(VARIATIONS, base=BASE), load_run=load_toy,
                   n_jobs=1)


def test_scores_equal_evaluate_runs_for_every_setting(table):
    settings = settings_for(VARIATIONS, base=BASE)
    for trial, run in (("a", "0"), ("b", "1")):
        loaded = load_toy(run)
        for name, s in settings.items():
            expected = evaluate_loaded(None, loaded.model, loaded.dataset, s["metrics"],
                                       num_train=s["num_train"],
                                       num_test=s["num_test"], seed=s["seed"],
                                       representation=s["representation"],
                                       write=False, num_bins=s["num_bins"],
                                       dci_probe=s["dci_probe"])
            got = table[(table["trial"] == trial) & (table["setting"] == name)].set_index("metric")[
                "value"
            ]
            wanted = [k for k in expected if k.split(".")[0] in affected(s, settings["reference"])]
            assert sorted(got.index) == sorted(wanted), (trial, name)
            for key in wanted:
                assert got[key] == pytest.approx(expected[key], abs=1e-12), (trial, name, key)
    # the settings really differ: sampled codes and another sample move the scores
    ref = table[(table["trial"] == "a") & (table["setting"] == "reference")].set_index("metric")[
        "value"
    ]
    for name in ("sampled_codes", "eval_seed1"):
        other = table[(table["trial"] == "a") & (table["setting"] == name)].set_index("metric")[
            "value"
        ]
        assert not np.allclose(other[ref.index], ref), name


def test_parallel_fits_give_the_same_numbers(table):
    parallel = rescore(
        {"a": "0", "b": "1"}, settings_for(VARIATIONS, base=BASE), load_run=load_toy, n_jobs=2
    )
    merged = table.merge(parallel, on=["trial", "setting", "metric"], suffixes=("", "_par"))
    assert len(merged) == len(table) == len(parallel)
    np.testing.assert_array_equal(merged["value"], merged["value_par"])


def test_refuses_what_it_cannot_score_from_codes():
    with pytest.raises(ValueError, match="reference"):
        rescore({"a": "0"}, {"other": BASE}, load_run=load_toy)
    with pytest.raises(ValueError, match="factor_vae"):
        rescore(
            {"a": "0"}, {"reference": {**BASE, "metrics": ("mig", "factor_vae")}}, load_run=load_toy
        )
