"""Running ``sweeps/run.py`` the way a user does, for the sweep and analysis tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUN = [sys.executable, str(REPO / "sweeps" / "run.py")]


def run_sweep(args: list[str], timeout: float = 600, **kw) -> subprocess.CompletedProcess:
    """``python sweeps/run.py ARGS`` as a user runs it."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.run(RUN + args, capture_output=True, text=True, timeout=timeout, env=env,
                          **kw)


def start_sweep(args: list[str]) -> subprocess.Popen:
    """``python sweeps/run.py ARGS`` in the background (stdout and stderr together)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(RUN + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)


def smoke_args(storage: Path, name: str, cluster, *extra: str, twins: bool = False) -> list[str]:
    """A smoke sweep joined to ``cluster``; without beta-matched twins unless ``twins``."""
    no_twins = [] if twins else ["--no-matched"]
    return ["--space", "lvae_reg", "--preset", "smoke", "--storage", str(storage), "--name", name,
            "--address", cluster.address, "--no-report", *no_twins, *extra]


def run_until_first_trial(args: list[str], then) -> tuple[int, str]:
    """Run the sweep and call ``then()`` once the driver has printed that its first trial
    finished (what the driver recorded, not a file appearing); its exit code and output."""
    sweep = start_sweep(args)
    lines = []
    try:
        for line in sweep.stdout:
            lines.append(line)
            if line.startswith("[sweep 1/"):
                then()
        return sweep.wait(timeout=60), "".join(lines)
    finally:
        sweep.kill()


def tune_results(trial_dir: Path) -> list[dict]:
    """Tune's result.json of a trial: one dict per report, as the driver recorded them."""
    text = (Path(trial_dir) / "result.json").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def trial_span(results: list[dict]) -> tuple[float, float]:
    """(start, end) of a trial in seconds since the epoch, from its Tune results."""
    first, last = results[0], results[-1]
    return first["timestamp"] - first["time_this_iter_s"], last["timestamp"]
