"""beta on a log axis in TensorBoard: ``beta/log_effective`` is ln(beta/effective), and
L-VAE's stationary beta is logged on the same scale (``beta/log_stationary``), so a
runaway beta (lambda = 0 reaches 1e9) does not flatten every other run's curve."""

from __future__ import annotations

import math

import pytest
from helpers.train import read_tb, toy_config

from lvae.contract import (
    BETA_STATIONARY_TAG,
    BETA_TAG,
    LOG_BETA_STATIONARY_TAG,
    LOG_BETA_TAG,
)
from lvae.train import log_betas, train


def _series(acc, tag: str) -> dict[int, float]:
    return {e.step: e.value for e in acc.Scalars(tag)}


def test_log_tags_are_ln_of_the_linear_ones(tmp_path, toy_dataset):
    records = []
    result = train(toy_config(tmp_path, objective_params={"lambda": 0.1}), hook=records.append)
    acc = read_tb(tmp_path / "run" / "tb")
    beta, log_beta = _series(acc, BETA_TAG), _series(acc, LOG_BETA_TAG)
    stationary = _series(acc, BETA_STATIONARY_TAG)
    log_stationary = _series(acc, LOG_BETA_STATIONARY_TAG)
    assert list(log_beta) == list(beta) == [3, 6, 9, 12]
    assert list(log_stationary) == list(stationary) == [3, 6, 9, 12]
    # event files hold float32: compare at float32 precision
    for step in beta:
        assert log_beta[step] == pytest.approx(math.log(beta[step]), abs=1e-5)
        assert log_stationary[step] == pytest.approx(math.log(stationary[step]), abs=1e-5)
    # the hook (a sweep's Tune reports) and result.json see the same values, unrounded
    final = result["final"]
    assert final[LOG_BETA_TAG] == pytest.approx(math.log(final[BETA_TAG]), rel=1e-12)
    assert records[-1][LOG_BETA_STATIONARY_TAG] == math.log(records[-1][BETA_STATIONARY_TAG])


def test_fixed_beta_has_a_log_tag_and_no_stationary_one(tmp_path, toy_dataset):
    train(toy_config(tmp_path, objective="beta_vae", objective_params={"beta": 4.0}))
    acc = read_tb(tmp_path / "run" / "tb")
    tags = set(acc.Tags()["scalars"])
    assert LOG_BETA_STATIONARY_TAG not in tags and BETA_STATIONARY_TAG not in tags
    assert list(_series(acc, LOG_BETA_TAG).values()) == [pytest.approx(math.log(4.0))] * 4


def test_runaway_and_undefined_betas():
    # lambda = 0's runaway beta lands at about 21 on the log axis, beside ln 16 = 2.8
    assert log_betas({BETA_TAG: 1.3e9}) == {LOG_BETA_TAG: pytest.approx(20.99, abs=0.01)}
    # a value with no logarithm is left out rather than logged as NaN
    for bad in (0.0, -1.0, math.inf, math.nan):
        assert log_betas({BETA_TAG: bad, BETA_STATIONARY_TAG: bad}) == {}
    assert log_betas({"loss/total": 1.0}) == {}
