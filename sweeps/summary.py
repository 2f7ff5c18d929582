"""The end of a sweep: results.csv, the printed summary (twins to come included) and the
HTML report, or the command that resumes an interrupted sweep."""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import threading

from lvae.cli import EXIT_INTERRUPTED
from lvae.contract import MATCHED_TO, RESULTS_FILE
from sweeps.interrupt import CtrlC
from sweeps.plan import Plan
from sweeps.storage import ExperimentStorage

log = logging.getLogger("sweeps.run")


def twin_notes(plan: Plan, df) -> tuple[list[str], int]:
    """What the summary says about the twins (those skipped and why, or that they are
    planned once the L-VAE cells have finished), and how many twin trials results.csv
    ``df`` does not list yet (planned, or to be planned: at most one per L-VAE trial)."""
    from sweeps.twins import recorded_plan

    if not plan.twin_sources:
        return [], 0
    recorded = recorded_plan(plan.exp.local_dir)
    n_seeds = len(plan.settings["seeds"])
    if recorded is None:
        cells = len(plan.twin_sources)
        return [f"twins:       planned once the {cells} L-VAE cell(s) have finished; --resume "
                "trains them"], cells * n_seeds
    listed = int(df[MATCHED_TO].notna().sum()) if MATCHED_TO in df.columns else 0
    notes = [f"twins:       {s[MATCHED_TO]} has none: {s['reason']}"
             for s in recorded.get("skipped", [])]
    return notes, max(0, len(recorded.get("trained", [])) * n_seeds - listed)


def summarise(plan: Plan, args: argparse.Namespace, wall: float, resume: str, ctrl_c: CtrlC) -> int:
    """results.csv, the summary lines and the report (skipped when the sweep was interrupted)."""
    from sweeps.results import INTERRUPTED, SWEEP_FILE, add_wall_time, write_results

    exp = plan.exp
    exp.download()
    results_path, df = write_results(exp.local_dir)
    exp.upload(RESULTS_FILE)
    add_wall_time(exp.local_dir, wall)
    exp.upload(SWEEP_FILE)
    counts = df["status"].value_counts().to_dict() if len(df) else {}
    # Tune creates a large sweep's trials as slots free up: an interrupted one has fewer rows
    planned = plan.space.num_trials(plan.preset, args.seeds)
    first_stage = int(df[MATCHED_TO].isna().sum()) if MATCHED_TO in df else len(df)
    not_started = max(0, planned - first_stage)
    by_status = ", ".join([f"{n} {s}" for s, n in counts.items()]
                          + ([f"{not_started} not started"] if not_started else []))
    print(f"\n{len(df) + not_started} trials in {wall:.0f} s: " + by_status)
    for _, row in df[df["status"] == "ERROR"].iterrows():
        print(f"  ERROR {row['trial_id']} ({row['cell']}, seed {row['seed']}): {row['error']}")
    print(f"results:     {results_path}" + (f"  (and {exp.uri})" if exp.remote else ""))
    print(f"tensorboard: tensorboard --logdir {exp.uri}")
    notes, twins_to_come = twin_notes(plan, df)
    for note in notes:
        print(note)
    report_cmd = shlex.join(["python", "-m", "analysis.report", str(exp.local_dir),
                             "--out", str(exp.local_dir / "report")])
    unfinished = sum(n for s, n in counts.items() if s not in ("TERMINATED", "ERROR"))
    unfinished += twins_to_come + not_started
    if unfinished:
        print("report:      skipped (interrupted); --resume builds it at the end, "
              f"or now: {report_cmd}")
        print(f"interrupted: {unfinished} trials unfinished "
              f"({counts.get(INTERRUPTED, 0)} interrupted "
              f"mid-training); continue with {resume}", flush=True)
        return EXIT_INTERRUPTED
    if args.no_report:
        return 0
    ctrl_c.hint = f"results.csv is complete; build the report with: {report_cmd}"
    score_floor(exp, args)
    leave_ray()
    return write_report(exp)


def score_floor(exp: ExperimentStorage, args: argparse.Namespace) -> None:
    """The metrics' floor and ceiling, scored on the cluster before leaving it
    (sweeps/floor.py); a failure is printed and the report names it, the results stand."""
    from lvae.contract import REFERENCE_DIR
    from sweeps.floor import compute_reference

    try:
        compute_reference(exp.local_dir, args)
    except Exception as exc:  # noqa: BLE001 - the report computes what is missing itself
        log.exception("floor and ceiling not scored on the cluster")
        print(f"floor:       FAILED ({type(exc).__name__}: {exc}); the report scores it",
              file=sys.stderr)
        return
    if (exp.local_dir / REFERENCE_DIR).is_dir():
        exp.upload(REFERENCE_DIR)


def leave_ray() -> None:
    """Leave Ray before the report, which needs no cluster: a local Ray's idle processes
    take CPU from the report's metric fits (a joined cluster keeps running). Only from the
    main thread; an interrupted driver kills its Ray processes on exit instead."""
    import ray

    if ray.is_initialized() and threading.current_thread() is threading.main_thread():
        ray.shutdown()


def write_report(exp: ExperimentStorage) -> int:
    try:
        from analysis.report import write_report as _write

        path = _write([exp.local_dir], exp.local_dir / "report")
    except Exception as exc:  # noqa: BLE001 - the sweep's results are safe; say what failed
        log.exception("report failed")
        print(f"report: FAILED ({type(exc).__name__}: {exc}); results.csv is complete",
              file=sys.stderr)
        return 1
    exp.upload("report")
    print(f"report:      {path}")
    return 0
