"""The trainer: outputs, TensorBoard tags, exact resume, refusals and non-finite losses."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch
from helpers.train import read_tb, toy_config

from lvae.checkpoint import load_checkpoint
from lvae.config import TrainConfig
from lvae.train import ConfigMismatchError, NonFiniteLossError, train


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
    # TensorBoard shows one continuous curve: every logged step once, the resumed step too
    steps = [e.step for e in read_tb(tmp_path / "b" / "run" / "tb").Scalars("loss/total")]
    straight_steps = [e.step for e in read_tb(tmp_path / "a" / "run" / "tb").Scalars("loss/total")]
    assert steps == straight_steps == [3, 6, 9, 12]


def test_run_stopped_after_its_last_checkpoint_resumes_to_its_final_record(tmp_path, toy_dataset):
    """Stopped between the last checkpoint and result.json (say, while computing metrics): the
    resumed run reports the final losses and beta it had, not a bare step (a sweep's
    results.csv and the beta-matched twins read them)."""
    cfg = toy_config(tmp_path, steps=6, checkpoint_every=6)
    final = train(cfg)["final"]
    (tmp_path / "run" / "result.json").unlink()
    again = train(cfg)["final"]
    assert again == final and again["beta/effective"] > 0


def test_controller_state_resumes_exactly(tmp_path, toy_dataset):
    params = {"c_step_every": 2}
    for sub, steps in (("a", 12), ("b", 6), ("b", 12)):
        train(toy_config(tmp_path / sub, objective="controlvae", objective_params=params,
                         steps=steps))
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
    from lvae import device
    from lvae.train import build_run

    for capability, expected in (("AVX512", torch.channels_last),
                                 ("AVX2", torch.contiguous_format)):
        monkeypatch.setattr(device.torch.backends.cpu, "get_cpu_capability", lambda c=capability: c)
        assert build_run(toy_config(tmp_path)).memory_format == expected
    assert build_run(toy_config(tmp_path, channels_last=True)).memory_format == torch.channels_last


# --- accelerator readiness (issue #14) -------------------------------------------------

HOST_READS = ("item", "tolist", "cpu", "numpy", "__float__", "__int__", "__bool__", "__index__")
#: what Trainer.loop calls at log steps only (lvae/train/loop.py)
LOG_STEP_CALLS = ("read_window", "make_record", "checkpoint_state", "save_checkpoint",
                  "log_record", "log_images")


def watch_host_reads(monkeypatch) -> tuple[dict, list[tuple[str, int, str]]]:
    """Count host reads (HOST_READS) made by code outside torch inside Trainer.loop but
    outside its log-step calls (LOG_STEP_CALLS), while ``state["trainer"]`` is set: each as
    (name, the trainer's step, caller file:line)."""
    import os
    import sys

    from lvae.train import Trainer, loop

    torch_dir = os.path.dirname(torch.__file__)
    reads: list[tuple[str, int, str]] = []
    state = {"logging": False, "trainer": None, "in_loop": False}

    def counting(name):
        original = getattr(torch.Tensor, name)

        def wrapper(self, *args, **kwargs):
            caller = sys._getframe(1).f_code.co_filename
            trainer = state["trainer"]
            hot = state["in_loop"] and not state["logging"]
            if trainer is not None and hot and not caller.startswith(torch_dir):
                reads.append((name, trainer.run.step, f"{caller}:{sys._getframe(1).f_lineno}"))
            return original(self, *args, **kwargs)

        return wrapper

    def flagged(method, flag):
        def wrapper(self, *args, **kwargs):
            state[flag] = True
            try:
                return method(self, *args, **kwargs)
            finally:
                state[flag] = False

        return wrapper

    # what the loop calls at a log step (the window's read-back, the record, the
    # checkpoint, TensorBoard and the hook, images) may read; the rest of the loop may not
    for name in LOG_STEP_CALLS:
        monkeypatch.setattr(loop, name, flagged(getattr(loop, name), "logging"))
    monkeypatch.setattr(Trainer, "loop", flagged(Trainer.loop, "in_loop"))
    for name in HOST_READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    return state, reads


@pytest.mark.parametrize(
    "objective", ["lvae", "controlvae", "dynamicvae", "beta_vae", "sigma_vae", "beta_tcvae"]
)
@pytest.mark.parametrize("on_device", [False, True])
def test_no_host_reads_between_log_steps(tmp_path, toy_dataset, monkeypatch, objective, on_device):
    """On a GPU every read of a tensor's value on the host waits for the device: the hot
    loop makes none between log steps. Counts calls from code outside torch (torch's own
    Adam reads its step counter, which lives on the host, so no device sync)."""
    from lvae.train import Trainer

    cfg = toy_config(tmp_path, objective=objective, steps=12, log_every=6, checkpoint_every=12,
                     image_every=0, data_on_device=on_device)
    trainer = Trainer(cfg)
    state, reads = watch_host_reads(monkeypatch)
    state["trainer"] = trainer
    trainer.fit()
    state["trainer"] = None
    # L-VAE's warm start reads the first batch's R and K once, at step 0
    after_first = [r for r in reads if r[1] > 0]
    assert not after_first, after_first
    assert all(r[1] == 0 for r in reads) and len(reads) <= 4, reads


def test_batches_on_the_device_resume_exactly_and_refuse_a_host_checkpoint(tmp_path, toy_dataset):
    from lvae.data.sampling import DeviceSampler
    from lvae.train import build_run

    assert isinstance(build_run(toy_config(tmp_path, data_on_device=True)).sampler, DeviceSampler)
    train(toy_config(tmp_path / "a", steps=12, data_on_device=True))
    train(toy_config(tmp_path / "b", steps=6, data_on_device=True))
    train(toy_config(tmp_path / "b", steps=12, data_on_device=True))
    a = load_checkpoint(tmp_path / "a" / "run" / "checkpoint.pt")
    b = load_checkpoint(tmp_path / "b" / "run" / "checkpoint.pt")
    for name, tensor in a["model"].items():
        assert torch.equal(tensor, b["model"][name]), name
    assert "batch_generator" in a and "batch_rng" not in a
    with pytest.raises(ConfigMismatchError, match="on the device"):
        train(toy_config(tmp_path / "b", steps=18, data_on_device=False))


def test_resident_images_are_the_datasets_observations(toy_dataset):
    import numpy as np

    from lvae.data.sampling import resident_images

    images = resident_images(toy_dataset, torch.device("cpu"))
    index = np.array([0, 7, len(toy_dataset) - 1])
    assert torch.equal(images.take(torch.from_numpy(index)),
                       torch.from_numpy(toy_dataset.observations(index)))
    # does not fit
    assert resident_images(toy_dataset, torch.device("cpu"), limit_bytes=1000) is None


#: relative difference of the logged losses, bf16 autocast vs fp32 (measured over these
#: 30 steps: total and recon at most 0.4%, KL up to 8.7% for beta-VAE: the KL is 10-100x
#: smaller than R, and bf16's 8-bit mantissa shows in it first)
BF16_RTOL = {"loss/total": 0.01, "loss/recon": 0.01, "loss/kl": 0.15}


@pytest.mark.parametrize("objective", ["lvae", "beta_vae"])
def test_bf16_autocast_losses_agree_with_fp32(tmp_path, toy_dataset, objective):
    """bf16 autocast (forward in bf16, losses and Adam in fp32) over 30 steps: every
    logged loss within BF16_RTOL of the fp32 run's."""
    runs = {}
    for precision in ("fp32", "bf16"):
        records = []
        train(toy_config(tmp_path / precision, objective=objective, steps=30, log_every=5,
                         checkpoint_every=30, image_every=0, precision=precision),
              hook=records.append)
        runs[precision] = records
    for a, b in zip(runs["fp32"], runs["bf16"], strict=True):
        for key in ("loss/total", "loss/recon", "loss/kl"):
            assert b[key] == pytest.approx(a[key],
                                           rel=BF16_RTOL[key]), (a["step"], key, a[key], b[key])
    assert runs["fp32"][-1]["loss/total"] != runs["bf16"][-1]["loss/total"]  # bf16 did run


def test_compiled_forward_trains_with_the_same_checkpoint_keys(tmp_path, toy_dataset, monkeypatch):
    """compile != "none" compiles the forward function, not the modules: checkpoints keep
    eager keys and the losses match eager ones to float tolerance. (aot_eager here: the
    wiring and autograd through a compiled graph, without a C++ compiler's minute.)"""
    import lvae.train.step as step_module

    real_compile = torch.compile
    monkeypatch.setattr(step_module.torch, "compile",
                        lambda fn, mode=None: real_compile(fn, backend="aot_eager"))
    eager = train(toy_config(tmp_path / "eager", steps=6, checkpoint_every=6))
    compiled = train(toy_config(tmp_path / "compiled", steps=6, checkpoint_every=6, compile=
                                "default"))
    for key in ("loss/total", "loss/recon", "loss/kl"):
        assert compiled["final"][key] == pytest.approx(eager["final"][key], rel=1e-4)
    a = load_checkpoint(tmp_path / "eager" / "run" / "checkpoint.pt")["model"]
    b = load_checkpoint(tmp_path / "compiled" / "run" / "checkpoint.pt")["model"]
    assert a.keys() == b.keys()


def test_cuda_graphs_are_refused_without_cuda(tmp_path, toy_dataset):
    with pytest.raises(ValueError, match="reduce-overhead"):
        train(toy_config(tmp_path, compile="reduce-overhead"))
    with pytest.raises(ValueError, match="precision"):
        train(toy_config(tmp_path, precision="fp16"))
