"""Bad input, as a new user makes it, against ``lvae.train`` (issue #12).

Each case checks the promise of ``lvae.cli`` (tests/helpers/bad_inputs.py says it once):
one ``error: ...`` line naming the input, exit 2, no traceback, nothing left behind.

The CLI runs in-process (``main(argv)``). Nothing here starts Ray.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.bad_inputs import refused, tree

from lvae.checkpoint import save_checkpoint
from lvae.config import TrainConfig
from lvae.train_cli import main as train_main


def train_argv(out: Path, *extra: str) -> list[str]:
    return ["--dataset", "toy_squares", "--steps", "2", "--batch-size", "4", "--out", str(out),
            *extra]


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (["--device", "bogus"], ["'bogus'", "--device"]),  # torch's parser error, unnamed
        (["--device", "cuda:x"], ["'cuda:x'"]),
        (["--device", "meta"], ["'meta'"]),  # a torch device type that cannot train
        (["--param", "lambda"], ["--param", "'lambda'"]),  # was SystemExit with exit code 1
        (["--steps", "0"], ["config.steps"]),
        (["--objective", "nope"], ["'nope'"]),
        (["--evaluate", "mig,nope"], ["'nope'"]),
        (["--threads", "0"], ["config.threads"]),
    ],
)
def test_train_bad_arguments(tmp_path, capsys, toy_dataset, extra, names):
    refused(capsys, train_main, train_argv(tmp_path / "run", *extra), tmp_path, *names)


def test_train_device_cuda_without_cuda(tmp_path, capsys, toy_dataset):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    argv = train_argv(tmp_path / "run", "--device", "cuda")
    refused(capsys, train_main, argv, tmp_path, "'cuda'", "CUDA")


def test_train_unknown_dataset(tmp_path, capsys):
    argv = ["--dataset", "mnist", "--out", str(tmp_path / "run")]
    refused(capsys, train_main, argv, tmp_path, "'mnist'", "valid names")


def test_train_out_is_a_file(tmp_path, capsys, toy_dataset):
    (tmp_path / "run").write_text("not a folder")
    refused(capsys, train_main, train_argv(tmp_path / "run"), tmp_path, tmp_path / "run", "--out")


def test_train_out_empty(tmp_path, capsys, toy_dataset, monkeypatch):
    monkeypatch.chdir(tmp_path)  # '' would have been the current folder
    argv = ["--dataset", "toy_squares", "--steps", "2", "--out", ""]
    refused(capsys, train_main, argv, tmp_path, "--out is empty")


def test_train_out_below_a_file(tmp_path, capsys, toy_dataset):
    (tmp_path / "file").write_text("x")
    refused(capsys, train_main, train_argv(tmp_path / "file" / "run"), tmp_path, tmp_path / "file")


@pytest.mark.parametrize("name", ["checkpoint.pt", "config.json", "result.json"])
def test_train_run_file_is_a_folder(tmp_path, capsys, toy_dataset, name):
    (tmp_path / "run" / name).mkdir(parents=True)
    refused(capsys, train_main, train_argv(tmp_path / "run"), tmp_path, tmp_path / "run" / name,
            "folder")


def test_train_data_root_is_a_file(tmp_path, capsys, toy_dataset):
    (tmp_path / "data").write_text("x")
    argv = train_argv(tmp_path / "run", "--data-root", str(tmp_path / "data"))
    refused(capsys, train_main, argv, tmp_path, tmp_path / "data", "--data-root")


def test_train_checkpoint_is_not_a_checkpoint(tmp_path, capsys, toy_dataset):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"\x00garbage" * 10)
    refused(capsys, train_main, train_argv(tmp_path / "run"), tmp_path,
            tmp_path / "run" / "checkpoint.pt")


def test_train_checkpoint_of_another_run(tmp_path, capsys, toy_dataset):
    other = TrainConfig(dataset="toy_squares", objective="vae", out=str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    checkpoint = tmp_path / "run" / "checkpoint.pt"
    save_checkpoint(checkpoint, {"config": other.to_dict(), "step": 1, "model": {}})
    line = refused(capsys, train_main, train_argv(tmp_path / "run"), tmp_path, checkpoint)
    assert "objective" in line


def test_train_truncated_result_json_of_a_finished_run(tmp_path, capsys, toy_dataset):
    """Rerunning a finished run reads its result.json: a truncated one is named, not a
    bare JSON parser message."""
    assert train_main(train_argv(tmp_path / "run", "--image-every", "0")) == 0
    capsys.readouterr()
    (tmp_path / "run" / "result.json").write_text('{"final": {"loss/to')
    refused(capsys, train_main, train_argv(tmp_path / "run", "--image-every", "0"), tmp_path,
            tmp_path / "run" / "result.json", "not valid JSON")


def test_train_ctrl_c_says_how_to_resume(tmp_path, capsys, toy_dataset, monkeypatch):
    import lvae.train

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(lvae.train, "train", interrupted)
    assert train_main(train_argv(tmp_path / "run")) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err and "resume" in err and str(tmp_path / "run") in err


def test_train_argparse_type_error_names_the_flag(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        train_main(["--steps", "many", "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "--steps" in err and "'many'" in err and "Traceback" not in err
    assert tree(tmp_path) == []

