"""Floor (untrained encoders) and ceiling (true factors) of the metrics, scored through the
trials' own sampler and metric code (lvae/metrics/reference.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.metrics import TinyDataset
from helpers.toy_data import register
from helpers.train import toy_config

from lvae.metrics.reference import (
    FactorCodes,
    canonical_settings,
    ceiling_scores,
    floor_scores,
    initial_model,
    settings_key,
)
from lvae.metrics.utils import sample_codes_and_factors

#: small but real: MIG, DCI (fast probe, one job) and modularity on 400 / 200 points
SMALL = {"metrics": ["mig", "dci", "modularity"], "num_train": 400, "num_test": 200,
         "dci_probe": "hgb", "seed": 3}


def test_ceiling_is_about_one_on_a_dataset_with_known_factors():
    # a constant first factor, as in dSprites
    scores = ceiling_scores(TinyDataset((1, 4, 5, 6)), SMALL, n_jobs=1)
    for key in ("mig", "dci.disentanglement", "dci.completeness", "modularity"):
        assert scores[key] > 0.95, (key, scores[key])
    assert scores["dci.informativeness_test"] == pytest.approx(1.0)


def test_ceiling_codes_are_the_factors_the_sampler_draws_for_a_model():
    ds = TinyDataset((1, 4, 5, 6))
    codes, factors = sample_codes_and_factors(FactorCodes(ds), lambda x: x, 300, seed=7)
    _, model_factors = sample_codes_and_factors(ds, lambda x: x[:, 0, 0, :2], 300, seed=7)
    assert codes.shape == (300, 3)  # one code per varying factor; the constant one is dropped
    np.testing.assert_array_equal(codes, factors)
    np.testing.assert_array_equal(factors, model_factors)


def test_floor_is_well_below_the_ceiling_and_repeatable():
    ds = TinyDataset((1, 4, 5, 6))
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    settings = {**SMALL, "metrics": ["mig", "dci"]}
    floor = floor_scores(ds, "conv", 4, settings, init_seeds=(0, 1), n_jobs=1)
    assert torch.rand(1) == before  # the caller's torch stream is untouched
    ceiling = ceiling_scores(ds, settings, n_jobs=1)
    assert sorted(floor) == [0, 1] and set(floor[0]) == set(ceiling)
    for scores in floor.values():
        assert scores["mig"] < ceiling["mig"] - 0.4
        assert scores["dci.disentanglement"] < ceiling["dci.disentanglement"] - 0.4
    assert floor[0] != floor[1]
    assert floor_scores(ds, "conv", 4, settings, init_seeds=(1,), n_jobs=1)[1] == floor[1]


def test_floor_starts_from_the_trials_initial_weights(tmp_path):
    from lvae.train import build_run

    register()
    run = build_run(toy_config(tmp_path, seed=5, device="cpu", channels_last=False))
    model = initial_model("conv", 1, 4, seed=5)
    trained_from, ours = run.model.state_dict(), model.state_dict()
    assert list(trained_from) == list(ours)
    for name, value in ours.items():
        assert torch.equal(trained_from[name].cpu(), value), name


def test_settings_are_canonical_so_they_can_key_a_cache():
    full = canonical_settings({"metrics": "mig,dci", "num_train": 3000.0, "num_test": 1500,
                               "dci_probe": "hgb", "n_jobs": 4})
    assert full == {"metrics": ["dci", "mig"], "num_train": 3000, "num_test": 1500, "seed": 0,
                    "representation": "mean", "dci_probe": "hgb", "num_bins": 20}
    assert "dci_probe" not in canonical_settings({**full, "metrics": ["mig"]})  # not MIG's setting
    same = {**full, "metrics": ["mig", "dci"], "n_jobs": 1}
    assert settings_key(same) == settings_key(full)
    assert settings_key({**full, "dci_probe": "gbt"}) != settings_key(full)
    assert settings_key({**full, "seed": 1}) != settings_key(full)


@pytest.mark.parametrize(("settings", "message"), [
    ({"metrics": ["mig"], "num_train": 10}, "lack"),
    ({"metrics": ["nope"], "num_train": 10, "num_test": 5}, "unknown metric"),
    ({"metrics": ["mig"], "num_train": 10, "num_test": 5, "bins": 3}, "unknown evaluation setting"),
    ({"metrics": ["mig"], "num_train": 0, "num_test": 5}, "num_train must be a positive integer"),
    ({"metrics": ["mig"], "num_train": 10, "num_test": 5, "representation": "mode"},
     "representation"),
])
def test_bad_settings_are_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        canonical_settings(settings)


def test_bad_floor_and_ceiling_requests_are_refused():
    ds = TinyDataset()
    with pytest.raises(ValueError, match="init_seeds"):
        floor_scores(ds, "conv", 4, SMALL, init_seeds=())
    with pytest.raises(ValueError, match="init_seeds"):
        floor_scores(ds, "conv", 4, SMALL, init_seeds=(-1,))
    with pytest.raises(KeyError, match="unknown architecture"):
        floor_scores(ds, "transformer", 4, SMALL, init_seeds=(0,))
    with pytest.raises(ValueError, match="latent_dim"):
        floor_scores(ds, "conv", 0, SMALL, init_seeds=(0,))
    with pytest.raises(ValueError, match="no factor with more than one class"):
        ceiling_scores(TinyDataset((1, 1)), SMALL)
