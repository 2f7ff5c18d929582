"""The report's cost against the number of trials, on synthetic studies
(``benchmarks/bench_report.py --scale``; docs/cluster.md, "The report at disentanglement_lib's
scale"). The report runs as a user runs it, ``python -m analysis.report``, in a process of its
own; its memory is the sum of the resident memory of that process and its children (the
re-scoring workers), sampled every 0.2 s, so work in worker processes counts. Its CPU seconds
(user + system, the workers' included) are printed next to the wall seconds: on a machine shared
with other work the wall time measures the load, the CPU time the report."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from benchmarks.synthetic_study import FULL, generate
from lvae.contract import RESULTS_FILE

#: acceptance at 12,600 trials (issue 21): minutes and GiB on 2 cores
LIMIT_S, LIMIT_GIB = 600.0, 4.0


def study(root: Path, trials: int, largest: int) -> Path:
    """The synthetic study of ``trials`` trials under ``root``, generated on first use (a
    smaller one links the largest one's trial folders)."""
    folder = root / f"trials-{trials}"
    if (folder / RESULTS_FILE).is_file():
        return folder
    big = root / f"trials-{largest}"
    if trials != largest:
        study(root, largest, largest)
    t0 = time.perf_counter()
    generate(folder, trials, link_from=big if trials != largest else None)
    print(f"generated {folder} in {time.perf_counter() - t0:.0f} s", flush=True)
    return folder


def _tree_rss(proc: psutil.Process) -> int:
    """Resident bytes of a process and all its children now."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(exp_dir: Path, models: bool = True) -> tuple[float, float, float, int]:
    """(wall seconds, CPU seconds, peak GiB of the process tree, exit code) of one report."""
    with tempfile.TemporaryDirectory(prefix="bench-report-scale-") as out:
        cmd = [sys.executable, "-m", "analysis.report", str(exp_dir), "--out", out]
        if not models:
            cmd.append("--no-models")
        t0, c0 = time.perf_counter(), _children_cpu()
        proc = subprocess.Popen(cmd, cwd=Path(__file__).resolve().parents[1],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ps, peak = psutil.Process(proc.pid), 0
        while proc.poll() is None:
            peak = max(peak, _tree_rss(ps))
            time.sleep(0.2)
        seconds, cpu = time.perf_counter() - t0, _children_cpu() - c0
        err = proc.stderr.read() if proc.stderr else ""
        if proc.returncode:
            print(f"report on {exp_dir} failed ({proc.returncode}): {err[-2000:]}")
        else:
            print(f"  slowest sections: {slowest_sections(Path(out))}")
    return seconds, cpu, peak / 2**30, proc.returncode


def slowest_sections(out: Path, top: int = 4) -> str:
    """The report's ``top`` sections by wall seconds (its report_timings.csv)."""
    from analysis.report import TIMINGS_NAME

    timings = pd.read_csv(out / f"{TIMINGS_NAME}.csv").nlargest(top, "seconds")
    return ", ".join(f"{t.split(':')[0][:40]} {s:.1f} s"
                     for t, s in zip(timings["section"], timings["seconds"], strict=True))


def exponent(trials: Sequence[int], values: Sequence[float]) -> float:
    """Slope of log(value) against log(trials): 1 is linear growth."""
    return float(np.polyfit(np.log(trials), np.log(values), 1)[0])


def project(trials: Sequence[int], values: Sequence[float], to: int = FULL) -> float:
    """``values`` extended to ``to`` trials along the fitted power law."""
    slope, intercept = np.polyfit(np.log(trials), np.log(values), 1)
    return float(np.exp(intercept + slope * np.log(to)))


def run(sizes: Sequence[int], root: Path, models: bool = True) -> int:
    """Measure every size, print the table, exponents and the 12,600-trial figure."""
    sizes = sorted(set(sizes))
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    rows = []
    for n in sizes:
        folder = study(root, n, sizes[-1])
        seconds, cpu, gib, code = measure(folder, models)
        rows.append((n, seconds, cpu, gib))
        print(f"{n:>6d} trials  {seconds:8.1f} s wall  {cpu:8.1f} s CPU  {gib:6.2f} GiB peak"
              f"{'' if code == 0 else f'  (exit {code})'}", flush=True)
    if len(rows) < 2:
        return 0
    n, walls, cpus, gibs = zip(*rows, strict=True)
    print(f"growth exponents: wall {exponent(n, walls):.2f}, CPU {exponent(n, cpus):.2f}, "
          f"memory {exponent(n, gibs):.2f} (slope of log value against log trials; 1 = linear)")
    measured = n[-1] == FULL
    at_full = [v[-1] if measured else project(n, v) for v in (walls, cpus, gibs)]
    ok = min(at_full[0], at_full[1]) <= LIMIT_S and at_full[2] <= LIMIT_GIB
    print(f"at {FULL:,} trials ({'measured' if measured else 'projected from the exponents'}): "
          f"{at_full[0]:.0f} s wall, {at_full[1]:.0f} s CPU, {at_full[2]:.2f} GiB (limits "
          f"{LIMIT_S:.0f} s, {LIMIT_GIB:.0f} GiB) {'PASS' if ok else 'FAIL'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1
