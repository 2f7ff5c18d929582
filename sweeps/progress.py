"""What the driver prints while Tune runs: a line per trial that ends and a status line
every few minutes.

Tune's own output prints a configuration table when a trial starts and a result table when
it ends (~70 lines a trial), and Ray prints "Checkpoint successfully created" for every
checkpoint; a sweep of a hundred trials scrolled thousands of lines. :func:`quiet_tune`
turns those off, and :class:`SweepProgress` (a Tune callback) prints the view instead.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from ray.tune import Callback

from lvae.contract import BETA_TAG, TUNE_KEYS
from sweeps.storage import is_storage_full

#: seconds between status lines while no trial ends
HEARTBEAT_S = 300.0
#: running trials named in a status line; more are summarised by their median step
NAMED_RUNNING = 3
#: a sweep of more trials prints no line per finished trial (1,000 would scroll the
#: failures away): a status line every LARGE_HEARTBEAT_S carries the counts and the rate,
#: and failures and retries still print theirs
PER_TRIAL_LINES_MAX = 100
LARGE_HEARTBEAT_S = 60.0


class _OneLineErrors(logging.Filter):
    """Tune logs each failed trial attempt with its traceback; the progress line names the
    error and the trial's error.txt keeps the traceback, so the log keeps one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


class _TuneMessages(logging.Filter):
    """Tune's own words at Ctrl-C and at the end: its resume hint names ``Tuner.restore``
    (the driver prints the command that resumes the sweep) and its list of unfinished
    trials repeats results.csv; its Ctrl-C notice is said in the sweep's terms. Its "took
    0.9 s, which may be a performance bottleneck" is its own loop on a busy machine
    (a sweep on 2 cores), nothing a user can act on."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(("Experiment has been interrupted", "Trials did not complete")):
            return False
        if message.endswith("which may be a performance bottleneck."):
            return False
        if message.startswith("Stop signal received"):
            from sweeps.interrupt import storage_full

            if not storage_full():  # the sweep stops Tune itself then, and says why
                print(f"\n{CTRL_C_NOTICE}", file=sys.stderr, flush=True)
            return False
        return True


#: what replaces Tune's notice when the first Ctrl-C reaches it
CTRL_C_NOTICE = ("Ctrl-C: stopping the trials and saving the sweep's state "
                 "(Ctrl-C again quits at once)")


def _add_filter(name: str, kind: type[logging.Filter]) -> None:
    logger = logging.getLogger(name)
    if not any(isinstance(f, kind) for f in logger.filters):
        logger.addFilter(kind())


def quiet_tune() -> None:
    """Turn off Tune's tables and its expected warnings before the tuner starts: the old
    output engine at ``verbose=0`` prints nothing (the new one still prints a table per
    experiment), and Tune's snapshot warning is expected when it keeps one checkpoint per
    trial (sweeps/tuner.py). Trial workers drop Ray's checkpoint lines themselves
    (sweeps/trainable.py)."""
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    logging.getLogger("ray.tune").setLevel(logging.WARNING)  # "Wrote the latest version ..."
    _add_filter("ray.tune.execution.tune_controller", _OneLineErrors)
    _add_filter("ray.tune.tune", _TuneMessages)
    _add_filter("ray.tune.utils.util", _TuneMessages)


def trial_label(trial) -> str:
    """``<cell> seed <seed>``: the trial as results.csv and its folder name it."""
    cell = trial.config.get("cell", {}).get("label", trial.trial_id)
    seed = trial.config.get("seed", trial.config.get("__trial_index__"))
    return f"{cell} seed {seed}" if seed is not None else str(cell)


def last_error_line(trial) -> str:
    """The last line of the trial's latest error (Tune's error.txt on the driver)."""
    try:
        text = Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        text = ""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no error recorded"


def outcome(trial) -> str:
    """How a trial that Tune counts as finished ended, in a few words."""
    last = trial.last_result or {}
    if last.get("trial_error"):
        return f"FAILED: {last['trial_error']}"
    steps = last.get("step", 0)
    seconds = last.get("time_total_s", 0.0)
    if not last.get("done_training"):
        return f"stopped at step {steps}"
    beta = last.get(TUNE_KEYS[BETA_TAG])
    beta_text = f", beta_eff {beta:.3g}" if isinstance(beta, float) else ""
    return f"finished: {steps} steps in {seconds:.0f} s{beta_text}"


def _counts(trials: list, ending=None, failed: bool = False, total: int = 0) -> str:
    """``3/12 done, 2 running``; Tune calls back before it updates the ``ending`` trial's
    status, so that one counts as done (``failed``: as failed). ``total``: the trials Tune
    will run (it creates them as slots free up under --max-concurrent)."""
    by_status: dict[str, int] = {}
    for t in trials:
        status = ("ERROR" if failed else "TERMINATED") if t is ending else t.status
        by_status[status] = by_status.get(status, 0) + 1
    done = by_status.get("TERMINATED", 0) + by_status.get("ERROR", 0)
    text = f"{done}/{max(total, len(trials))} done, {by_status.get('RUNNING', 0)} running"
    return text + (f", {by_status['ERROR']} failed" if by_status.get("ERROR") else "")


def _done(trials: list) -> int:
    return sum(t.status in ("TERMINATED", "ERROR") for t in trials)


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m{secs:02d}s"


def running_summary(trials: list) -> str:
    """Where the running trials are: each by name when few, else their median step."""
    running = [t for t in trials if t.status == "RUNNING"]
    if not running:
        return "waiting for resources"
    steps = [int((t.last_result or {}).get("step", 0) or 0) for t in running]
    total = running[0].config.get("train", {}).get("steps", "?")
    if len(running) <= NAMED_RUNNING:
        return "; ".join(f"{trial_label(t)} at step {s}/{total}"
                         for t, s in zip(running, steps, strict=True))
    return f"running trials at median step {statistics.median(steps):.0f}/{total}"


class SweepProgress(Callback):
    """One line when a trial ends (finished, failed or retried) and a status line every
    ``heartbeat_s`` while none does. Pickled with the tuner, so its clock starts in
    :meth:`setup` (a resumed sweep restores it)."""

    def __init__(self, stage: str, heartbeat_s: float = HEARTBEAT_S):
        self.stage = stage
        self.heartbeat_s = heartbeat_s
        self._t0 = self._last = 0.0
        self._total = 0

    def setup(self, total_num_samples: int | None = None, **info: Any) -> None:
        self._t0 = self._last = time.monotonic()
        self._base: tuple[int, float] | None = None  # (done, when) at this run's first step
        finite = total_num_samples is not None and total_num_samples < sys.maxsize
        self._total = int(total_num_samples) if finite else 0

    def _counts(self, trials: list, ending=None, failed: bool = False) -> str:
        return _counts(trials, ending, failed, getattr(self, "_total", 0))

    def _line(self, counts: str, text: str) -> None:
        elapsed = _clock(time.monotonic() - self._t0)
        print(f"[{self.stage} {counts}, {elapsed}] {text}", flush=True)
        self._last = time.monotonic()

    @property
    def large(self) -> bool:
        """Too many trials for a line each (PER_TRIAL_LINES_MAX)."""
        return getattr(self, "_total", 0) > PER_TRIAL_LINES_MAX

    def on_trial_complete(self, iteration: int, trials: list, trial, **info: Any) -> None:
        text = outcome(trial)
        if not self.large or not text.startswith("finished"):
            self._line(self._counts(trials, trial), f"{trial_label(trial)} {text}")

    def on_trial_error(self, iteration: int, trials: list, trial, **info: Any) -> None:
        error = last_error_line(trial)
        if not is_storage_full(error):  # the sweep stops and says so (sweeps/fullstorage.py)
            self._line(self._counts(trials, trial, failed=True),
                       f"{trial_label(trial)} FAILED: {error}")

    def on_trial_recover(self, iteration: int, trials: list, trial, **info: Any) -> None:
        error = last_error_line(trial)
        if not is_storage_full(error):
            self._line(self._counts(trials), f"{trial_label(trial)} failed ({error}); retrying "
                       f"from its last checkpoint (failure {trial.num_failures})")

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self.large and getattr(self, "_base", None) is None:  # a resumed sweep's rate
            self._base = (_done(trials), time.monotonic())   # counts this run's trials only
        heartbeat = min(self.heartbeat_s, LARGE_HEARTBEAT_S) if self.large else self.heartbeat_s
        if time.monotonic() - self._last >= heartbeat:
            self._line(self._counts(trials), self._rate(trials) + running_summary(trials))

    def _rate(self, trials: list) -> str:
        """``12.5 trials/min, about 40m left; `` for a large sweep, else nothing."""
        done = _done(trials)
        base = getattr(self, "_base", None)
        if not self.large or base is None or done <= base[0]:
            return ""
        rate = (done - base[0]) / (max(time.monotonic() - base[1], 1e-9) / 60)
        return f"{rate:.1f} trials/min, about {_clock(60 * (self._total - done) / rate)} left; "
