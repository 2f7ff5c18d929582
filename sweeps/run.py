"""Run a named sweep with Ray Tune, on this machine or on a running Ray cluster.

    python sweeps/run.py --space lvae_reg --preset local
    python sweeps/run.py --space lvae_reg --preset paper --address auto --storage s3://bucket/lvae
    python sweeps/run.py --list
    python -m sweeps.run --list          # the same

Every trial trains one (objective, hyperparameters, architecture, seed) with lvae's
trainer, reports losses and the effective beta while it trains, and its metrics at the
end. The experiment folder gets results.csv (one row per trial), each trial's TensorBoard
events, and an HTML report. Ctrl-C stops cleanly; rerun with --resume to continue.

Spaces that hold L-VAE next to fixed-beta cells then train each L-VAE cell's beta-matched
twin (a beta-VAE at its median learned beta, same seeds) as a second stage into the same
folder (sweeps/twins.py); --no-matched leaves them out.

The request is checked in sweeps/cli.py and sweeps/plan.py, the Tune experiments are built
in sweeps/tuner.py and run in sweeps/stages.py, Ctrl-C is handled in sweeps/interrupt.py,
and the end (results.csv, summary, report) is sweeps/summary.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from lvae.cli import InputError, run_cli
from sweeps.cli import build_parser, list_spaces, resume_command
from sweeps.interrupt import CtrlC, discard_unstarted
from sweeps.plan import plan_sweep, tune_states
from sweeps.stages import fit_stage, twin_tuner
from sweeps.summary import summarise
from sweeps.tuner import make_tuner, start_ray


def run_sweep(args: argparse.Namespace) -> int:
    """Plan, start and run the sweep (both stages), then summarise it; the exit code."""
    plan = plan_sweep(args)
    exp = plan.exp
    from sweeps import fullstorage
    from sweeps.progress import quiet_tune
    from sweeps.results import SWEEP_FILE, write_sweep_file

    resume = resume_command(args, plan.name)
    space, preset = plan.space, plan.preset
    twins = f", then up to {space.num_twins(preset, args.seeds)} beta-matched twins"
    print(f"sweep {space.name} ({preset.name}): {space.num_trials(preset, args.seeds)} trials"
          f"{twins if plan.twin_sources else ''} -> {exp.uri}", flush=True)
    # once the twins' stage has started, the first stage had finished: only the twins resume
    twins_started = args.resume and bool(tune_states(plan.twin_exp))
    fullstorage.install()  # its log filters see Tune's errors before quiet_tune's trim them
    quiet_tune()
    try:
        start_ray(args)
        if not args.resume:
            write_sweep_file(exp.local_dir, plan.settings)
            exp.upload(SWEEP_FILE)
        first = None if twins_started else make_tuner(space, preset, args, exp, resume=args.resume)
    except KeyboardInterrupt:
        if not args.resume:
            discard_unstarted(exp)
        raise
    with CtrlC(f"Continue with: {resume}") as ctrl_c:
        t0 = time.perf_counter()

        def summary() -> int:
            return summarise(plan, args, time.perf_counter() - t0, resume, ctrl_c)

        try:
            if first is not None:
                fit_stage(first, exp, ctrl_c, summary)
            second = twin_tuner(plan, args, resume=twins_started)
            if second is not None:
                fit_stage(second, plan.twin_exp, ctrl_c, summary)
        except fullstorage.StorageFull as full:
            return fullstorage.stop(plan, full.stage, resume)
        return summary()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print(list_spaces())
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("tensorboard").setLevel(logging.WARNING)  # its event reader chats at INFO
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no Tune TensorBoard events
    # bad requests are InputErrors (SweepError, StorageError); anything else after Ray
    # started is a failure worth its traceback
    return run_cli(lambda: run_sweep(args), expected=(InputError,),
                   on_interrupt=lambda: "the sweep had not started; run the same command again")


if __name__ == "__main__":
    sys.exit(main())
