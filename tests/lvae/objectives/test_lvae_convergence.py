"""L-VAE's learned beta reaches its stationary point in the runs the sweeps make: the
trainer, its optimiser and the presets' own settings, on the procedural dSprites."""

from __future__ import annotations

import argparse
import math

import pytest

from lvae.config import TrainConfig
from lvae.train import train
from sweeps.presets import get_preset
from sweeps.tuner import train_settings


def _preset_config(preset_name: str, lam: float, out, data_root) -> TrainConfig:
    """What ``sweeps/run.py --preset NAME`` gives an L-VAE trial, minus the metrics."""
    args = argparse.Namespace(dataset="dsprites_procedural", data_root=str(data_root), steps=None)
    settings = {**train_settings(args, get_preset(preset_name)), "evaluate": [], "eval_every": 0}
    return TrainConfig(
        **settings, objective="lvae", objective_params={"lambda": lam}, seed=0, threads=1,
        out=str(out),
    )


def _final_log_error(config: TrainConfig) -> float:
    records: list[dict] = []
    train(config, hook=records.append)
    final = records[-1]
    return math.log(final["beta/effective"] / final["objective/beta_stationary"])


@pytest.mark.parametrize("lam", [0.1, 1.0])
def test_smoke_learned_beta_within_10_percent_of_stationary(lam, tmp_path, data_root):
    error = _final_log_error(_preset_config("smoke", lam, tmp_path / "run", data_root))
    assert abs(error) <= 0.1, f"ln beta_eff - ln beta_stationary = {error:.3f}"


@pytest.mark.slow
@pytest.mark.parametrize("lam", [0.1, 1.0])
def test_local_learned_beta_within_10_percent_of_stationary(lam, tmp_path, data_root):
    error = _final_log_error(_preset_config("local", lam, tmp_path / "run", data_root))
    assert abs(error) <= 0.1, f"ln beta_eff - ln beta_stationary = {error:.3f}"
