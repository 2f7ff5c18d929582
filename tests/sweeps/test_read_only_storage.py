"""A storage that becomes read-only while the sweep runs (issue "cluster", C): one error
line naming the storage and why, nothing half-written, and once it is writable again
``--resume`` finishes every trial exactly once. The storage is a real tmpfs, remounted
read-only under the running sweep."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from helpers.storage_helpers import mount_tmpfs, remount, unmount
from helpers.sweep_helpers import run_sweep, run_until_first_trial, smoke_args

from sweeps.fullstorage import EXIT_STORAGE_FULL


@pytest.fixture()
def storage(tmp_path):
    mountpoint = tmp_path / "ro"
    why_not = mount_tmpfs(mountpoint, 200)
    if why_not:
        pytest.skip(why_not)
    yield mountpoint
    remount(mountpoint, read_only=False)
    unmount(mountpoint)


def trained_to_end(exp: Path, steps: int) -> dict[str, int]:
    """Per trial folder, how often a training session ended the trial: Tune's result.json
    lines with ``done_training``, less those of a trial restored at its last step (it
    re-reports its stored result without training: ``resumed_from`` is the last step)."""
    counts = {}
    for log in exp.glob("*_seed=*/result.json"):
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
        counts[log.parent.name] = sum(bool(x.get("done_training"))
                                      and x.get("resumed_from") != steps for x in lines)
    return counts


@pytest.mark.slow
def test_read_only_storage_stops_with_one_line_and_resume_finishes_every_trial_once(
        cluster, storage):
    args = smoke_args(storage, "ro", cluster, "--seeds", "2", "--max-concurrent", "1")
    args[1] = "seeds"  # two cells x 2 seeds: 4 trials
    exp = storage / "ro"
    code, out = run_until_first_trial(args, lambda: remount(storage, read_only=True))
    print(out)
    assert code == EXIT_STORAGE_FULL, out[-3000:]
    (line,) = [x for x in out.splitlines() if x.startswith("error:")]
    assert str(storage) in line and "Read-only file system" in line, line
    assert "make it writable" in line and "free space" not in line, line
    assert "--resume" in line and "Traceback" not in out
    for state in exp.glob("experiment_state-*.json"):
        json.loads(state.read_text())  # the last good state, whole
    assert sum(trained_to_end(exp, 60).values()) < 4  # stopped before the end

    remount(storage, read_only=False)
    proc = run_sweep([*args, "--resume"])
    print(proc.stdout + proc.stderr)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = pd.read_csv(exp / "results.csv")
    assert len(df) == 4 and df["trial_id"].is_unique and set(df["status"]) == {"TERMINATED"}, (
        df[["trial_dir", "status", "error"]].to_string())
    after = trained_to_end(exp, 60)
    assert sorted(after.values()) == [1, 1, 1, 1], after  # each trained to its end once
    assert (df["steps"] == 60).all()
