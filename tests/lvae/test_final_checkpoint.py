"""The final checkpoint without the optimiser's moments (``final_optimizer_state`` off, as
sweeps store their trials): a third of the size, the same weights, and a finished run
still trains further (Adam restarting, with a warning)."""

from __future__ import annotations

import logging

import torch
from helpers.train import toy_config

from lvae.checkpoint import load_checkpoint
from lvae.train import train


def test_final_checkpoint_drops_adam_and_keeps_the_same_weights(tmp_path, toy_dataset):
    train(toy_config(tmp_path / "full", steps=12))
    train(toy_config(tmp_path / "lean", steps=12, final_optimizer_state=False))
    full = load_checkpoint(tmp_path / "full" / "run" / "checkpoint.pt")
    lean = load_checkpoint(tmp_path / "lean" / "run" / "checkpoint.pt")
    assert "optimizer" in full and "optimizer" not in lean
    for key in ("model", "objective"):
        for name, tensor in full[key].items():
            assert torch.equal(tensor, lean[key][name]), f"{key}.{name}"
    full_bytes = (tmp_path / "full" / "run" / "checkpoint.pt").stat().st_size
    lean_bytes = (tmp_path / "lean" / "run" / "checkpoint.pt").stat().st_size
    assert lean_bytes < 0.45 * full_bytes  # Adam keeps two moments per weight


def test_checkpoints_before_the_last_step_keep_adam(tmp_path, toy_dataset):
    """A run stopped mid-way must resume exactly, so only the last checkpoint is lean."""
    kept = {}

    def hook(record):
        if record["checkpoint"]:
            kept[record["step"]] = "optimizer" in load_checkpoint(record["checkpoint"])

    train(toy_config(tmp_path, steps=12, checkpoint_every=6, final_optimizer_state=False),
          hook=hook)
    assert kept == {6: True, 12: False}


def test_a_finished_lean_run_trains_further_and_says_adam_restarts(tmp_path, toy_dataset,
                                                                     caplog):
    train(toy_config(tmp_path, steps=6, checkpoint_every=6, final_optimizer_state=False))
    with caplog.at_level(logging.WARNING, logger="lvae.train"):
        result = train(toy_config(tmp_path, steps=12, checkpoint_every=6))
    assert result["steps"] == 12
    assert "holds no optimiser state" in caplog.text and "restart" in caplog.text
    assert "optimizer" in load_checkpoint(tmp_path / "run" / "checkpoint.pt")
