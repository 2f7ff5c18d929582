"""What a user sees while a sweep runs (issue "cluster", B): one progress view, a line per
trial that ends, no line per checkpoint, no Tune table or warning to interpret."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from helpers.sweep_helpers import run_sweep, smoke_args

from sweeps.progress import SweepProgress, running_summary

#: lines that do not depend on the number of trials (dataset, sweep, Ray's start, twins'
#: plan, the summary)
FIXED_LINES = 15
#: lines a trial may add: the line when it ends, and its share of the status lines
LINES_PER_TRIAL = 2


@pytest.fixture(scope="module")
def console(cluster, tmp_path_factory):
    """A smoke sweep with its twins (lvae_reg: 4 trials, then 2 twins, three checkpoints
    each) through the real driver: its exit code and everything it printed."""
    storage = tmp_path_factory.mktemp("console")
    proc = run_sweep(smoke_args(storage, "console", cluster, twins=True))
    print(proc.stdout + proc.stderr)  # shown with -s: what the user sees
    return proc.returncode, (proc.stdout + proc.stderr).splitlines()


def test_no_line_per_checkpoint_and_no_tables(console):
    code, lines = console
    assert code == 0, "\n".join(lines[-60:])
    assert not [line for line in lines if "Checkpoint successfully created" in line]
    assert not [line for line in lines if re.search(r"[│╭╰├┼]|^\+-", line)]  # Tune's tables
    warnings = [line for line in lines if re.search(r"WARNING \S+\.py:\d+ --", line)]
    assert not warnings, warnings


def test_one_line_per_trial_and_a_bounded_total(console):
    _, lines = console
    ended = [line for line in lines if re.match(r"\[(sweep|twins) \d+/\d+ done", line)]
    trials = 6  # 4 trials + 2 twins
    assert len([line for line in ended if " finished: 60 steps" in line]) == trials, ended
    assert "[sweep 4/4 done, 0 running" in "\n".join(ended)
    assert len(lines) <= FIXED_LINES + LINES_PER_TRIAL * trials, "\n".join(lines)


def fake_trial(label: str, step: int, status: str = "RUNNING") -> SimpleNamespace:
    return SimpleNamespace(config={"cell": {"label": label}, "seed": 0, "train": {"steps": 700}},
                           status=status, last_result={"step": step}, trial_id=label)


def test_status_line_names_few_running_trials_and_summarises_many():
    few = [fake_trial("lvae", 100), fake_trial("vae", 300)]
    assert running_summary(few) == "lvae seed 0 at step 100/700; vae seed 0 at step 300/700"
    many = [fake_trial(f"c{i}", 100 * i) for i in range(1, 6)]
    assert running_summary(many) == "running trials at median step 300/700"


def test_status_line_every_heartbeat_while_no_trial_ends(capsys, monkeypatch):
    clock = iter([0.0, 10.0, 400.0, 400.0, 400.0, 500.0])
    monkeypatch.setattr("sweeps.progress.time.monotonic", lambda: next(clock))
    progress = SweepProgress("sweep", heartbeat_s=300)
    progress.setup(total_num_samples=4)  # Tune creates trials as --max-concurrent frees slots
    trials = [fake_trial("lvae", 100)]
    for _ in range(3):  # at 10 s nothing, at 400 s a status line, at 500 s nothing
        progress.on_step_end(0, trials)
    out = capsys.readouterr().out.splitlines()
    assert out == ["[sweep 0/4 done, 1 running, 6m40s] lvae seed 0 at step 100/700"]


def test_a_large_sweep_prints_status_lines_not_a_line_per_trial(capsys, monkeypatch):
    """1,000 trials: no line per finished trial, a status line a minute with the rate, and
    a failed trial still named."""
    now = [0.0]
    monkeypatch.setattr("sweeps.progress.time.monotonic", lambda: now[0])
    progress = SweepProgress("sweep")
    progress.setup(total_num_samples=1000)
    trials = [fake_trial(f"c{i}", 5) for i in range(10)]
    trials += [fake_trial("running", 3)]
    progress.on_step_end(0, trials)  # the run's first step: its rate counts from here
    for t in trials[:10]:
        t.status = "TERMINATED"
        t.last_result = {"step": 5, "done_training": True}
        progress.on_trial_complete(0, trials, t)
    now[0] = 30.0
    progress.on_step_end(0, trials)  # within the minute: nothing
    now[0] = 61.0
    progress.on_step_end(0, trials)
    failed = fake_trial("bad", 2)
    failed.last_result = {"trial_error": "ValueError: boom"}
    progress.on_trial_complete(0, [*trials, failed], failed)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "[sweep 10/1000 done, 1 running, 1m01s] 9.8 trials/min, about 1h40m left; "
        "running seed 0 at step 3/700",
        "[sweep 11/1000 done, 1 running, 1m01s] bad seed 0 FAILED: ValueError: boom",
    ]
