"""Storage space (issue "cluster", C): a sweep that cannot fit is refused before Ray
starts, and one whose storage fills up while it runs stops with one error line, writes
results.csv for what finished and resumes, once there is space, to every trial finished
exactly once. The storage is a real small file system (tmpfs), mounted for the test."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers.storage_helpers import checkpoint_files, fill, mount_tmpfs, trial_dirs, unmount
from helpers.sweep_helpers import run_sweep, run_until_first_trial, smoke_args

from sweeps.fullstorage import EXIT_STORAGE_FULL


@pytest.fixture()
def small_fs(request, tmp_path):
    """A tmpfs of the test's ``size_mb`` MiB (parametrised indirectly), unmounted after."""
    mountpoint = tmp_path / "small"
    why_not = mount_tmpfs(mountpoint, request.param)
    if why_not:
        pytest.skip(why_not)
    yield mountpoint
    unmount(mountpoint)


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize("small_fs", [40], indirect=True)
def test_a_sweep_larger_than_the_free_space_is_refused_before_it_starts(small_fs):
    # 8 smoke trials of ~3.4 MB each, and two running trials' checkpoints with Adam's
    # moments (2 x 2 x 9.2 MB while Tune swaps them): ~64 MB, on 40 MiB
    proc = run_sweep(["--space", "seeds", "--preset", "smoke", "--seeds", "4", "--steps", "5",
                      "--storage", str(small_fs), "--no-matched", "--no-report"], timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = error_lines(proc.stderr)
    assert str(small_fs) in line and "free" in line and "needs about" in line, line
    assert "Started a local Ray" not in proc.stdout + proc.stderr
    assert list(small_fs.iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("small_fs", [200], indirect=True)
def test_full_storage_stops_cleanly_and_resume_finishes_every_trial_once(cluster, small_fs):
    args = smoke_args(small_fs, "full", cluster, "--seeds", "3", "--max-concurrent", "1")
    args[1] = "seeds"  # two cells x 3 seeds: 6 trials, three checkpoints each
    exp = small_fs / "full"
    code, out = run_until_first_trial(  # 5 MB left: less than the next checkpoint
        args, lambda: fill(small_fs, leave_bytes=5_000_000))
    print(out)
    assert code == EXIT_STORAGE_FULL, out[-3000:]
    (line,) = error_lines(out)
    assert str(small_fs) in line and "No space left on device" in line, line
    assert "need about" in line and "--resume" in line, line
    assert "Traceback" not in out
    partial = pd.read_csv(exp / "results.csv")
    finished = partial[partial["status"] == "TERMINATED"]
    assert len(finished) >= 1 and set(partial["status"]) <= {"TERMINATED", "INTERRUPTED"}
    for state in exp.glob("experiment_state-*.json"):
        json.loads(state.read_text())  # whole: --resume can read it
    stamps = {d: (exp / d / "run" / "result.json").stat().st_mtime_ns
              for d in finished["trial_dir"]}

    (small_fs / "filler").unlink()  # space freed
    proc = run_sweep([*args, "--resume"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = pd.read_csv(exp / "results.csv")
    assert len(df) == 6 and df["trial_id"].is_unique and set(df["status"]) == {"TERMINATED"}
    assert (df["steps"] == 60).all()
    for trial_dir, stamp in stamps.items():  # finished before the storage filled: not rerun
        assert (exp / trial_dir / "run" / "result.json").stat().st_mtime_ns == stamp
    for trial in trial_dirs(exp):
        assert checkpoint_files(trial) == [trial / "run" / "checkpoint.pt"]


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("OSError: [Errno 28] Error writing bytes to file. Detail: [errno 28] No space left "
         "on device", "No space left on device"),
        ("OSError: [Errno 30] Read-only file system: '/mnt/results/x'", "Read-only file system"),
        ("OSError: [Errno 122] Disk quota exceeded", "Disk quota exceeded"),
    ],
)
def test_a_full_or_read_only_storage_is_told_apart_and_named(text, said):
    from sweeps import fullstorage
    from sweeps.storage import is_storage_full

    assert is_storage_full(text) and not is_storage_full("ValueError: [Errno 2] not found")
    fullstorage.install()
    fullstorage.report(text)
    assert fullstorage.detected() and fullstorage.SEEN.error == said
    fullstorage.install()  # forgotten by the next sweep
    assert not fullstorage.detected()


def test_a_trial_the_full_storage_failed_is_interrupted_not_an_error(tmp_path):
    from types import SimpleNamespace

    from sweeps.results import INTERRUPTED, trial_row

    trial = SimpleNamespace(
        trial_id="t1", status="ERROR", last_result={"step": 40}, path="", num_failures=1,
        config={"cell": {"label": "vae", "objective": "vae", "objective_params": {}},
                "seed": 0, "train": {}},
        run_metadata=SimpleNamespace(start_time=1.0),
        get_error=lambda: "Failure # 1\nOSError: [Errno 28] No space left on device",
    )
    row = trial_row(trial, tmp_path, {"space": "s", "preset": "p"}, stop="storage full")
    assert row["status"] == INTERRUPTED and "(storage full)" in row["error"]
