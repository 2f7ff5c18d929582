"""The sweep's stages: each Tune experiment run to its end (or to Ctrl-C), and the
beta-matched twins' stage planned from the first stage's results (:mod:`sweeps.twins`)."""

from __future__ import annotations

import argparse
import signal
from collections.abc import Callable

from lvae.contract import RESULTS_FILE
from sweeps.interrupt import CtrlC, InterruptWatch
from sweeps.plan import Plan
from sweeps.spaces import Cell
from sweeps.storage import ExperimentStorage
from sweeps.tuner import make_twin_tuner


def fit_stage(tuner, stage: ExperimentStorage, ctrl_c: CtrlC, summary: Callable[[], int]) -> None:
    """Run one Tune experiment to its end; after Ctrl-C, summarise and exit (130); when
    the storage filled up, raise StorageFull (whatever Tune raised on the way out)."""
    from sweeps import fullstorage
    from sweeps.results import quiet_unstarted_trials

    watch = InterruptWatch(ctrl_c, stage, summary)
    watch.start()
    try:
        with quiet_unstarted_trials():  # fit() ends by reading every trial's results
            tuner.fit()
    except Exception:
        if not fullstorage.detected():  # e.g. ResultGrid's EOFError on a truncated error file
            raise
    finally:
        watch.done.set()
    signal.signal(signal.SIGINT, ctrl_c)  # after a normal end Tune's handler stays installed
    if fullstorage.detected():
        raise fullstorage.StorageFull(stage)
    if watch.interrupted:
        watch.finish()


def twin_tuner(plan: Plan, args: argparse.Namespace, resume: bool):
    """The twins' stage once the first has finished: restored if it had started, else
    planned from the first stage's results (None when no twin is to be trained)."""
    if resume:
        return make_twin_tuner(plan, args, [], resume=True)
    if not plan.twin_sources:
        return None
    twins = plan_twin_stage(plan)
    return make_twin_tuner(plan, args, twins, resume=False) if twins else None


def plan_twin_stage(plan: Plan) -> list[Cell]:
    """Each L-VAE cell's twin from the finished first stage (results.csv rewritten from
    it); the plan and every skipped cell's reason go to sweep.json and are printed."""
    from sweeps.results import SWEEP_FILE, write_results
    from sweeps.twins import plan_twins, record_plan

    exp = plan.exp
    exp.download()
    _, df = write_results(exp.local_dir)
    exp.upload(RESULTS_FILE)
    twins = plan_twins(df, plan.twin_sources)
    record_plan(exp.local_dir, twins)
    exp.upload(SWEEP_FILE)
    for line in twins.lines():
        print(line, flush=True)
    return twins.twins
