"""``--device`` as each trial applies it (sweeps/trainable.py's pick_device), without Ray."""

from __future__ import annotations

import logging

import pytest
import torch

from sweeps.cli import build_parser
from sweeps.trainable import DeviceUnavailableError, pick_device


@pytest.fixture()
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture()
def with_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)


def test_default_is_auto():
    assert build_parser().parse_args(["--space", "lvae_reg"]).device == "auto"


@pytest.mark.parametrize("requested", ["auto", "cpu"])
def test_trial_without_a_gpu_trains_on_cpu(with_cuda, requested):
    assert pick_device(0.0, requested) == "cpu"


def test_auto_uses_cuda_for_a_gpu_trial(with_cuda):
    assert pick_device(0.25, "auto") == "cuda" and pick_device(1, "cuda") == "cuda"


def test_cpu_trains_on_cpu_while_ray_schedules_by_gpu(with_cuda):
    assert pick_device(0.25, "cpu") == "cpu"


def test_auto_without_cuda_warns_loudly(no_cuda, capsys, caplog):
    with caplog.at_level(logging.WARNING, logger="sweeps.trainable"):
        assert pick_device(0.25, "auto") == "cpu"
    err = capsys.readouterr().err
    assert err.startswith("WARNING: ") and "CUDA is not available" in err
    assert "--device cpu" in err and "--device cuda" in err
    assert any("CUDA is not available" in r.getMessage() for r in caplog.records)


def test_cuda_without_cuda_fails_the_trial(no_cuda):
    with pytest.raises(DeviceUnavailableError, match="--device cuda: CUDA is not available"):
        pick_device(0.25, "cuda")
    assert issubclass(DeviceUnavailableError, ValueError)  # recorded, not retried
