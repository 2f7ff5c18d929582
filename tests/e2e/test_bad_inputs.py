"""Bad input, as a new user makes it, against every entry point (issue #12).

Each case checks the promise of ``lvae.cli``: a CLI prints one ``error: ...`` line that
names the input, exits with code 2, prints no traceback and leaves no file or folder
behind; an API raises a typed exception (ValueError and its subclasses, KeyError) whose
message names the argument. One case per class of mistake, not per example.

The CLIs run in-process (``main(argv)``); three ``sweeps/run.py`` cases run it as a
subprocess, as a user does. Nothing here starts Ray or trains.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.analysis_fixtures import TrialSpec, write_experiment
from helpers.sweep_helpers import run_sweep

from analysis.report import main as report_main
from lvae.checkpoint import save_checkpoint
from lvae.config import TrainConfig
from lvae.data import DatasetError, get_dataset
from lvae.evaluate import main as evaluate_main
from lvae.metrics import dci, disentanglement, mig, modularity_explicitness, sap
from lvae.metrics.modularity import modularity_from_mi
from lvae.models import get_model
from lvae.train_cli import main as train_main
from sweeps.run import main as sweep_main

RAGGED = [[0.1, 0.2], [0.3]]


# ------------------------------------------------------------------ helpers
def tree(root: Path) -> list[str]:
    """Every path under root: what a refused command must leave unchanged."""
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def assert_refused(capsys, rc: int, root: Path, before: list[str], *names: object) -> str:
    """Exit code 2, one 'error:' line naming every ``names``, no traceback, nothing written."""
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in out + err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for name in names:
        assert str(name) in lines[0], (name, lines[0])
    assert tree(root) == before, "files were written or removed"
    return lines[0]


def refused(capsys, main, argv: list[str], root: Path, *names: object) -> str:
    before = tree(root)
    return assert_refused(capsys, main(argv), root, before, *names)


# ------------------------------------------------------------- lvae.train
def train_argv(out: Path, *extra: str) -> list[str]:
    return ["--dataset", "toy_squares", "--steps", "2", "--batch-size", "4", "--out", str(out), *extra]


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
    refused(capsys, train_main, train_argv(tmp_path / "run", "--device", "cuda"), tmp_path, "'cuda'", "CUDA")


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
    refused(capsys, train_main, train_argv(tmp_path / "run"), tmp_path, tmp_path / "run" / name, "folder")


def test_train_data_root_is_a_file(tmp_path, capsys, toy_dataset):
    (tmp_path / "data").write_text("x")
    argv = train_argv(tmp_path / "run", "--data-root", str(tmp_path / "data"))
    refused(capsys, train_main, argv, tmp_path, tmp_path / "data", "--data-root")


def test_train_checkpoint_is_not_a_checkpoint(tmp_path, capsys, toy_dataset):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"\x00garbage" * 10)
    refused(capsys, train_main, train_argv(tmp_path / "run"), tmp_path, tmp_path / "run" / "checkpoint.pt")


def test_train_checkpoint_of_another_run(tmp_path, capsys, toy_dataset):
    other = TrainConfig(dataset="toy_squares", objective="vae", out=str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    save_checkpoint(tmp_path / "run" / "checkpoint.pt", {"config": other.to_dict(), "step": 1, "model": {}})
    line = refused(capsys, train_main, train_argv(tmp_path / "run"), tmp_path, tmp_path / "run" / "checkpoint.pt")
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


# ----------------------------------------------------------- lvae.evaluate
@pytest.fixture()
def run_folder(tmp_path, toy_dataset) -> Path:
    """A run folder as lvae.train leaves it (an untrained model is enough to be refused)."""
    run = tmp_path / "run"
    run.mkdir()
    config = TrainConfig(dataset="toy_squares", objective="vae", latent_dim=4, out=str(run))
    (run / "config.json").write_text(json.dumps(config.to_dict()))
    model = get_model("conv", num_channels=1, latent_dim=4)
    save_checkpoint(run / "checkpoint.pt", {"config": config.to_dict(), "step": 2, "model": model.state_dict()})
    return run


def test_evaluate_missing_run_folder(tmp_path, capsys):
    refused(capsys, evaluate_main, [str(tmp_path / "nope")], tmp_path, tmp_path / "nope", "does not exist")


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
    refused(capsys, evaluate_main, [str(run_folder)], run_folder.parent, run_folder / "config.json", found)


def test_evaluate_config_json_is_a_folder(run_folder, capsys):
    (run_folder / "config.json").unlink()
    (run_folder / "config.json").mkdir()
    refused(capsys, evaluate_main, [str(run_folder)], run_folder.parent, run_folder / "config.json", "folder")


def test_evaluate_checkpoint_is_a_folder(run_folder, capsys):
    (run_folder / "checkpoint.pt").unlink()
    (run_folder / "checkpoint.pt").mkdir()
    refused(capsys, evaluate_main, [str(run_folder)], run_folder.parent, run_folder / "checkpoint.pt", "folder")


def test_evaluate_checkpoint_is_garbage(run_folder, capsys):
    (run_folder / "checkpoint.pt").write_bytes(b"PK\x03\x04 not really a zip")
    refused(capsys, evaluate_main, [str(run_folder)], run_folder.parent, run_folder / "checkpoint.pt")


def test_evaluate_missing_checkpoint(run_folder, capsys):
    (run_folder / "checkpoint.pt").unlink()
    refused(capsys, evaluate_main, [str(run_folder)], run_folder.parent, run_folder, "checkpoint")


@pytest.mark.parametrize(("extra", "name"), [(["--device", "gpu0"], "'gpu0'"), (["--metrics", "mig,dcii"], "'dcii'")])
def test_evaluate_bad_arguments(run_folder, capsys, extra, name):
    refused(capsys, evaluate_main, [str(run_folder), *extra], run_folder.parent, name)


# ---------------------------------------------------------- sweeps/run.py
def sweep_argv(storage: Path, *extra: str) -> list[str]:
    return ["--space", "lvae_reg", "--preset", "smoke", "--storage", str(storage), *extra]


@pytest.mark.parametrize(
    ("storage", "found"),
    [
        ("foo://bucket/x", "foo://bucket/x"),  # unknown scheme: was a raw pyarrow error
        ("s3://", "names no bucket"),  # was turned into a local folder 's3:'
        ("s3:///lvae", "Missing bucket"),
        ("gs://", "names no bucket"),
        ("s3:/bucket/lvae", "lacks '//'"),  # a typo that would have made a local folder
        ("file://", "file://"),
    ],
)
def test_sweep_bad_storage_uri(tmp_path, capsys, monkeypatch, storage, found):
    monkeypatch.chdir(tmp_path)  # a URI mistaken for a folder would land here
    refused(capsys, sweep_main, sweep_argv(storage), tmp_path, storage, found)


def test_sweep_storage_is_a_file(tmp_path, capsys):
    (tmp_path / "results").write_text("x")
    refused(capsys, sweep_main, sweep_argv(tmp_path / "results"), tmp_path, tmp_path / "results", "--storage")


def test_sweep_experiment_folder_is_a_file(tmp_path, capsys):
    (tmp_path / "lvae_reg-smoke").write_text("x")
    refused(capsys, sweep_main, sweep_argv(tmp_path), tmp_path, tmp_path / "lvae_reg-smoke")


@pytest.mark.parametrize("address", ["http://head:6379", "head", "head:port", "ray://head"])
def test_sweep_bad_address(tmp_path, capsys, address):
    refused(capsys, sweep_main, sweep_argv(tmp_path, "--address", address), tmp_path, repr(address))


@pytest.mark.parametrize("name", ["a/b", "..", " padded "])
def test_sweep_bad_name(tmp_path, capsys, name):
    refused(capsys, sweep_main, sweep_argv(tmp_path, "--name", name), tmp_path, repr(name))


def test_sweep_dataset_missing_file(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    argv = sweep_argv(tmp_path / "st", "--dataset", "dsprites", "--data-root", str(tmp_path / "data"))
    refused(capsys, sweep_main, argv, tmp_path, "'dsprites'", tmp_path / "data" / "dsprites")


def test_sweep_data_root_is_a_file(tmp_path, capsys):
    (tmp_path / "data").write_text("x")
    argv = sweep_argv(tmp_path / "st", "--data-root", str(tmp_path / "data"))
    refused(capsys, sweep_main, argv, tmp_path, tmp_path / "data", "--data-root")


@pytest.mark.parametrize(
    ("metric", "names"),
    [
        ("metric.nosuch", ["'metric.nosuch'", "valid metrics: metric.mig, metric.dci.disen"]),
        # a registered metric the smoke preset does not compute: the Optuna sweep would
        # have run to the end with nothing to maximise
        ("metric.factor_vae.eval_accuracy", ["'metric.factor_vae.eval_accuracy'", "smoke preset"]),
        ("mig", ["'mig'", "metric.mig"]),
    ],
)
def test_sweep_optuna_metric_not_computed(tmp_path, capsys, metric, names):
    import ray

    argv = sweep_argv(tmp_path, "--space", "lvae_optuna", "--metric", metric)
    refused(capsys, sweep_main, argv, tmp_path, *names)
    assert not ray.is_initialized()  # refused before Ray started


@pytest.mark.parametrize(
    ("extra", "names"),
    [  # a local Ray is sized to this machine: such trials would wait forever
        (["--cpus-per-trial", "4096"], ["--cpus-per-trial 4096", "CPUs"]),
        (["--gpus-per-trial", "64"], ["--gpus-per-trial 64", "GPU"]),
    ],
)
def test_sweep_trial_larger_than_the_local_machine(tmp_path, capsys, extra, names):
    refused(capsys, sweep_main, sweep_argv(tmp_path, *extra), tmp_path, *names)


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (["--device", "gpu"], ["--device", "'gpu'", "auto, cpu, cuda"]),
        (["--device", "cuda:0"], ["--device", "'cuda:0'"]),
        (["--device", "cuda"], ["--device cuda", "--gpus-per-trial"]),  # no GPU asked for
    ],
)
def test_sweep_bad_device(tmp_path, capsys, extra, names):
    import ray

    refused(capsys, sweep_main, sweep_argv(tmp_path, *extra), tmp_path, *names)
    assert not ray.is_initialized()  # refused before Ray started


def test_sweep_address_auto_without_a_cluster(tmp_path, capsys, monkeypatch):
    """Was a ConnectionError traceback from ray.init, after the dataset was prepared."""
    from ray._private import services

    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: [])  # none running here
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    argv = sweep_argv(tmp_path, "--address", "auto")
    refused(capsys, sweep_main, argv, tmp_path, "--address auto", "no running Ray cluster")


def test_sweep_address_auto_finds_an_unreachable_cluster(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "127.0.0.1:1")
    argv = sweep_argv(tmp_path, "--address", "auto")
    refused(capsys, sweep_main, argv, tmp_path, "--address auto", "cannot reach the Ray", ":1:")


def sweep_settings(**changes) -> dict:
    from sweeps.presets import get_preset
    from sweeps.spaces import get_space, seeds_for

    settings = {"space": "lvae_reg", "preset": "smoke", "dataset": "dsprites_procedural", "data_root": None,
                "seeds": seeds_for(get_space("lvae_reg"), get_preset("smoke"), None), "metric": None,
                "steps": None, "cpus_per_trial": 1, "gpus_per_trial": 0.0}
    return {**settings, **changes}


def experiment(tmp_path: Path, sweep_json: bytes | None, state: bytes | None = None) -> Path:
    exp = tmp_path / "lvae_reg-smoke"
    exp.mkdir()
    if sweep_json is not None:
        (exp / "sweep.json").write_bytes(sweep_json)
    if state is not None:
        (exp / "experiment_state-2026-01-01_00-00-00.json").write_bytes(state)
    return exp


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"\x00\x01\xfe\xff binary", "not text"),  # was a UnicodeDecodeError traceback
        (b'{"space": "lvae_reg", "pres', "not valid JSON"),
        (b'"lvae_reg"', "JSON str"),
    ],
)
def test_sweep_resume_bad_sweep_json(tmp_path, capsys, content, found):
    exp = experiment(tmp_path, content)
    refused(capsys, sweep_main, sweep_argv(tmp_path, "--resume"), tmp_path, exp / "sweep.json", found)


def test_sweep_resume_sweep_json_is_a_folder(tmp_path, capsys):
    exp = experiment(tmp_path, None)
    (exp / "sweep.json").mkdir()
    refused(capsys, sweep_main, sweep_argv(tmp_path, "--resume"), tmp_path, exp / "sweep.json", "folder")


def test_sweep_resume_without_tune_state(tmp_path, capsys):
    exp = experiment(tmp_path, json.dumps(sweep_settings()).encode())
    refused(capsys, sweep_main, sweep_argv(tmp_path, "--resume"), tmp_path, exp, "no Tune experiment state")


def test_sweep_resume_with_corrupt_tune_state(tmp_path, capsys):
    exp = experiment(tmp_path, json.dumps(sweep_settings()).encode(), state=b'{"trial_data": [')
    name = exp / "experiment_state-2026-01-01_00-00-00.json"
    refused(capsys, sweep_main, sweep_argv(tmp_path, "--resume"), tmp_path, name, "not valid JSON")


def test_sweep_resume_with_other_settings(tmp_path, capsys):
    experiment(tmp_path, json.dumps(sweep_settings(steps=60)).encode(), state=b"{}")
    refused(capsys, sweep_main, sweep_argv(tmp_path, "--resume", "--steps", "80"), tmp_path, "--steps 60", "--steps 80")


def test_sweep_resume_with_or_without_twins_as_started(tmp_path, capsys):
    experiment(tmp_path, json.dumps(sweep_settings(matched=True)).encode(), state=b"{}")
    argv = sweep_argv(tmp_path, "--resume", "--no-matched")
    refused(capsys, sweep_main, argv, tmp_path, "started with no --no-matched, not --no-matched")


def test_sweep_resume_of_another_space(tmp_path, capsys):
    experiment(tmp_path, json.dumps(sweep_settings(space="baselines")).encode(), state=b"{}")
    refused(capsys, sweep_main, sweep_argv(tmp_path, "--resume"), tmp_path, "baselines/smoke", "lvae_reg/smoke")


@pytest.mark.parametrize(
    ("args", "found"),
    [
        (["--storage", "mystery://x/y"], "mystery://x/y"),
        (["--dataset", "shapes3d", "--data-root", "{tmp}"], "shapes3d"),
        (["--space", "lvae_optuna", "--metric", "metric.nosuch"], "metric.nosuch"),  # ran the sweep
    ],
)
def test_sweep_cli_subprocess(tmp_path, args, found):
    """The same refusals through `python sweeps/run.py`, as a user runs it."""
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    proc = run_sweep(["--space", "lvae_reg", "--preset", "smoke", "--storage", str(tmp_path / "st"), *args],
                     timeout=120, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and found in lines[0], proc.stderr
    assert tree(tmp_path) == []


# ----------------------------------------------------------- analysis.report
@pytest.fixture()
def exp_dir(tmp_path) -> Path:
    return write_experiment(tmp_path, "exp", [TrialSpec("vae", {}, 0, metrics={"mig": 0.1}),
                                              TrialSpec("lvae", {"lambda": 0.1}, 0, metrics={"mig": 0.2})])


def report_argv(exp: Path, out: Path) -> list[str]:
    return [str(exp), "--out", str(out), "--no-models", "--no-figures"]


def set_results(exp: Path, content: bytes) -> Path:
    (exp / "results.csv").write_bytes(content)
    return exp / "results.csv"


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (bytes(range(256)) * 4, "not text"),  # binary: was a UnicodeDecodeError traceback
        ("trial_id,status\n".encode("utf-16"), "not text"),  # another encoding
        (b'trial_id,status,objective\n"a1,TERMINATED,vae\n', "not a well-formed CSV"),  # broken quote
        (b"", "empty file"),
        (b"trial_id,status\na,TERMINATED\n", "missing column"),
    ],
)
def test_report_bad_results_csv(exp_dir, capsys, content, found):
    path = set_results(exp_dir, content)
    refused(capsys, report_main, report_argv(exp_dir, exp_dir.parent / "r"), exp_dir.parent, path, found)


def test_report_results_csv_without_rows(exp_dir, capsys):
    header = (exp_dir / "results.csv").read_text().splitlines()[0] + "\n"
    path = set_results(exp_dir, header.encode())
    refused(capsys, report_main, report_argv(exp_dir, exp_dir.parent / "r"), exp_dir.parent, path, "no trial rows")


def test_report_second_experiment_without_rows(exp_dir, capsys):
    other = write_experiment(exp_dir.parent, "other", [TrialSpec("vae", {}, 1, metrics={"mig": 0.3})])
    header = (other / "results.csv").read_text().splitlines()[0] + "\n"
    path = set_results(other, header.encode())
    argv = [str(exp_dir), *report_argv(other, exp_dir.parent / "r")]
    refused(capsys, report_main, argv, exp_dir.parent, path, "no trial rows")


def test_report_results_csv_is_a_folder(exp_dir, capsys):
    (exp_dir / "results.csv").unlink()
    (exp_dir / "results.csv").mkdir()
    refused(capsys, report_main, report_argv(exp_dir, exp_dir.parent / "r"), exp_dir.parent,
            exp_dir / "results.csv", "folder")


def test_report_experiment_is_a_file(tmp_path, capsys):
    (tmp_path / "exp").write_text("x")
    refused(capsys, report_main, report_argv(tmp_path / "exp", tmp_path / "r"), tmp_path, tmp_path / "exp")


def test_report_out_is_a_file(exp_dir, capsys):
    (exp_dir.parent / "r").write_text("x")
    refused(capsys, report_main, report_argv(exp_dir, exp_dir.parent / "r"), exp_dir.parent,
            exp_dir.parent / "r", "--out")


def test_report_non_numeric_seed(exp_dir, capsys):
    text = (exp_dir / "results.csv").read_text().replace(",vae,0,", ",vae,zero,", 1)
    path = set_results(exp_dir, text.encode())
    refused(capsys, report_main, report_argv(exp_dir, exp_dir.parent / "r"), exp_dir.parent, path, "'seed'")


# ------------------------------------------------------- dataset loaders API
def test_dataset_unknown_name():
    with pytest.raises(KeyError, match="'mnist'"):
        get_dataset("mnist")


@pytest.mark.parametrize("name", ["dsprites", "shapes3d", "mpi3d_toy", "celeba"])
def test_dataset_missing_file_names_it(tmp_path, name):
    with pytest.raises(DatasetError, match="file not found") as exc:
        get_dataset(name, tmp_path)
    assert str(tmp_path) in str(exc.value)


def test_dataset_garbage_file_names_it(tmp_path):
    path = tmp_path / "dsprites" / "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
    path.parent.mkdir()
    path.write_bytes(b"not a zip file at all" * 8)
    with pytest.raises(DatasetError) as exc:
        get_dataset("dsprites", tmp_path)
    assert str(path) in str(exc.value)


def test_dataset_root_is_a_file(tmp_path):
    (tmp_path / "data").write_text("x")
    with pytest.raises(DatasetError, match="is a file") as exc:
        get_dataset("dsprites_procedural", tmp_path / "data")
    assert str(tmp_path / "data") in str(exc.value)
    assert tree(tmp_path) == ["data"]


def test_dataset_factors_of_wrong_shape(toy_dataset):
    with pytest.raises(DatasetError, match=r"factors must have shape \(N, 3\)"):
        toy_dataset.index_of([[0, 1]])


# -------------------------------------------------------------- metrics API
GOOD_CODES = np.random.default_rng(0).normal(size=(60, 3))
GOOD_FACTORS = np.random.default_rng(1).integers(0, 3, size=(60, 2))


def test_metric_encoder_returning_ragged_codes(toy_dataset):
    from lvae.metrics import factor_vae_score

    with pytest.raises(ValueError, match="the output of encode must be a rectangular"):
        factor_vae_score(toy_dataset, lambda x: [[0.0, 1.0], [2.0]], seed=0)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda: mig(RAGGED, GOOD_FACTORS), "codes"),  # was numpy's "inhomogeneous shape"
        (lambda: mig(GOOD_CODES, [[0, 1], [1]]), "factors"),
        (lambda: dci(RAGGED, GOOD_FACTORS, GOOD_CODES, GOOD_FACTORS, probe="logistic"), "codes_train"),
        (lambda: sap(GOOD_CODES, GOOD_FACTORS, GOOD_CODES, [[0], [1, 2]]), "factors_test"),
        (lambda: modularity_explicitness(GOOD_CODES, GOOD_FACTORS, RAGGED, GOOD_FACTORS), "codes_test"),
        (lambda: disentanglement(RAGGED), "importance"),
        (lambda: modularity_from_mi([[0.1, 0.2], [0.3]]), "mutual_information"),
        (lambda: mig([["a", "b"], ["c", "d"]], GOOD_FACTORS[:2]), "codes"),
        (lambda: mig(GOOD_CODES, GOOD_FACTORS[:10]), "factors"),  # different numbers of points
        (lambda: mig(np.full((60, 3), np.nan), GOOD_FACTORS), "codes"),
        (lambda: mig(GOOD_CODES, GOOD_FACTORS + 0.5), "factors"),  # not class indices
    ],
)
def test_metric_bad_arrays_name_the_argument(call, argument):
    with pytest.raises(ValueError) as exc:
        call()
    assert str(exc.value).startswith(argument) or f" {argument} " in str(exc.value), str(exc.value)


def test_corpus_size():
    """The issue asks for at least 40 cases across the six entry points."""
    import sys

    module = sys.modules[__name__]
    count = 0
    for name in dir(module):
        fn = getattr(module, name)
        if name.startswith("test_") and name != "test_corpus_size":
            marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
            count += len(marks[0].args[1]) if marks else 1
    assert count >= 40, count
