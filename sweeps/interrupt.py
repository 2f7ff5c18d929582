"""Ctrl-C while a sweep runs: stop within seconds, write results.csv, exit 130.

Tune's own SIGINT handler takes the first Ctrl-C during ``tuner.fit()``;
:class:`InterruptWatch` sees it and, once Tune has saved the experiment state, summarises
and exits at once; :class:`CtrlC` quits at once on any later Ctrl-C. Exiting at once skips
``ray.shutdown()``, so :func:`kill_descendants` ends a local Ray's processes.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from lvae.cli import EXIT_INTERRUPTED
from sweeps.storage import ExperimentStorage

#: after Ctrl-C, how long to wait for Tune to save the experiment state (it takes < 1 s)
STATE_SAVE_TIMEOUT_S = 5.0


class CtrlC:
    """SIGINT while the sweep runs.

    During ``tuner.fit()`` Tune's own handler takes the first Ctrl-C: it stops the trials,
    saves the experiment state and puts this handler back. Any Ctrl-C that reaches this
    handler (a second one, or one while the summary is written) quits at once with
    ``hint``, which says how to continue.
    """

    def __init__(self, hint: str):
        self.hint = hint
        self.previous: Any = None

    def __call__(self, signum: int, frame: Any) -> None:
        print(f"\ninterrupted: exiting now. {self.hint}", file=sys.stderr, flush=True)
        kill_descendants()
        os._exit(EXIT_INTERRUPTED)

    def __enter__(self) -> CtrlC:
        self.previous = signal.signal(signal.SIGINT, self)
        return self

    def __exit__(self, *exc: Any) -> None:
        signal.signal(signal.SIGINT, self.previous or signal.default_int_handler)


class InterruptWatch(threading.Thread):
    """Bounds the time from Ctrl-C to the prompt.

    Tune's SIGINT handler stops the trials and saves the experiment state within a second
    of Ctrl-C, then waits up to 10 s for busy trials to stop (a trial computing its metrics
    only stops at its next report). Its handler puts ours (:class:`CtrlC`) back when it
    fires, which is how this thread sees the Ctrl-C. Once the state is saved, ``finish``
    writes results.csv from it and exits; the trials end with the driver.
    """

    def __init__(self, ctrl_c: CtrlC, exp: ExperimentStorage, summarise: Callable[[], int]):
        super().__init__(name="interrupt-watch", daemon=True)
        self.ctrl_c, self.exp, self.summarise = ctrl_c, exp, summarise
        self.done = threading.Event()  # set when tuner.fit() returns
        self.interrupted = False
        self._lock = threading.Lock()

    def run(self) -> None:
        while signal.getsignal(signal.SIGINT) is self.ctrl_c:  # until Tune installs its handler
            if self.done.wait(0.05):
                return
        while signal.getsignal(signal.SIGINT) is not self.ctrl_c:  # until the first Ctrl-C
            if self.done.wait(0.05):
                return
        if storage_full():  # Tune was stopped for a full storage: the main thread handles it
            return
        # Tune saves the state within a second of the Ctrl-C; its periodic saves are >= 10 s apart
        self.interrupted, since = True, time.time() - 0.25
        deadline = time.monotonic() + STATE_SAVE_TIMEOUT_S
        while not self.done.is_set() and time.monotonic() < deadline:
            if self._state_saved_since(since):
                self.finish()
            time.sleep(0.1)

    def _state_saved_since(self, since: float) -> bool:
        """Tune's final experiment state is on disk (local storage; a remote one is
        summarised by the main thread once Tune returns)."""
        if self.exp.remote:
            return False
        states = list(self.exp.local_dir.glob("experiment_state-*.json"))
        return bool(states) and max(p.stat().st_mtime for p in states) >= since

    def finish(self) -> None:
        """Summarise once (this thread or the main one) and exit with its code at once."""
        with self._lock:
            code = self.summarise()
            sys.stdout.flush()
            sys.stderr.flush()
            kill_descendants()
            os._exit(code)


def storage_full() -> bool:
    """Whether the sweep stopped Tune itself, for a full storage (sweeps/fullstorage.py)."""
    import sys

    module = sys.modules.get("sweeps.fullstorage")
    return bool(module and module.detected())


def kill_descendants() -> None:
    """Kill the processes this driver started (a local Ray: raylet, GCS, their agents and
    workers). Exiting at once skips ray.shutdown(), and Ray's agents outlive a SIGKILLed
    raylet; a joined cluster's processes are not our descendants and are left alone."""
    try:
        import psutil  # Ray's own dependency (vendored with it)
    except ImportError:
        return
    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.Error:
            pass


def discard_unstarted(exp: ExperimentStorage) -> None:
    """Ctrl-C before Tune wrote anything: remove the sweep.json this run wrote, so the
    same command starts afresh (a folder holding only sweep.json cannot be resumed)."""
    from sweeps.results import SWEEP_FILE

    if exp.remote or not exp.local_dir.is_dir():
        return
    if [p.name for p in exp.local_dir.iterdir()] == [SWEEP_FILE]:
        (exp.local_dir / SWEEP_FILE).unlink()
        exp.local_dir.rmdir()
