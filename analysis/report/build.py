"""Robustness report for one or more finished experiments.

    python -m analysis.report EXP_DIR [EXP_DIR ...] --out DIR

Writes DIR/report.html (self-contained: figures inlined) and every table as DIR/<name>.csv.
The sweep calls :func:`write_report` in-process when it ends.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.io.files import write_csv_atomic, write_text_atomic
from analysis.io.load import ExperimentError, load_experiments
from analysis.io.table import with_cells
from analysis.report import answer_sections as ans
from analysis.report import evidence_sections as ev
from analysis.report import model_sections as ms
from analysis.report import overview_sections as ov
from analysis.report import robustness_sections as rb
from analysis.report.context import ReportOptions, make_context
from analysis.report.html import Section, render
from analysis.report.stability_section import stability_section, start_stability
from analysis.report.text import report_title
from analysis.studies.stability import SAMPLES_PER_FIT
from lvae.cli import check_output_dir, run_cli
from lvae.contract import RESULTS_FILE

REPORT_NAME = "report.html"
TIMINGS_NAME = "report_timings"
log = logging.getLogger(__name__)


#: the report's sections in order: what the numbers are worth first (scale, controls, headline)
SECTIONS = [
    ans.dose_response_section, ov.scale_section, ev.controls_section, ev.headline_section,
            ov.overview_section,
    ov.distributions_section, rb.variance_section, rb.sensitivity_section, rb.selection_section,
    ev.beta_vs_vae_section, rb.agreement_section, ov.dynamics_section, ev.metric_curves_section,
    stability_section, ans.floor_section, ms.udr_section, ms.traversals_section,
]
#: started before the sections above are built: slow work that runs in worker processes
#: while the main process builds the sections before the one that collects it
BACKGROUND = [start_stability]


def build_report(df: pd.DataFrame, options: ReportOptions) -> tuple[str, list[Section]]:
    """The title and all sections for a trial table (from
    :func:`analysis.io.load.load_experiments`), each section with the wall and CPU seconds it
    took (``Section.seconds``): the report runs at the end of every sweep, so its cost is
    measured where it is spent."""
    df = df if "cell" in df.columns else with_cells(df)
    ctx = make_context(df, options)
    for start in BACKGROUND:
        start(df, ctx)
    sections = []
    for build in SECTIONS:
        t0, c0 = time.perf_counter(), time.thread_time()
        section = build(df, ctx)
        section.seconds, section.cpu_seconds = time.perf_counter() - t0, time.thread_time() - c0
        sections.append(section)
    return report_title(df, ctx), sections


def timings_table(sections: Sequence[Section]) -> pd.DataFrame:
    """Wall and CPU seconds per section, as written to report_timings.csv."""
    return pd.DataFrame({"section": [s.title for s in sections],
                         "seconds": [s.seconds for s in sections],
                         "cpu_seconds": [s.cpu_seconds for s in sections]})


def check_has_trials(df: pd.DataFrame, exp_dirs: Sequence[str | os.PathLike]) -> None:
    """Refuse an experiment without trial rows: it would give a full report of empty tables."""
    found = set(df["exp_dir"]) if len(df) else set()
    for exp_dir in exp_dirs:
        if str(Path(exp_dir).expanduser().resolve()) not in found:
            raise ExperimentError(
                f"{Path(exp_dir) / RESULTS_FILE}: a header but no trial rows; expected one row per "
                "trial (did the sweep start any trial?)"
            )


def write_report(
    exp_dirs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, **options: Any
) -> Path:
    """Write the HTML report and its CSV tables into ``out_dir``; returns the HTML path.

    ``options`` are the fields of :class:`analysis.report.context.ReportOptions`
    (e.g. ``models=False`` to skip everything that loads checkpoints).
    """
    valid = {f.name for f in fields(ReportOptions)}
    unknown = sorted(set(options) - valid)
    if unknown:
        raise TypeError(f"write_report: unknown option(s) {unknown}; valid: {sorted(valid)}")
    opts = ReportOptions(**options)
    check_output_dir(out_dir, "--out")  # now, not after minutes of sections
    df = with_cells(load_experiments(*exp_dirs, keep_apart=opts.keep_apart))
    check_has_trials(df, exp_dirs)
    t0 = time.perf_counter()
    title, sections = build_report(df, opts)
    seconds = time.perf_counter() - t0
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = [name for s in sections for name, _ in s.tables + s.csv_only]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RuntimeError(f"report tables must have distinct names, repeated: {repeated}")
    for s in sections:
        for name, table in s.tables + s.csv_only:
            write_csv_atomic(out / f"{name}.csv", table)
    timings = timings_table(sections)
    write_csv_atomic(out / f"{TIMINGS_NAME}.csv", timings)
    log.info("report sections took %.1f s (the stability re-scoring runs alongside the sections "
             "before it; each section's time is its own or, for stability, what was left to wait "
             "for): %s", seconds,
             ", ".join(f"{t.split(':')[0]} {s:.1f} s"
                       for t, s in zip(timings["section"], timings["seconds"], strict=True)))
    return write_text_atomic(out / REPORT_NAME, render(title, sections))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m "
                                     "analysis.report", description=__doc__.split("\n\n")[0])
    p.add_argument("exp_dirs", nargs="+", help="experiment folders (each holds results.csv)")
    p.add_argument("--out", required=True, help="folder for report.html and the CSV tables")
    p.add_argument("--metrics", default=None,
                   help="comma-separated metric columns to summarise (default: every metric.* "
                        "column)")
    p.add_argument("--lvae-objective", default="lvae")
    p.add_argument("--fixed-objective", default="beta_vae")
    p.add_argument("--default-lambda", type=float, default=None,
                   help="L-VAE default lambda (default: lvae.objectives' default)")
    p.add_argument("--no-models", action="store_true",
                   help="skip the sections that load checkpoints (stability, UDR, traversals)")
    p.add_argument("--stability-models", type=int, default=6, help=
                   "most models re-scored (default 6; at most a quarter of those with a "
                   "checkpoint, at least 3)")
    p.add_argument("--stability-fits", type=int, default=None,
                   help="DCI re-fits the stability section may spend, the reference's included "
                        f"(default: one per {SAMPLES_PER_FIT:,} training samples the experiment "
                        "ran; docs/analysis.md, 'Report cost')")
    p.add_argument("--parity-probe", action="store_true",
                   help="also re-score DCI with disentanglement_lib's slow GBT probe")
    p.add_argument("--no-figures", action="store_true", help="tables and notes only (fast)")
    p.add_argument("--floor-seeds", default="0,1,2,3,4",
                   help="initialisation seeds of the untrained encoders giving each metric's floor "
                        "(comma-separated; 'none': no floor and ceiling; docs/metrics.md)")
    p.add_argument("--udr-samples", type=int, default=1000, help="observations encoded for UDR")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--keep-apart", action="store_true",
                   help="experiments scored with different metric settings get one labelled "
                        "column per setting (default: refuse to pool them)")
    p.add_argument("--include-collapsed", action="store_true",
                   help="keep trials with a collapsed posterior in summaries and comparisons")
    args = p.parse_args(argv)
    if args.stability_models < 1:
        p.error("--stability-models must be >= 1")
    if args.stability_fits is not None and args.stability_fits < 0:
        p.error("--stability-fits must be >= 0")
    if args.udr_samples < 3:
        p.error("--udr-samples must be >= 3")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # bad input (ExperimentError, PoolingError, DatasetError: ValueErrors; KeyError; OSError)
    # becomes one line and exit code 2 (lvae.cli)
    return run_cli(lambda: _report_cli(args))


def floor_seeds(text: str) -> tuple[int, ...]:
    """``--floor-seeds``: comma-separated non-negative integers, or ``none``."""
    if text.strip().lower() in ("", "none"):
        return ()
    try:
        seeds = tuple(int(t) for t in text.split(","))
    except ValueError:
        seeds = ()
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ValueError(f"--floor-seeds: expected distinct non-negative integers separated by "
                         f"commas, or 'none'; got {text!r}")
    return seeds


def _report_cli(args: argparse.Namespace) -> int:
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    path = write_report(
        args.exp_dirs, args.out, metrics=metrics, lvae=args.lvae_objective,
        fixed=args.fixed_objective, default_lambda=args.default_lambda, models=not args.no_models,
        stability_models=args.stability_models, stability_fits=args.stability_fits,
        floor_seeds=floor_seeds(args.floor_seeds),
        parity_probe=args.parity_probe, udr_samples=args.udr_samples, figures=not args.no_figures,
                        seed=args.seed,
        keep_apart=args.keep_apart, include_collapsed=args.include_collapsed,
    )
    print(f"wrote {path}")
    return 0

