"""Bad input, as a new user makes it, against ``lvae.evaluate`` (issue #12).

Each case checks the promise of ``lvae.cli`` (tests/helpers/bad_inputs.py says it once):
one ``error: ...`` line naming the input, exit 2, no traceback, nothing left behind.

The CLI runs in-process (``main(argv)``). Nothing here starts Ray or trains.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.bad_inputs import refused

from lvae.checkpoint import save_checkpoint
from lvae.config import TrainConfig
from lvae.evaluate import main as evaluate_main
from lvae.models import get_model


@pytest.fixture()
def run_folder(tmp_path, toy_dataset) -> Path:
    """A run folder as lvae.train leaves it (an untrained model is enough to be refused)."""
    run = tmp_path / "run"
    run.mkdir()
    config = TrainConfig(dataset="toy_squares", objective="vae", latent_dim=4, out=str(run))
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    model = get_model("conv", num_channels=1, latent_dim=4)
    state = {"config": config.to_dict(), "step": 2, "model": model.state_dict()}
    save_checkpoint(run / "checkpoint.pt", state)
    return run


def test_evaluate_missing_run_folder(tmp_path, capsys):
    refused(capsys, evaluate_main, [str(tmp_path / "nope")], tmp_path, tmp_path / "nope",
            "does not exist")


def test_evaluate_run_folder_is_a_file(tmp_path, capsys):
    (tmp_path / "run").write_text("x")
    refused(capsys, evaluate_main, [str(tmp_path / "run")], tmp_path, tmp_path / "run", "is a file")


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b'{"dataset": "toy_squares", "objec', "not valid JSON"),  # truncated
        (b"\x89PNG\r\n\x1a\n\x00\xff", "not text"),  # binary
        (b"[1, 2, 3]", "JSON list"),  # JSON, but not an object
        (b'{"dataset": "toy_squares", "colour": "red"}', "unknown field"),
    ],
)
def test_evaluate_bad_config_json(run_folder, capsys, content, found):
    (run_folder / "config.json").write_bytes(content)
    refused(capsys, evaluate_main, [str(run_folder)], run_folder.parent,
            run_folder / "config.json", found)


def test_evaluate_config_json_is_a_folder(run_folder, capsys):
    (run_folder / "config.json").unlink()
    (run_folder / "config.json").mkdir()
    refused(capsys, evaluate_main, [str(run_folder)], run_folder.parent,
            run_folder / "config.json", "folder")


def test_evaluate_checkpoint_is_a_folder(run_folder, capsys):
    (run_folder / "checkpoint.pt").unlink()
    (run_folder / "checkpoint.pt").mkdir()
    refused(capsys, evaluate_main, [str(run_folder)], run_folder.parent,
            run_folder / "checkpoint.pt", "folder")


def test_evaluate_checkpoint_is_garbage(run_folder, capsys):
    (run_folder / "checkpoint.pt").write_bytes(b"PK\x03\x04 not really a zip")
    refused(capsys, evaluate_main, [str(run_folder)], run_folder.parent,
            run_folder / "checkpoint.pt")


def test_evaluate_missing_checkpoint(run_folder, capsys):
    (run_folder / "checkpoint.pt").unlink()
    refused(capsys, evaluate_main, [str(run_folder)], run_folder.parent, run_folder, "checkpoint")


@pytest.mark.parametrize(
    ("extra", "name"),
    [(["--device", "gpu0"], "'gpu0'"), (["--metrics", "mig,dcii"], "'dcii'")],
)
def test_evaluate_bad_arguments(run_folder, capsys, extra, name):
    refused(capsys, evaluate_main, [str(run_folder), *extra], run_folder.parent, name)

