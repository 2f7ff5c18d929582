"""The dataset-driven metrics (FactorVAE, BetaVAE), the sampler and the metric registry,
on a tiny in-test dataset whose observations spell out their factors."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.metrics import FAST, TinyDataset, identity_encoder

from lvae.metrics import (
    METRICS,
    beta_vae_score,
    compute,
    compute_many,
    factor_vae_score,
    metric_names,
    namespaced,
    sample_codes_and_factors,
)


def random_encoder_factory(seed: int):
    rng = np.random.default_rng(seed)
    return lambda obs: rng.normal(size=(len(obs), 4))


class CountingEncoder:
    def __init__(self, inner):
        self.inner, self.sizes = inner, []

    def __call__(self, obs):
        self.sizes.append(len(obs))
        return self.inner(obs)


# ------------------------------------------------------------------- sampler
def test_sampler_drops_constant_factors_and_batches_encoding():
    ds = TinyDataset((1, 4, 5, 6))  # a dSprites-like constant first factor
    enc = CountingEncoder(lambda obs: obs[:, 0, 0, 1:4].astype(np.float64))
    codes, factors = sample_codes_and_factors(ds, enc, 2500, seed=0)
    assert factors.shape == (2500, 3) and codes.shape == (2500, 3)
    assert enc.sizes == [1000, 1000, 500]
    np.testing.assert_allclose(codes * [3, 4, 5], factors, atol=1e-5)
    assert factors.min(axis=0).tolist() == [0, 0, 0] and factors.max(axis=0).tolist() == [3, 4, 5]


def test_sampler_is_deterministic_per_seed():
    ds = TinyDataset()
    a = sample_codes_and_factors(ds, identity_encoder, 300, seed=1)
    b = sample_codes_and_factors(ds, identity_encoder, 300, seed=1)
    c = sample_codes_and_factors(ds, identity_encoder, 300, seed=2)
    assert np.array_equal(a[1], b[1]) and np.array_equal(a[0], b[0])
    assert not np.array_equal(a[1], c[1])


def test_sampler_bad_input():
    ds = TinyDataset()
    with pytest.raises(ValueError, match="num_points must be a positive integer"):
        sample_codes_and_factors(ds, identity_encoder, 0, seed=0)
    with pytest.raises(ValueError, match="seed must be"):
        sample_codes_and_factors(ds, identity_encoder, 10, seed=-3)
    with pytest.raises(ValueError, match="encode must return a 2-D array"):
        sample_codes_and_factors(ds, lambda obs: obs[:, 0, 0, 0], 10, seed=0)
    with pytest.raises(ValueError, match="codes returned by encode must be finite"):
        sample_codes_and_factors(ds, lambda obs: np.full((len(obs), 2), np.nan), 10, seed=0)


# ------------------------------------------------------------------ FactorVAE
def test_factor_vae_identity_scores_one():
    out = factor_vae_score(
        TinyDataset(), identity_encoder, seed=0, batch_size=16, num_train=150, num_eval=80,
        num_variance_estimate=400,
    )
    assert out == {"train_accuracy": 1.0, "eval_accuracy": 1.0, "num_active_dims": 3}


def test_factor_vae_random_encoder_near_chance():
    out = factor_vae_score(
        TinyDataset(), random_encoder_factory(0), seed=0, batch_size=16, num_train=300,
        num_eval=300, num_variance_estimate=400,
    )
    assert out["num_active_dims"] == 4
    assert out["eval_accuracy"] < 0.5  # chance is 1/3


def test_factor_vae_no_active_dims_scores_zero():
    out = factor_vae_score(
        TinyDataset(), lambda obs: np.zeros((len(obs), 3)), seed=0, batch_size=8, num_train=5,
        num_eval=5, num_variance_estimate=50,
    )
    assert out == {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}


def test_factor_vae_is_deterministic_and_independent_of_encode_batching():
    ds = TinyDataset()

    def mixed(obs):
        f = obs[:, 0, 0, :3].astype(np.float64)
        return np.stack([f[:, 0] + 0.8 * f[:, 1], f[:, 1] + 0.8 * f[:, 2], f[:, 2] + 0.8 * f[:, 0]],
                        axis=1)

    kw = dict(batch_size=8, num_train=100, num_eval=60, num_variance_estimate=200)
    a = factor_vae_score(ds, mixed, seed=4, **kw)
    assert a == factor_vae_score(ds, mixed, seed=4, **kw)
    assert a == factor_vae_score(ds, mixed, seed=4, encode_batch_size=8, **kw)


def test_factor_vae_bad_input():
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        factor_vae_score(TinyDataset(), identity_encoder, seed=0, batch_size=1)
    with pytest.raises(ValueError, match="prune_std"):
        factor_vae_score(TinyDataset(), identity_encoder, seed=0, prune_std=-1.0)
    with pytest.raises(ValueError, match="no factor with more than one class"):
        factor_vae_score(TinyDataset((1, 1)), identity_encoder, seed=0)


# ------------------------------------------------------------------- BetaVAE
def test_beta_vae_identity_scores_near_one():
    out = beta_vae_score(TinyDataset(), identity_encoder, seed=0, batch_size=16, num_train=200,
                         num_eval=100)
    assert out["train_accuracy"] > 0.95 and out["eval_accuracy"] > 0.95


def test_beta_vae_random_encoder_near_chance():
    out = beta_vae_score(
        TinyDataset(), random_encoder_factory(1), seed=0, batch_size=16, num_train=200, num_eval=200
    )
    assert out["eval_accuracy"] < 0.5


def test_beta_vae_deterministic_per_seed():
    ds = TinyDataset()
    enc = lambda obs: identity_encoder(obs) @ np.array(  # noqa: E731
        [[1.0, 0.5, 0.0, 0.0], [0.0, 1.0, 0.5, 0.0], [0.5, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]]
    )
    kw = dict(batch_size=4, num_train=60, num_eval=40)
    a = beta_vae_score(ds, enc, seed=2, **kw)
    assert a == beta_vae_score(ds, enc, seed=2, **kw)
    assert a == beta_vae_score(ds, enc, seed=2, encode_batch_size=8, **kw)


# ------------------------------------------------------------------ registry
EXPECTED_KEYS = {
    "active_units": {"active_units"},
    "mig": {"mig"},
    "dci": {"dci.disentanglement", "dci.completeness", "dci.informativeness_train",
            "dci.informativeness_test"},
    "sap": {"sap"},
    "modularity": {"modularity", "modularity.explicitness", "modularity.explicitness_train"},
    "factor_vae": {"factor_vae.train_accuracy", "factor_vae.eval_accuracy",
                   "factor_vae.num_active_dims"},
    "beta_vae": {"beta_vae.train_accuracy", "beta_vae.eval_accuracy"},
}


def test_registry_names():
    assert metric_names() == sorted(EXPECTED_KEYS) == sorted(METRICS)


def test_registry_declares_the_keys_each_metric_produces():
    """MetricSpec.keys is what a sweep checks --metric against before it starts; the keys
    computed (test_compute_many_equals_compute_per_metric) are EXPECTED_KEYS."""
    from lvae.metrics.registry import result_keys

    for name, keys in EXPECTED_KEYS.items():
        assert set(result_keys([name])) == keys and len(result_keys([name])) == len(keys), name


def test_compute_many_equals_compute_per_metric():
    ds = TinyDataset()
    together = compute_many(list(EXPECTED_KEYS), ds, identity_encoder, 3, 200, 100, options=FAST)
    assert set(together) == set().union(*EXPECTED_KEYS.values())
    for name in EXPECTED_KEYS:
        alone = namespaced(name,
                           compute(name, ds, identity_encoder, 3, 200, 100, **FAST.get(name, {})))
        assert alone == {k: together[k] for k in EXPECTED_KEYS[name]}
    assert together["mig"] > 0.9 and together["factor_vae.eval_accuracy"] == 1.0


def test_registry_same_seed_same_numbers_other_seed_other_sample():
    ds = TinyDataset()

    def mixed(obs):
        f = obs[:, 0, 0, :3].astype(np.float64)
        return np.stack([f[:, 0] + 0.5 * f[:, 1], f[:, 1] + 0.5 * f[:, 2], f[:, 2]], axis=1)

    a = compute("mig", ds, mixed, 5, 300, 100)
    assert a == compute("mig", ds, mixed, 5, 300, 100)
    assert a != compute("mig", ds, mixed, 6, 300, 100)


def test_registry_bad_input():
    ds = TinyDataset()
    with pytest.raises(ValueError, match="unknown metric 'irs'"):
        compute("irs", ds, identity_encoder, 0, 100, 50)
    with pytest.raises(ValueError, match="unknown option"):
        compute("mig", ds, identity_encoder, 0, 100, 50, probe="gbt")
    with pytest.raises(ValueError, match="num_test must be a positive integer"):
        compute("sap", ds, identity_encoder, 0, 100, 0)
    with pytest.raises(ValueError, match="options given for metric"):
        compute_many(["mig"], ds, identity_encoder, 0, 100, 50, options={"dci": {}})
