"""The pieces of an interrupted sweep that need no cluster: how results.csv names the
trials Ctrl-C stopped, the printed --resume command, which storage is accepted and
Tune's checkpoint retention. The end-to-end Ctrl-C test on a real cluster is in
test_sweeps.py."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sweeps.cli import build_parser, resume_command
from sweeps.presets import get_preset
from sweeps.results import INTERRUPTED, trial_row
from sweeps.storage import StorageError, check_storage
from sweeps.tuner import checkpoints_to_keep


def fake_trial(status: str, last: dict, start_time: float | None) -> SimpleNamespace:
    return SimpleNamespace(
        trial_id="t1", status=status, last_result={"trial_id": "t1", **last}, path="",
        config={"cell": {"label": "vae", "objective": "vae",
                         "objective_params": {}}, "seed": 0, "train": {}},
        run_metadata=SimpleNamespace(start_time=start_time), num_failures=0,
    )


@pytest.mark.parametrize(
    ("status", "last", "start_time", "expected", "steps"),
    [
        ("PENDING", {}, None, "PENDING", 0),  # never started: Tune's PENDING is right
        ("PENDING", {"step": 40}, 1.0, INTERRUPTED, 40),  # saved as PENDING while running
        ("PENDING", {}, 1.0, INTERRUPTED, 0),  # started, stopped before its first report
        ("RUNNING", {"step": 10}, 1.0, INTERRUPTED, 10),
        ("TERMINATED", {"step": 60, "done_training": True}, 1.0, "TERMINATED", 60),
    ],
)
def test_interrupted_trials_are_named_with_their_last_step(tmp_path, status, last, start_time,
                                                           expected, steps):
    row = trial_row(fake_trial(status, last, start_time), tmp_path, {"space": "s", "preset": "p"})
    assert row["status"] == expected and row["steps"] == steps
    if expected == INTERRUPTED:
        assert f"interrupted at step {steps}" in row["error"]


def test_resume_command_repeats_the_flags_that_matter():
    args = build_parser().parse_args(
        ["--space", "lvae_reg", "--preset", "smoke", "--storage", "/tmp/x y", "--steps", "60",
         "--max-concurrent", "2", "--no-report"]
    )
    command = resume_command(args, "lvae_reg-smoke")
    assert command.startswith("python sweeps/run.py --space lvae_reg --preset smoke --storage "
                              "'/tmp/x y'")
    assert "--steps 60" in command and "--max-concurrent 2" in command and "--no-report" in command
    assert command.endswith("--resume") and "--dataset" not in command  # defaults left out


@pytest.mark.parametrize("storage", ["results", "/tmp/lvae-results",
                                     "file:///tmp/lvae", "mock://bucket/lvae"])
def test_storage_that_pyarrow_opens_is_accepted(storage):
    check_storage(storage)


@pytest.mark.parametrize("storage", ["", "nope://x", "s3://", "s3:/b", "hdfs:/x"])
def test_storage_refusals_name_the_uri(storage):
    with pytest.raises(StorageError) as exc:
        check_storage(storage)
    assert repr(storage) in str(exc.value) or "--storage is empty" in str(exc.value)


def test_every_preset_keeps_one_checkpoint_per_trial():
    """A trial stores its latest checkpoint only (docs/cluster.md, "Storage per trial"):
    Tune's num_to_keep is 1 at every preset, short or long."""
    args = build_parser().parse_args(["--space", "lvae_reg"])
    for name in ("smoke", "local", "study", "paper"):
        assert checkpoints_to_keep(get_preset(name), args) == 1, name
