"""The trainer: outputs, TensorBoard tags, exact resume, refusals and non-finite losses."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from lvae.checkpoint import load_checkpoint
from lvae.config import TrainConfig
from lvae.train import ConfigMismatchError, NonFiniteLossError, train


def toy_config(tmp_path, **overrides) -> TrainConfig:
    base = dict(
        dataset="toy_squares",
        objective="lvae",
        architecture="conv",
        steps=12,
        batch_size=16,
        lr=1e-3,
        log_every=3,
        checkpoint_every=6,
        image_every=6,
        latent_dim=4,
        threads=1,
        out=str(tmp_path / "run"),
    )
    base.update(overrides)
    return TrainConfig(**base)


def read_tb(path):
    acc = EventAccumulator(str(path), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_outputs_and_tensorboard_tags(tmp_path, toy_dataset):
    records = []
    cfg = toy_config(tmp_path)
    result = train(cfg, hook=records.append)
    out = tmp_path / "run"
    assert {"config.json", "checkpoint.pt", "result.json", "tb"} <= {p.name for p in out.iterdir()}
    saved = json.loads((out / "result.json").read_text())
    assert saved["steps"] == 12 and saved["steps_per_s"] > 0 and saved["wall_time_s"] > 0
    assert saved["config"] == cfg.to_dict()
    assert set(saved["final"]) >= {"loss/total", "loss/recon", "loss/kl", "beta/effective"}
    assert result["final"]["beta/effective"] == saved["final"]["beta/effective"]
    # the hook saw every log step, with checkpoints flagged at checkpoint steps
    assert [r["step"] for r in records] == [3, 6, 9, 12]
    assert [bool(r["checkpoint"]) for r in records] == [False, True, False, True]

    acc = read_tb(out / "tb")
    tags = set(acc.Tags()["scalars"])
    expected = {"loss/total", "loss/recon", "loss/kl", "beta/effective"}
    expected |= {f"objective/{k}" for k in ("w_recon", "w_kl", "s_recon", "s_kl", "reg")}
    expected |= {f"objective/{k}" for k in ("beta_stationary", "recon_smoothed", "kl_smoothed")}
    expected |= {f"kl/dim_{i:02d}" for i in range(4)}
    assert expected <= tags, expected - tags
    assert [e.step for e in acc.Scalars("beta/effective")] == [3, 6, 9, 12]
    assert {"images/reconstructions", "images/traversals"} <= set(acc.Tags()["images"])


def test_logged_beta_eff_is_ratio_of_learned_weights(tmp_path, toy_dataset):
    cfg = toy_config(tmp_path, steps=6, checkpoint_every=6)
    result = train(cfg)
    state = load_checkpoint(tmp_path / "run" / "checkpoint.pt")["objective"]
    w_r, w_k = math.exp(-float(state["s_recon"])), math.exp(-float(state["s_kl"]))
    # the logged value is computed in the step's forward pass, before the final update
    assert result["final"]["beta/effective"] == pytest.approx(w_k / w_r, rel=5e-3)
    assert float(state["s_recon"]) != 0.0 and float(state["s_kl"]) != 0.0  # the weights moved


def test_resume_matches_uninterrupted_run(tmp_path, toy_dataset):
    straight = toy_config(tmp_path / "a", steps=12)
    train(straight)
    first = toy_config(tmp_path / "b", steps=6)
    train(first)
    resumed = toy_config(tmp_path / "b", steps=12)
    train(resumed)
    a = load_checkpoint(tmp_path / "a" / "run" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "b" / "run" / "checkpoint.pt")
    assert a["step"] == b["step"] == 12
    for key in ("model", "objective"):
        for name, tensor in a[key].items():
            assert torch.equal(tensor, b[key][name]), f"{key}.{name} differs after resume"
    # TensorBoard shows one continuous curve (no duplicated steps)
    steps = [e.step for e in read_tb(tmp_path / "b" / "run" / "tb").Scalars("loss/total")]
    assert steps == sorted(set(steps))


def test_controller_state_resumes_exactly(tmp_path, toy_dataset):
    params = {"c_step_every": 2}
    for sub, steps in (("a", 12), ("b", 6), ("b", 12)):
        train(toy_config(tmp_path / sub, objective="controlvae", objective_params=params, steps=steps))
    a = load_checkpoint(tmp_path / "a" / "run" / "checkpoint.pt")["objective"]
    b = load_checkpoint(tmp_path / "b" / "run" / "checkpoint.pt")["objective"]
    assert a.keys() == b.keys() and len(a) > 0
    for name in a:
        assert torch.equal(a[name], b[name]), name


def test_checkpoint_of_another_run_is_refused(tmp_path, toy_dataset):
    train(toy_config(tmp_path, steps=3, checkpoint_every=3))
    with pytest.raises(ConfigMismatchError, match="objective"):
        train(toy_config(tmp_path, steps=6, objective="beta_vae"))
    with pytest.raises(ConfigMismatchError, match="seed"):
        train(toy_config(tmp_path, steps=6, seed=5))


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"steps": 0}, "steps"),
        ({"latent_dim": 0}, "latent_dim"),
        ({"lr": 0.0}, "lr"),
        ({"batch_size": 10_000}, "batch_size"),
        ({"objective": "beta_vae", "objective_params": {"beta": 0}}, "beta"),
        ({"objective": "beta_vae", "objective_params": {"beta": -1.0}}, "beta"),
        ({"objective_params": {"lambda": -0.5}}, "lambda"),
        ({"objective_params": {"lamda": 0.5}}, "lambda"),  # typo: valid names are listed
    ],
)
def test_invalid_numbers_rejected_before_training(tmp_path, toy_dataset, overrides, field):
    with pytest.raises(ValueError, match=field):
        train(toy_config(tmp_path, **overrides))
    assert not (tmp_path / "run").exists()  # nothing started


@pytest.mark.parametrize(
    ("overrides", "listed"),
    [
        ({"architecture": "resnet"}, "conv"),
        ({"objective": "wae"}, "lvae"),
        ({"dataset": "mnist"}, "dsprites_procedural"),
    ],
)
def test_unknown_names_list_valid_ones(tmp_path, toy_dataset, overrides, listed):
    with pytest.raises(KeyError, match=listed):
        train(toy_config(tmp_path, **overrides))


def test_non_finite_loss_names_step_and_term_and_keeps_checkpoint(tmp_path, toy_dataset):
    cfg = toy_config(tmp_path, steps=12, log_every=1, checkpoint_every=4)
    ckpt = tmp_path / "run" / "checkpoint.pt"
    snapshot = {}

    def poison(record):
        if record["step"] == 4:
            snapshot["bytes"] = ckpt.read_bytes()
        if record["step"] == 5:  # corrupt the decoder: the next reconstruction is NaN
            model = trainer_ref["trainer"].run.model
            with torch.no_grad():
                list(model.parameters())[-1].fill_(float("nan"))

    from lvae.train import Trainer

    trainer_ref = {"trainer": Trainer(cfg, hook=poison)}
    with pytest.raises(NonFiniteLossError, match=r"step 6: loss/recon") as err:
        trainer_ref["trainer"].fit()
    assert str(tmp_path / "run") in str(err.value)
    assert ckpt.read_bytes() == snapshot["bytes"]  # the last good checkpoint is intact
    assert load_checkpoint(ckpt)["step"] == 4


def test_cli_help_lists_every_config_field():
    out = subprocess.run(
        [sys.executable, "-m", "lvae.train", "--help"], capture_output=True, text=True, check=True
    ).stdout
    import dataclasses

    for f in dataclasses.fields(TrainConfig):
        flag = "--param" if f.name == "objective_params" else "--" + f.name.replace("_", "-")
        assert flag in out, flag


def test_cli_reports_bad_input_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "lvae.train", "--objective", "beta_vae", "--param", "beta=-2",
         "--out", str(tmp_path / "x")],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert "objective_params.beta" in proc.stderr and "Traceback" not in proc.stderr


def test_objective_lr_moves_the_learned_weights_faster(tmp_path, toy_dataset):
    moved = {}
    for name, objective_lr in (("shared", None), ("fast", 0.05)):
        config = toy_config(
            tmp_path / name, steps=6, checkpoint_every=6, objective_lr=objective_lr,
            objective_params={"warm_start": False},  # start at s = 0 to measure the travel
        )
        train(config)
        state = load_checkpoint(tmp_path / name / "run" / "checkpoint.pt")
        moved[name] = abs(float(state["objective"]["s_recon"]))
        groups = state["optimizer"]["param_groups"]
        assert [g["lr"] for g in groups] == [1e-3, objective_lr or 1e-3]
        # the loss weights' own Adam memory; the network keeps Adam's defaults
        assert [tuple(g["betas"]) for g in groups] == [(0.9, 0.999), tuple(config.objective_betas)]
    # Adam moves a parameter by about lr per step: 6 steps at 1e-3 vs at 5e-2
    assert moved["shared"] <= 6 * 1e-3 * 1.1 < 0.05 < moved["fast"]


# --- metrics along training ----------------------------------------------------------


def test_metrics_along_training_are_logged_and_do_not_change_training(tmp_path, toy_dataset):
    plain = train(toy_config(tmp_path / "plain", steps=12))
    tracked_cfg = toy_config(
        tmp_path / "tracked", steps=12, eval_every=4, track_num_train=200, track_num_test=100
    )
    tracked = train(tracked_cfg)
    # the same training: every logged loss and the final weights are identical
    for key in ("loss/total", "loss/recon", "loss/kl", "beta/effective"):
        assert tracked["final"][key] == plain["final"][key]
    a = load_checkpoint(tmp_path / "plain" / "run" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "tracked" / "run" / "checkpoint.pt")["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    acc = read_tb(tmp_path / "tracked" / "run" / "tb")
    tags = set(acc.Tags()["scalars"])
    assert {"metric/mig", "metric/dci.disentanglement", "metric/dci.completeness"} <= tags
    assert [e.step for e in acc.Scalars("metric/mig")] == [4, 8, 12]
    assert all(0.0 <= e.value <= 1.0 for e in acc.Scalars("metric/dci.disentanglement"))
    # its cost is measured and kept out of the training speed
    assert tracked["track_time_s"] > 0 and len(acc.Scalars("perf/track_seconds")) == 3
    assert "metric/mig" not in set(read_tb(tmp_path / "plain" / "run" / "tb").Tags()["scalars"])


def test_channels_last_default_follows_the_cpu(tmp_path, toy_dataset, monkeypatch):
    from lvae import cpu
    from lvae.train import build_run

    for capability, expected in (("AVX512", torch.channels_last), ("AVX2", torch.contiguous_format)):
        monkeypatch.setattr(cpu.torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert build_run(toy_config(tmp_path)).memory_format == expected
    assert build_run(toy_config(tmp_path, channels_last=True)).memory_format == torch.channels_last
