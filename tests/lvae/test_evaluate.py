"""``lvae.evaluate``: every metric on a short trained L-VAE run, the CLI, and refusals."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from lvae.config import TrainConfig
from lvae.evaluate import evaluate_run, load_run, make_encoder
from lvae.train import train

ALL_METRICS = ["mig", "dci", "sap", "modularity", "factor_vae", "beta_vae"]
SMALL = dict(num_train=300, num_test=150)


@pytest.fixture(scope="module")
def lvae_run(tmp_path_factory, data_root):
    out = tmp_path_factory.mktemp("evaluate") / "run"
    train(
        TrainConfig(
            dataset="dsprites_procedural", data_root=str(data_root), objective="lvae", steps=30,
            batch_size=32, lr=1e-3, log_every=10, checkpoint_every=30, image_every=0, threads=1,
                    out=str(out),
        )
    )
    return out


def test_every_metric_is_finite_and_in_unit_interval(lvae_run):
    values = evaluate_run(
        lvae_run, ALL_METRICS, seed=3, dci_probe="hgb", **SMALL
    )
    assert {"mig", "dci.disentanglement", "dci.completeness", "dci.informativeness_test", "sap",
            "modularity", "modularity.explicitness", "factor_vae.eval_accuracy",
            "beta_vae.eval_accuracy"} <= set(values)
    for key, value in values.items():
        assert math.isfinite(value), key
        if key != "factor_vae.num_active_dims":
            assert 0.0 <= value <= 1.0, (key, value)
    assert 0 <= values["factor_vae.num_active_dims"] <= 10


def test_same_seed_same_numbers_other_seed_other_sample(lvae_run):
    a = evaluate_run(lvae_run, ["mig", "sap"], seed=1, **SMALL)
    b = evaluate_run(lvae_run, ["mig", "sap"], seed=1, **SMALL)
    c = evaluate_run(lvae_run, ["mig", "sap"], seed=2, **SMALL)
    assert a == b and a != c


def test_sampled_codes_differ_from_means_and_are_seeded(lvae_run):
    import numpy as np

    loaded = load_run(lvae_run)
    x = loaded.dataset.random_batch(50, np.random.default_rng(0))
    mean = make_encoder(loaded.model, "mean")(x)
    s1 = make_encoder(loaded.model, "sampled", seed=4)(x)
    s2 = make_encoder(loaded.model, "sampled", seed=4)(x)
    assert mean.shape == (50, 10) and np.array_equal(s1, s2) and not np.allclose(s1, mean)


def test_cli_writes_metrics_json_and_prints_table(lvae_run):
    proc = subprocess.run(
        [sys.executable, "-m", "lvae.evaluate", str(lvae_run),
         "--metrics", "mig,dci", "--num-train", "300",
         "--num-test", "150", "--seed", "5", "--dci-probe", "hgb"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stderr
    saved = json.loads((lvae_run / "metrics.json").read_text())
    assert saved["seed"] == 5 and saved["num_train"] == 300 and saved["num_test"] == 150
    assert set(saved["metrics"]) >= {"mig", "dci.disentanglement", "dci.completeness"}
    assert "dci.disentanglement" in proc.stdout and "metrics.json" in proc.stdout
    assert not list(lvae_run.glob(".metrics.json.tmp*"))


def test_folder_without_checkpoint_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TrainConfig(out=str(tmp_path)).to_dict()))
    proc = subprocess.run([sys.executable, "-m", "lvae.evaluate", str(tmp_path)],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "no checkpoint" in proc.stderr
    assert not (tmp_path / "metrics.json").exists()


def test_checkpoint_not_matching_config_is_refused(lvae_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(lvae_run, copy)
    config = json.loads((copy / "config.json").read_text())
    config["latent_dim"] = 6
    (copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="latent_dim"):
        evaluate_run(copy, ["mig"], **SMALL)


def test_unknown_metric_lists_valid_ones(lvae_run):
    with pytest.raises(ValueError, match="valid metrics"):
        evaluate_run(lvae_run, ["mig", "irs"], **SMALL)


def test_trainer_runs_metrics_at_the_end(tmp_path, data_root):
    out = tmp_path / "run"
    result = train(
        TrainConfig(
            dataset="dsprites_procedural", data_root=str(data_root), objective="beta_vae",
            objective_params={"beta": 4.0}, steps=4, batch_size=16, log_every=2, checkpoint_every=4,
            image_every=0, threads=1, out=str(out), evaluate=["mig", "dci"], eval_num_train=200,
            eval_num_test=100, eval_options={"dci_probe": "hgb"},
        )
    )
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["metrics"] == result["metrics"] and saved["step"] == 4
    assert json.loads((out / "result.json").read_text())["metrics"] == result["metrics"]
