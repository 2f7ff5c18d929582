"""The trainer's command line (lvae/train_cli.py): help derived from the registries, and
``python -m lvae.train`` still the entry point."""

from __future__ import annotations

import os
import subprocess
import sys

from lvae.models import MODELS
from lvae.objectives import OBJECTIVES
from lvae.objectives.vae import VAE


def test_python_m_lvae_train_help_lists_every_objective_and_architecture() -> None:
    env = {**os.environ, "COLUMNS": "400"}  # no wrapping inside a line of names
    out = subprocess.run([sys.executable, "-m", "lvae.train", "--help"], capture_output=True,
                         text=True, check=True, env=env).stdout
    for name in [*OBJECTIVES, *MODELS]:
        assert name in out, name
    assert "beta_tcvae" in out


def test_a_newly_registered_objective_appears_without_a_cli_edit(monkeypatch) -> None:
    from lvae.train_cli import build_parser

    class Fake(VAE):
        name = "fake_objective"
        defaults = {"strength": 2.5}

    monkeypatch.setitem(OBJECTIVES, Fake.name, Fake)
    monkeypatch.setitem(MODELS, "fake_architecture", MODELS["mlp"])
    text = " ".join(build_parser().format_help().split())
    assert "fake_objective" in text and "fake_architecture" in text
    assert "fake_objective: strength=2.5" in text  # the epilog lists its parameters

