"""Sweep efficiency: how much wall time do Ray, trial start-up and reporting add?

Runs ``sweeps/run.py`` for 4 trials (the ``seeds`` space, 2 cells x 2 seeds) at 2
concurrent, each training for about ``--train-seconds`` on the procedural dSprites with the
``local`` preset's settings (read from ``sweeps.presets``: batch 32, Adam 3e-4, a checkpoint
every 200 steps, metrics at the end),
and prints

    efficiency = wall time of run.py / (sum of the trials' trainer time / concurrency)

(target <= 1.25), plus the overhead per trial in seconds. The trainer time of a trial is
what ``lvae.train.train`` took inside it (training plus its end-of-run metrics), as
reported in results.csv.

    .venv/bin/python benchmarks/bench_sweep.py [--train-seconds 60] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from lvae.contract import RESULTS_FILE

REPO = Path(__file__).resolve().parents[1]
TARGET = 1.25
TRIALS, CONCURRENCY = 4, 2


def calibrate_steps(seconds: float, data_root: str | None) -> tuple[int, float]:
    """Steps of one single-threaded ``local``-preset trial that take about ``seconds``."""
    from lvae.config import TrainConfig
    from lvae.train import train
    from sweeps.presets import get_preset

    local = get_preset("local")
    with tempfile.TemporaryDirectory() as d:
        cfg = TrainConfig(objective="lvae", steps=30, batch_size=local.batch_size, lr=local.lr,
                          log_every=10, checkpoint_every=30, image_every=0, threads=1, out=d,
                          data_root=data_root)
        rate = train(cfg)["steps_per_s"]
    # two trials share the two cores: assume each gets about one core
    return max(20, int(rate * seconds)), rate


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--train-seconds", type=float, default=60.0, help=
                   "target training time per trial")
    p.add_argument("--steps", type=int, default=None, help="steps per trial (default: calibrated)")
    p.add_argument("--keep", default=None, help="keep the experiment in this folder")
    args = p.parse_args()
    data_root = os.environ.get("LVAE_DATA")
    steps, rate = (args.steps,
                   float("nan")) if args.steps else calibrate_steps(args.train_seconds, data_root)
    storage = Path(args.keep or tempfile.mkdtemp(prefix="bench-sweep-"))
    cmd = [sys.executable, str(REPO / "sweeps" / "run.py"), "--space", "seeds", "--preset", "local",
           "--seeds", "2", "--steps", str(steps), "--max-concurrent", str(CONCURRENCY),
           "--storage", str(storage), "--name", "bench", "--no-report"]
    print(f"load average before: {os.getloadavg()[0]:.2f}; calibrated {rate:.2f} steps/s alone -> "
          f"{steps} steps/trial")
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True,
                          env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        print(proc.stdout[-3000:], proc.stderr[-3000:])
        return 1
    df = pd.read_csv(storage / "bench" / RESULTS_FILE)
    trainer = df["train_wall_time_s"].astype(float)
    ideal = trainer.sum() / CONCURRENCY
    efficiency = wall / ideal
    overhead = (wall * CONCURRENCY - trainer.sum()) / len(df)
    print(f"trials: {len(df)} ({', '.join(df['status'])}), {CONCURRENCY} concurrent, {steps} steps "
          "each")
    print(f"trainer time per trial: median {trainer.median():.1f} s (min {trainer.min():.1f}, max "
          f"{trainer.max():.1f})")
    print(f"run.py wall time: {wall:.1f} s; ideal (sum trainer / concurrency): {ideal:.1f} s")
    print(f"efficiency: {efficiency:.3f} (target <= {TARGET}) "
          f"{'PASS' if efficiency <= TARGET else 'FAIL'}")
    print(f"overhead per trial: {overhead:.1f} s (Ray start-up, trial start-up, reporting, "
          "results)")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    if not args.keep:
        shutil.rmtree(storage, ignore_errors=True)
    return 0 if efficiency <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
