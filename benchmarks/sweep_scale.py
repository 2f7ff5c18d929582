"""The sweep at a thousand trials: the measuring parts of ``bench_sweep.py --trials N``.

The driver runs ``sweeps/run.py`` unchanged, through :func:`driver_main`, which only times
Tune's experiment-state snapshots (``TuneController.save_to_dir``: the JSON of every
trial's state, written after trial checkpoints and every few seconds) into a JSON-lines
log. A sampler thread records, every ``SAMPLE_S``, the open files of the driver's process
tree (the driver, and the Ray processes it started) and the experiment folder's state
files. The driver is stopped with SIGINT to its process group (what Ctrl-C in a terminal
sends) once it has printed that ``interrupt_at`` trials are done, then resumed with
``--resume``; :func:`count_once` checks from what Tune and the trainer recorded that every
trial finished exactly once.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd

from lvae.contract import RESULTS_FILE

REPO = Path(__file__).resolve().parents[1]
SAMPLE_S = 2.0
#: set (by ``bench_sweep.py --no-metrics``): trials skip the end-of-run metrics, which take
#: most of a 5-step smoke trial, so the driver's share of the wall time is as large as it
#: gets and 1,000 trials fit in half an hour on two cores
NO_METRICS_ENV = "LVAE_BENCH_NO_METRICS"
#: the driver's progress lines: "[sweep 12/1000 done, 2 running, 1m30s] ..."
DONE_LINE = re.compile(r"^\[sweep (\d+)/(\d+) done")


def driver_main(log_path: str, argv: list[str]) -> int:
    """``sweeps/run.py argv``, with each experiment-state snapshot timed into ``log_path``;
    with ``NO_METRICS_ENV`` set, the smoke preset's trials compute no end-of-run metrics."""
    sys.path.insert(0, str(REPO))
    from ray.tune.execution.tune_controller import TuneController

    from sweeps.run import main

    if os.environ.get(NO_METRICS_ENV):
        import dataclasses

        from sweeps import presets

        presets.PRESETS["smoke"] = dataclasses.replace(presets.PRESETS["smoke"], metrics=())

    save = TuneController.save_to_dir

    def timed_save(self) -> None:
        t0 = time.perf_counter()
        save(self)
        seconds = time.perf_counter() - t0
        path = Path(self._storage.experiment_driver_staging_path, self.experiment_state_file_name)
        with open(log_path, "a") as log:
            log.write(json.dumps({"t": time.time(), "s": seconds, "bytes": path.stat().st_size,
                                  "trials": len(self._trials)}) + "\n")

    TuneController.save_to_dir = timed_save
    return main(argv)


def open_files(pid: int) -> tuple[int, int]:
    """Open file descriptors of ``pid`` alone and of its whole process tree."""
    import psutil

    try:
        root = psutil.Process(pid)
        own = root.num_fds()
        tree = own
        for child in root.children(recursive=True):
            try:
                tree += child.num_fds()
            except psutil.Error:
                pass
        return own, tree
    except psutil.Error:
        return 0, 0


class Driver:
    """One run of the driver: its output (parsed for the done count), samples of its open
    files, and SIGINT once ``interrupt_at`` trials are done (None: run to the end)."""

    def __init__(self, argv: list[str], snapshot_log: Path, interrupt_at: int | None):
        cmd = [sys.executable, __file__, "--driver", str(snapshot_log), *argv]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "RAY_USAGE_STATS_ENABLED": "0"}
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env, start_new_session=True)
        self.interrupt_at = interrupt_at
        self.lines: list[str] = []
        self.done = 0
        self.interrupted_at: int | None = None
        self.samples: list[dict[str, float]] = []
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while self.proc.poll() is None:
            own, tree = open_files(self.proc.pid)
            self.samples.append({"t": time.perf_counter() - self.t0, "fds": own,
                                 "tree_fds": tree, "done": self.done})
            time.sleep(SAMPLE_S)

    def wait(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            match = DONE_LINE.match(line)
            if match:
                self.done = int(match.group(1))
            if (self.interrupt_at is not None and self.interrupted_at is None
                    and self.done >= self.interrupt_at):
                self.interrupted_at = self.done
                os.killpg(self.proc.pid, signal.SIGINT)  # Ctrl-C in the driver's terminal
        code = self.proc.wait()
        self._sampler.join(timeout=5)
        return {"code": code, "wall_s": time.perf_counter() - self.t0, "lines": self.lines,
                "interrupted_at": self.interrupted_at,
                "max_fds": max((s["fds"] for s in self.samples), default=0),
                "max_tree_fds": max((s["tree_fds"] for s in self.samples), default=0)}


def snapshots(log: Path) -> pd.DataFrame:
    """The timed snapshots: seconds, bytes and trials of each."""
    if not log.exists():
        return pd.DataFrame(columns=["t", "s", "bytes", "trials"])
    return pd.DataFrame([json.loads(line) for line in log.read_text().splitlines() if line])


def completions(trial_dir: Path) -> int:
    """How often the trial reported finished training: lines of Tune's ``result.json`` log
    (one per report; a restored trial appends to it) with ``done_training`` true."""
    path = trial_dir / "result.json"
    if not path.exists():
        return 0
    return sum(bool(json.loads(line).get("done_training"))
               for line in path.read_text().splitlines() if line.strip())


def count_once(exp: Path, finished_before: set[str]) -> dict[str, Any]:
    """Every trial once in results.csv, TERMINATED, and reported finished exactly once;
    the trials finished before the interrupt kept their result."""
    df = pd.read_csv(exp / RESULTS_FILE)
    # trial folders are named <cell>_seed=<seed> (sweeps.tuner.trial_dirname)
    per_trial = {row.trial_id: completions(exp / f"{row.cell}_seed={row.seed}")
                 for row in df.itertuples()}
    counts = pd.Series(per_trial, dtype=int)
    return {
        "rows": len(df), "unique_trials": int(df["trial_id"].nunique()),
        "status": df["status"].value_counts().to_dict(),
        "finished_once": int((counts == 1).sum()),
        "finished_twice_or_more": int((counts > 1).sum()),
        "finished_never": int((counts == 0).sum()) + len(df) - len(counts),
        "resumed_from_checkpoint": int(df["resumed_from"].notna().sum()),
        "finished_before_interrupt": len(finished_before),
        "retrained_after_interrupt": sum(per_trial.get(t, 0) != 1 for t in finished_before),
    }


def terminated(exp: Path) -> set[str]:
    """Trials results.csv records as TERMINATED (written by the driver at Ctrl-C)."""
    path = exp / RESULTS_FILE
    if not path.exists():
        return set()
    df = pd.read_csv(path)
    return set(df.loc[df["status"] == "TERMINATED", "trial_id"])


if __name__ == "__main__" and len(sys.argv) > 2 and sys.argv[1] == "--driver":
    sys.exit(driver_main(sys.argv[2], sys.argv[3:]))
