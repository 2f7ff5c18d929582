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

``--trials N`` instead measures the driver at scale (benchmarks/sweep_scale.py): N short
trials (the ``seeds`` space at the smoke preset, ``--steps 5``), stopped with Ctrl-C once
half are done and finished with the ``--resume`` command the driver prints. It prints the
same efficiency over both runs, where the rest of the wall time went (Tune's
experiment-state snapshots, timed in the driver), open files, the experiment folder's
size, the console's length, and whether every trial finished exactly once:

    .venv/bin/python benchmarks/bench_sweep.py --trials 1000 --no-metrics --json out.json

``--no-metrics`` leaves out the end-of-run metrics, most of a 5-step trial's time: the
trials are as short as they get, so the driver's share is as large as it gets. The
figures and their projection to 12,600 trials are in docs/cluster.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from lvae.contract import RESULTS_FILE

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
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
    p.add_argument("--trials", type=int, default=None, help=
                   "measure the driver at this many short trials instead (with Ctrl-C and "
                   "--resume half-way)")
    p.add_argument("--json", default=None, help="--trials: also write the figures here")
    p.add_argument("--no-metrics", action="store_true", help=
                   "--trials: trials without end-of-run metrics (most of a short trial's time)")
    args = p.parse_args()
    if args.trials:
        return at_scale(args)
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


def resume_argv(lines: list[str], argv: list[str]) -> list[str]:
    """The arguments of the command the driver printed at Ctrl-C ("... continue with
    python sweeps/run.py ... --resume")."""
    for line in lines:
        if "continue with python" in line.lower() and line.rstrip().endswith("--resume"):
            words = shlex.split(line[line.lower().index("continue with python") + 14:])
            return words[next(i for i, w in enumerate(words) if w.endswith("run.py")) + 1:]
    return [*argv, "--resume"]


def at_scale(args: argparse.Namespace) -> int:
    """``--trials N``: N short trials, Ctrl-C half-way, --resume; the figures."""
    from benchmarks import sweep_scale as sc

    storage = Path(args.keep or tempfile.mkdtemp(prefix="bench-sweep-scale-"))
    exp, log = storage / "scale", storage / "snapshots.jsonl"
    argv = ["--space", "seeds", "--preset", "smoke", "--seeds", str(args.trials // 2),
            "--steps", str(args.steps or 5), "--no-matched", "--no-report",
            "--storage", str(storage), "--name", "scale"]
    if args.no_metrics:
        os.environ[sc.NO_METRICS_ENV] = "1"
    print(f"load average before: {os.getloadavg()[0]:.2f}; {args.trials} trials"
          f"{' without end-of-run metrics' if args.no_metrics else ''} -> {exp}", flush=True)
    first = sc.Driver(argv, log, interrupt_at=args.trials // 2).wait()
    before = sc.terminated(exp)
    print(f"first run: exit {first['code']} after Ctrl-C at {first['interrupted_at']} done, "
          f"{first['wall_s']:.0f} s; {len(before)} TERMINATED in results.csv", flush=True)
    second = sc.Driver(resume_argv(first["lines"], argv), log, interrupt_at=None).wait()
    if second["code"] != 0:
        print("\n".join(second["lines"][-40:]))
        return 1
    for name, run in (("console_first.txt", first), ("console_resume.txt", second)):
        (storage / name).write_text("\n".join(run["lines"]) + "\n")
    figures = scale_figures(args.trials, exp, log, first, second, sc.count_once(exp, before))
    print_scale(figures)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2) + "\n")
    if not args.keep:
        shutil.rmtree(storage, ignore_errors=True)
    once = figures["once"]
    return 0 if once["finished_once"] == args.trials == once["unique_trials"] else 1


def scale_figures(trials: int, exp: Path, log: Path, first: dict, second: dict,
                  once: dict) -> dict:
    from benchmarks import sweep_scale as sc
    from sweeps.footprint import used_bytes

    df = pd.read_csv(exp / RESULTS_FILE)
    concurrency = os.cpu_count() or 1  # the driver's default: one trial per core
    trainer = float(df["train_wall_time_s"].sum())
    wall = first["wall_s"] + second["wall_s"]
    snaps = sc.snapshots(log)
    lines = first["lines"] + second["lines"]
    state = sorted(exp.glob("experiment_state-*.json"))
    stored = used_bytes(exp)
    return {
        "trials": trials, "no_metrics": bool(os.environ.get(sc.NO_METRICS_ENV)),
        "concurrency": concurrency, "wall_s": wall,
        "wall_first_s": first["wall_s"], "wall_resume_s": second["wall_s"],
        "trainer_sum_s": trainer, "ideal_s": trainer / concurrency,
        "efficiency": wall / (trainer / concurrency),
        "overhead_per_trial_s": (wall * concurrency - trainer) / trials,
        "trainer_median_s": float(df["train_wall_time_s"].median()),
        "snapshots": len(snaps), "snapshot_total_s": float(snaps["s"].sum()),
        "snapshot_last_s": float(snaps["s"].iloc[-1]) if len(snaps) else 0.0,
        "snapshot_max_s": float(snaps["s"].max()) if len(snaps) else 0.0,
        "snapshot_last_bytes": int(snaps["bytes"].iloc[-1]) if len(snaps) else 0,
        "state_file_bytes": state[-1].stat().st_size if state else 0,
        "max_driver_fds": max(first["max_fds"], second["max_fds"]),
        "max_tree_fds": max(first["max_tree_fds"], second["max_tree_fds"]),
        "folder_bytes": stored, "bytes_per_trial": stored / trials,
        "console_lines": len(lines),
        "warning_lines": sum("WARNING" in line for line in lines),
        "warnings": [line for line in lines if "WARNING" in line][:5],
        "interrupted_at": first["interrupted_at"], "exit_first": first["code"],
        "once": once,
    }


def print_scale(f: dict) -> None:
    mb = 1e6
    print(f"trials: {f['trials']}, {f['concurrency']} concurrent; trainer time per trial: "
          f"median {f['trainer_median_s']:.2f} s")
    print(f"driver wall: {f['wall_s']:.0f} s ({f['wall_first_s']:.0f} s, Ctrl-C at "
          f"{f['interrupted_at']} done, then {f['wall_resume_s']:.0f} s resumed); ideal "
          f"(sum trainer / concurrency): {f['ideal_s']:.0f} s")
    print(f"efficiency: {f['efficiency']:.3f} (target <= 1.3); overhead per trial: "
          f"{f['overhead_per_trial_s']:.2f} s of a slot")
    print(f"experiment-state snapshots: {f['snapshots']}, {f['snapshot_total_s']:.1f} s in all "
          f"(the driver's), last {f['snapshot_last_s']:.2f} s for "
          f"{f['snapshot_last_bytes'] / mb:.1f} MB; max {f['snapshot_max_s']:.2f} s")
    print(f"open files: driver at most {f['max_driver_fds']}, driver and its Ray processes at "
          f"most {f['max_tree_fds']}")
    print(f"experiment folder: {f['folder_bytes'] / mb:.0f} MB, "
          f"{f['bytes_per_trial'] / mb:.2f} MB per trial")
    print(f"console: {f['console_lines']} lines over both runs, {f['warning_lines']} WARNING")
    for line in f["warnings"]:
        print(f"  {line[:200]}")
    o = f["once"]
    print(f"exactly once: {o['rows']} rows, {o['unique_trials']} trials, status {o['status']}; "
          f"finished once {o['finished_once']}, twice or more {o['finished_twice_or_more']}, "
          f"never {o['finished_never']}; {o['finished_before_interrupt']} finished before "
          f"Ctrl-C, {o['retrained_after_interrupt']} of them trained again")


if __name__ == "__main__":
    sys.exit(main())
