"""Report cost: seconds per report section, and the report's share of the sweep's wall time.

Builds the report of finished experiment folders ``--repeats`` times (into a temporary
folder) and prints, per section, the median, min and max wall seconds over the repeats,
then the whole report's median against the sweep's wall time:

    ratio = median report seconds / sweep wall seconds     (target <= 0.10)

The sweep's wall time is ``wall_time_s`` in the experiment's sweep.json when the sweep
recorded it, else the span from the first trial's first TensorBoard event file to the
last trial's last file (training and end-of-run metrics; Ray's start-up is not counted,
so the ratio errs high), else the trials' summed ``wall_time_s`` over the concurrency
this machine allows. ``--sweep-seconds`` overrides all of these. On a machine shared with
other work the wall figures grow with its load (printed before and after); ``--n-jobs 1``
keeps every metric fit in this process, and the CPU column then counts all the work.

    .venv/bin/python benchmarks/bench_report.py EXP_DIR [EXP_DIR ...] [--repeats 3]

At scale (docs/cluster.md, "The report at disentanglement_lib's scale"): ``--scale N [N ...]``
builds the whole report (``python -m analysis.report``, a process of its own) on synthetic
studies of N trials (benchmarks/synthetic_study.py; generated once under ``--synthetic-root``
and reused, smaller ones linking the largest's trial folders) and prints per size the wall
seconds and the peak memory of the report's process tree (the sum of its processes' resident
memory, sampled every 0.2 s), then the growth exponents (slopes of log seconds and log memory
against log trials) and, when 12,600 was not measured, the projection to it:

    .venv/bin/python benchmarks/bench_report.py --scale 1000 4000 12600 \
        --synthetic-root /tmp/synth
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analysis.report import TIMINGS_NAME, write_report  # noqa: E402
from benchmarks import synthetic_scale  # noqa: E402
from lvae.contract import RESULTS_FILE  # noqa: E402
from sweeps.results import SWEEP_FILE, WALL_TIME_KEY, recorded_wall_time  # noqa: E402

TARGET = 0.10


def _files_span(exp_dir: Path) -> float | None:
    """Seconds from the first trial file written to the last one (None without trials)."""
    firsts, lasts = [], []
    for run in exp_dir.glob("*/run"):
        events = sorted(run.glob("tb/events.out.tfevents.*"))
        files = [p for p in run.rglob("*") if p.is_file()]
        if not events or not files:
            continue
        firsts.append(min(float(e.name.split(".")[3]) for e in events))
        lasts.append(max(p.stat().st_mtime for p in files))
    return max(lasts) - min(firsts) if firsts else None


def sweep_seconds(exp_dir: Path) -> tuple[float, str]:
    """The sweep's wall time and where it came from (see the module docstring)."""
    recorded = recorded_wall_time(exp_dir)
    if recorded:
        return recorded, f"{SWEEP_FILE} {WALL_TIME_KEY}"
    span = _files_span(exp_dir)
    if span:
        return span, "span of the trials' files (first TensorBoard event to last file)"
    df = pd.read_csv(exp_dir / RESULTS_FILE)
    col = "wall_time_s" if "wall_time_s" in df else "train_wall_time_s"
    concurrency = max(1, os.cpu_count() or 1)
    return float(df[col].sum()) / concurrency, f"sum of {col} / {concurrency} cores"


def run_once(exp_dirs: list[Path], options: dict) -> tuple[tuple[float, float], pd.DataFrame]:
    """One report build: total (wall, CPU) seconds and the per-section timings it wrote."""
    with tempfile.TemporaryDirectory(prefix="bench-report-") as out:
        t0, c0 = time.perf_counter(), time.process_time()
        write_report(exp_dirs, out, **options)
        total = (time.perf_counter() - t0, time.process_time() - c0)
        sections = pd.read_csv(Path(out) / f"{TIMINGS_NAME}.csv")
    return total, sections


def summarise(totals: list[tuple[float, float]], runs: list[pd.DataFrame]) -> pd.DataFrame:
    """Per section (and the rest, and the total): median, min and max wall seconds over the
    builds, and the median CPU seconds of the thread that built the section (the rest: this
    process's other CPU, the background re-scoring thread's included; total: this process)."""
    both = pd.concat(runs)
    both["section"] = both["section"].str.split(":").str[0].str.slice(0, 48)
    g = both.groupby("section", sort=False)
    table = g["seconds"].agg(["median", "min", "max"]).assign(cpu=g["cpu_seconds"].median())
    walls, cpus = [w for w, _ in totals], [c for _, c in totals]
    other = [w - r["seconds"].sum() for w, r in zip(walls, runs, strict=True)]
    other_cpu = [c - r["cpu_seconds"].sum() for c, r in zip(cpus, runs, strict=True)]
    table.loc["(load, render, write, "
              "background)"] = [statistics.median(other), min(other), max(other),
                                          statistics.median(other_cpu)]
    table.loc["total"] = [statistics.median(walls), min(walls), max(walls), statistics.median(cpus)]
    return table


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("exp_dirs", nargs="*", type=Path, help="finished experiment folders")
    p.add_argument("--scale", type=int, nargs="+", default=None, metavar="N",
                   help="measure the whole report on synthetic studies of N trials instead")
    p.add_argument("--synthetic-root", type=Path, default=Path("/tmp/synthetic-study"),
                   help="where the synthetic studies are generated once and reused")
    p.add_argument("--repeats", type=int, default=3,
                   help="report builds (default 3; medians shown)")
    p.add_argument("--sweep-seconds", type=float, default=None, help=
                   "the sweep's wall time, if known")
    p.add_argument("--no-models", action="store_true", help="skip the model-based sections")
    p.add_argument("--n-jobs", type=int, default=None,
                   help="parallel metric fits (default: every core); 1 keeps every fit in this "
                        "process, so the CPU column counts all the work (a figure that a loaded "
                        "machine does not inflate)")
    args = p.parse_args(argv)
    if args.scale:
        return synthetic_scale.run(args.scale, args.synthetic_root, models=not args.no_models)
    if not args.exp_dirs:
        p.error("give experiment folders, or --scale N [N ...]")
    options = {"models": not args.no_models, "n_jobs": args.n_jobs}
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    totals, runs = [], []
    for _ in range(args.repeats):
        total, sections = run_once(args.exp_dirs, options)
        totals.append(total)
        runs.append(sections)
    table = summarise(totals, runs)
    width = max(len(s) for s in table.index)
    print(f"{'section':{width}s}  median     min     max     cpu  (wall s over {args.repeats} "
          "builds; cpu: the section's thread; total: this process)")
    for name, r in table.iterrows():
        print(f"{name:{width}s}  {r['median']:6.2f}  {r['min']:6.2f}  {r['max']:6.2f}  "
              f"{r['cpu']:6.2f}")
    if args.sweep_seconds:
        sweep, source = args.sweep_seconds, "--sweep-seconds"
    else:
        found = [sweep_seconds(d) for d in args.exp_dirs]
        sweep, source = sum(s for s, _ in found), "; ".join(sorted({src for _, src in found}))
    ratio = table.loc["total", "median"] / sweep
    print(f"sweep wall time: {sweep:.0f} s ({source})")
    print(f"report / sweep: {ratio:.3f} (target <= {TARGET}) "
          f"{'PASS' if ratio <= TARGET else 'FAIL'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
