"""Bad input, as a new user makes it, against ``sweeps/run.py`` (issue #12).

Each case checks the promise of ``lvae.cli`` (tests/helpers/bad_inputs.py says it once):
one ``error: ...`` line naming the input, exit 2, no traceback, nothing left behind.

The CLI runs in-process (``main(argv)``); three cases run ``sweeps/run.py`` as a
subprocess, as a user does. Nothing here starts Ray or trains.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.bad_inputs import refused, tree
from helpers.sweep_helpers import run_sweep

from sweeps.run import main as sweep_main


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
    refused(capsys, sweep_main, sweep_argv(tmp_path / "results"), tmp_path,
            tmp_path / "results", "--storage")


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
    argv = sweep_argv(tmp_path / "st", "--dataset", "dsprites",
                      "--data-root", str(tmp_path / "data"))
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

    settings = {"space": "lvae_reg", "preset": "smoke", "dataset": "dsprites_procedural",
                "data_root": None,
                "seeds": seeds_for(get_space("lvae_reg"), get_preset("smoke"), None),
                "metric": None, "steps": None, "cpus_per_trial": 1, "gpus_per_trial": 0.0}
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
    argv = sweep_argv(tmp_path, "--resume")
    refused(capsys, sweep_main, argv, tmp_path, exp / "sweep.json", found)


def test_sweep_resume_sweep_json_is_a_folder(tmp_path, capsys):
    exp = experiment(tmp_path, None)
    (exp / "sweep.json").mkdir()
    argv = sweep_argv(tmp_path, "--resume")
    refused(capsys, sweep_main, argv, tmp_path, exp / "sweep.json", "folder")


def test_sweep_resume_without_tune_state(tmp_path, capsys):
    exp = experiment(tmp_path, json.dumps(sweep_settings()).encode())
    argv = sweep_argv(tmp_path, "--resume")
    refused(capsys, sweep_main, argv, tmp_path, exp, "no Tune experiment state")


def test_sweep_resume_with_corrupt_tune_state(tmp_path, capsys):
    exp = experiment(tmp_path, json.dumps(sweep_settings()).encode(), state=b'{"trial_data": [')
    name = exp / "experiment_state-2026-01-01_00-00-00.json"
    refused(capsys, sweep_main, sweep_argv(tmp_path, "--resume"), tmp_path, name, "not valid JSON")


def test_sweep_resume_with_other_settings(tmp_path, capsys):
    experiment(tmp_path, json.dumps(sweep_settings(steps=60)).encode(), state=b"{}")
    argv = sweep_argv(tmp_path, "--resume", "--steps", "80")
    refused(capsys, sweep_main, argv, tmp_path, "--steps 60", "--steps 80")


def test_sweep_resume_with_or_without_twins_as_started(tmp_path, capsys):
    experiment(tmp_path, json.dumps(sweep_settings(matched=True)).encode(), state=b"{}")
    argv = sweep_argv(tmp_path, "--resume", "--no-matched")
    refused(capsys, sweep_main, argv, tmp_path, "started with no --no-matched, not --no-matched")


def test_sweep_resume_of_another_space(tmp_path, capsys):
    experiment(tmp_path, json.dumps(sweep_settings(space="baselines")).encode(), state=b"{}")
    argv = sweep_argv(tmp_path, "--resume")
    refused(capsys, sweep_main, argv, tmp_path, "baselines/smoke", "lvae_reg/smoke")


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
    argv = ["--space", "lvae_reg", "--preset", "smoke", "--storage", str(tmp_path / "st"), *args]
    proc = run_sweep(argv, timeout=120, cwd=tmp_path)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert len(lines) == 1 and lines[0].startswith("error: ") and found in lines[0], proc.stderr
    assert tree(tmp_path) == []

