"""A storage that fills up (or turns read-only) while the sweep runs: stop at the first
sign, keep what finished, and leave an experiment that ``--resume`` finishes once there
is space.

Tune uploads checkpoints and rewrites its experiment state and logs in the storage in
place. On a full disk those uploads fail half-way: every trial fails and is retried (and
fails again), the experiment state is left truncated (``--resume`` cannot read it) and so
is the pickled error Tune's ResultGrid reads at the end (``EOFError: Ran out of input``).
Instead:

- :class:`StorageGuard` (a Tune callback) and :class:`_FullStorageLog` (a filter on the
  loggers of Tune's uploads) spot the first ENOSPC, EROFS or EDQUOT error and stop Tune as
  Ctrl-C does: Tune saves a fresh experiment state in its staging folder on the driver,
  running trials saved as resumable;
- :func:`recover` frees what the failed uploads left (checkpoints Tune never registered, a
  ``run/checkpoint.pt`` no registered checkpoint names) and stores the staging folder file
  by file, each file replaced atomically;
- :func:`stop` writes results.csv (trials the storage stopped are INTERRUPTED) and prints
  one ``error:`` line naming the storage and the space the rest needs.

Tune pickles its callbacks with the experiment and unpickles them on ``--resume``, so
what the guard sees is kept here, at module level, where the driver reads it.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ray.tune import Callback

from lvae.atomic import atomic_path
from lvae.checkpoint import CHECKPOINT_NAME
from lvae.cli import error_line
from lvae.contract import RUN_DIR
from sweeps.footprint import megabytes
from sweeps.storage import STORAGE_FULL, ExperimentStorage, is_storage_full

if TYPE_CHECKING:
    from sweeps.plan import Plan

#: the exit code of a sweep the storage stopped (2 is a request refused before it started)
EXIT_STORAGE_FULL = 1
#: loggers of Tune's own uploads (experiment state, logs and artifacts) and of failed trials
TUNE_UPLOAD_LOGGERS = ("ray.tune.execution.experiment_state", "ray.train._internal.syncer",
                       "ray.tune.execution.tune_controller")


@dataclass
class _Seen:
    """The first storage-full error and the trials of the stage it stopped."""

    event: threading.Event = field(default_factory=threading.Event)
    error: str = ""
    trials: list = field(default_factory=list)


SEEN = _Seen()


class StorageFull(Exception):
    """Tune stopped because the storage of ``stage`` filled up."""

    def __init__(self, stage: ExperimentStorage):
        super().__init__(f"storage full: {stage.uri}")
        self.stage = stage


def detected() -> bool:
    return SEEN.event.is_set()


def report(text: str) -> None:
    """Keep the first storage-full error, as the system says it."""
    if SEEN.event.is_set():
        return
    match = STORAGE_FULL.search(text)
    said = match.group(0) if match else text.strip()
    if match and match.group(1):  # only "[errno N]": the system's words for N
        said = os.strerror(int(match.group(1)))
    SEEN.error = said[:1].upper() + said[1:]
    SEEN.event.set()


class _FullStorageLog(logging.Filter):
    """Tune's failed uploads: reported, and dropped (the driver's error line says it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if record.exc_info and record.exc_info[1] is not None:
            text += "\n" + "".join(traceback.format_exception_only(record.exc_info[1]))
        if is_storage_full(text):
            report(text)
            return False
        return True


def install() -> None:
    """Forget an earlier sweep's error and watch the loggers of Tune's uploads."""
    SEEN.event.clear()
    SEEN.error, SEEN.trials = "", []
    for name in TUNE_UPLOAD_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _FullStorageLog) for f in logger.filters):
            logger.addFilter(_FullStorageLog())


def stop_tune() -> None:
    """Stop Tune as Ctrl-C does, by calling the SIGINT handler it installs while it runs:
    it saves the experiment state, running trials as resumable, and returns."""
    from sweeps.interrupt import CtrlC

    handler = signal.getsignal(signal.SIGINT)
    if callable(handler) and not isinstance(handler, CtrlC):
        handler(signal.SIGINT, None)


def _error_text(trial) -> str:
    try:
        return Path(trial.error_file).read_text() if trial.error_file else ""
    except OSError:
        return ""


class StorageGuard(Callback):
    """Stops Tune at the first trial whose failure is a full or read-only storage (or
    once a filtered log said so); keeps the stage's trials for :func:`recover`."""

    def setup(self, **info: Any) -> None:
        self._stopping = False

    def _check(self, trial) -> None:
        text = _error_text(trial)
        if is_storage_full(text):
            report(text)

    def on_trial_error(self, iteration: int, trials: list, trial, **info: Any) -> None:
        self._check(trial)

    def on_trial_recover(self, iteration: int, trials: list, trial, **info: Any) -> None:
        self._check(trial)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        SEEN.trials = trials
        if detected() and not getattr(self, "_stopping", False):
            self._stopping = True
            stop_tune()


def _names_weights(checkpoint_dir: Path) -> bool:
    """Whether a Tune checkpoint is a final one, naming the run folder's weights."""
    from sweeps.trainable import WEIGHTS_KEY

    try:
        return WEIGHTS_KEY in (checkpoint_dir / "meta.json").read_text()
    except OSError:
        return False


def free_unregistered(trial) -> None:
    """Delete what a failed upload left in an unfinished trial's folder: checkpoints Tune
    never registered, and run/checkpoint.pt unless its registered checkpoint names it."""
    trial_dir = Path(trial.path)
    kept = Path(trial.checkpoint.path).name if trial.checkpoint else None
    for folder in trial_dir.glob("checkpoint_*"):
        if folder.name != kept:
            shutil.rmtree(folder, ignore_errors=True)
    if not (kept and _names_weights(trial_dir / kept)):
        (trial_dir / RUN_DIR / CHECKPOINT_NAME).unlink(missing_ok=True)


def store_staging(staging: Path, dest: Path) -> None:
    """Copy Tune's staging folder into the experiment folder, each file replaced
    atomically (what Tune's own upload does in place)."""
    for source in sorted(staging.rglob("*")):
        if not source.is_file():
            continue
        target = dest / source.relative_to(staging)
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)


def recover(stage: ExperimentStorage) -> str | None:
    """Free what the failed uploads left and store Tune's last experiment state; returns
    what could not be done (None: the experiment can be resumed)."""
    trials = SEEN.trials
    if stage.remote or not trials:
        return None
    for trial in trials:
        if trial.status != "TERMINATED" and trial.path:
            free_unregistered(trial)
    staging = Path(trials[0].storage.experiment_driver_staging_path)
    try:
        store_staging(staging, stage.local_dir)
    except OSError as exc:
        return (f"its experiment state could not be saved ({error_line(exc)}); copy "
                f"{staging} into {stage.local_dir} once it can be written")
    return None


def stop(plan: Plan, stage: ExperimentStorage, resume: str) -> int:
    """After Tune stopped on a full storage: recover it, write results.csv for what
    finished (the rest INTERRUPTED), print the summary and one ``error:`` line."""
    from lvae.contract import RESULTS_FILE
    from sweeps.results import write_results

    problem = recover(stage)
    finished = 0
    try:
        plan.exp.download()
        path, df = write_results(plan.exp.local_dir, stop="storage full")
        plan.exp.upload(RESULTS_FILE)
        counts = df["status"].value_counts().to_dict() if len(df) else {}
        finished = int(counts.get("TERMINATED", 0))
        total = plan.footprint.trials if plan.footprint else len(df)
        print(f"\n{len(df)} of {total} trials started: "
              + ", ".join(f"{n} {s}" for s, n in counts.items()))
        print(f"results:     {path}", flush=True)
    except Exception as exc:  # noqa: BLE001 - the error line says what was lost
        problem = problem or f"results.csv could not be written ({error_line(exc)})"
        finished = sum(t.status == "TERMINATED" for t in SEEN.trials)  # as Tune saw them
    print(error_message(plan, finished, problem, resume), file=sys.stderr, flush=True)
    return EXIT_STORAGE_FULL


def error_message(plan: Plan, finished: int, problem: str | None, resume: str) -> str:
    """The one line: which storage, why, what finished, the space the rest needs."""
    from sweeps.footprint import existing_parent

    footprint = plan.footprint
    total = footprint.trials if footprint else finished
    rest = max(0, total - finished)
    needed = rest * footprint.per_trial + footprint.swap if footprint and rest else 0
    where = plan.exp.storage
    free = "" if plan.exp.remote else (
        f", {megabytes(shutil.disk_usage(existing_parent(plan.exp.local_dir)).free)} is free")
    saved = f"; {problem}" if problem else "; results.csv lists what finished"
    # a read-only storage (remounted, or a lost write permission) needs no space freed
    fix = ("make it writable" if "read-only" in SEEN.error.lower() else
           f"the other {rest} need about {megabytes(needed)} more{free}: free space")
    return (f"error: --storage {where} cannot be written ({SEEN.error}): the sweep stopped "
            f"with {finished} of {total} trials finished{saved}; {fix}, then continue "
            f"with: {resume}")
