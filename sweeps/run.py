"""Run a named sweep with Ray Tune, on this machine or on a running Ray cluster.

    python sweeps/run.py --space lvae_reg --preset local
    python sweeps/run.py --space lvae_reg --preset paper --address auto --storage s3://bucket/lvae
    python sweeps/run.py --list

Every trial trains one (objective, hyperparameters, architecture, seed) with lvae's
trainer, reports losses and the effective beta while it trains, and its metrics at the
end. The experiment folder gets results.csv (one row per trial), each trial's TensorBoard
events, and an HTML report. Ctrl-C stops cleanly; rerun with --resume to continue.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python sweeps/run.py` from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweeps.presets import PRESETS, Preset, get_preset  # noqa: E402
from sweeps.spaces import SPACES, Space, get_space, seeds_for  # noqa: E402
from sweeps.storage import ExperimentStorage  # noqa: E402

log = logging.getLogger("sweeps.run")

EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
OPTUNA_METRICS_DEFAULT = "metric.dci.disentanglement"


class SweepError(Exception):
    """A problem with the request, reported before anything starts."""


# ------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python sweeps/run.py",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Spaces: " + "; ".join(f"{s.name}: {s.question}" for s in SPACES.values()),
    )
    p.add_argument("--space", help=f"named search space: {', '.join(SPACES)} (required unless --list)")
    p.add_argument("--list", action="store_true", help="list every space, its question and trial counts")
    p.add_argument("--preset", default="local", choices=list(PRESETS),
                   help="scale: smoke (seconds/trial, tests), local (laptop, <20 min), paper (300k steps, 10 seeds)")
    p.add_argument("--dataset", default="dsprites_procedural", help="dataset name (default dsprites_procedural)")
    p.add_argument("--data-root", default=None, help="data folder on every node (default $LVAE_DATA or ~/.cache/lvae)")
    p.add_argument("--storage", default="results",
                   help="experiment storage: local folder, or URI every node reaches (s3://..., gs://...); default ./results")
    p.add_argument("--name", default=None, help="experiment name (default <space>-<preset>)")
    p.add_argument("--resume", action="store_true", help="continue an interrupted experiment (same --storage/--name)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join ('auto' or host:port); default: start a local Ray sized to this machine")
    p.add_argument("--cpus-per-trial", type=int, default=1, help="CPUs per trial; also torch threads (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0,
                   help="GPUs per trial, fractions allowed (0.5: two trials share a GPU); default 0")
    p.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: the preset's)")
    p.add_argument("--max-concurrent", type=int, default=None, help="at most this many trials at once")
    p.add_argument("--steps", type=int, default=None, help="override the preset's training steps per trial")
    p.add_argument("--metric", default=None,
                   help=f"lvae_optuna only: metric to maximise (default {OPTUNA_METRICS_DEFAULT})")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report at the end")
    return p


def list_spaces() -> str:
    lines = []
    for space in SPACES.values():
        counts = ", ".join(f"{p}: {space.num_trials(PRESETS[p])} trials" for p in PRESETS)
        lines.append(f"{space.name:12s} {space.question}\n{'':12s} ({counts})")
    return "\n".join(lines)


def validate(args: argparse.Namespace) -> tuple[Space, Preset]:
    """Every check that needs no Ray and no training; raises SweepError."""
    from lvae.data import dataset_names

    if not args.space:
        raise SweepError("--space is required (see --list)")
    try:
        space, preset = get_space(args.space), get_preset(args.preset)
    except KeyError as exc:
        raise SweepError(exc.args[0]) from None
    if args.dataset not in dataset_names():
        raise SweepError(f"unknown dataset {args.dataset!r}; valid names: {', '.join(dataset_names())}")
    if args.cpus_per_trial < 1:
        raise SweepError(f"--cpus-per-trial must be >= 1, got {args.cpus_per_trial}")
    if args.gpus_per_trial < 0:
        raise SweepError(f"--gpus-per-trial must be >= 0, got {args.gpus_per_trial}")
    if args.gpus_per_trial > 1 and args.gpus_per_trial != int(args.gpus_per_trial):
        raise SweepError(f"--gpus-per-trial above 1 must be a whole number, got {args.gpus_per_trial}")
    if args.seeds is not None and args.seeds < 1:
        raise SweepError(f"--seeds must be >= 1, got {args.seeds}")
    if args.max_concurrent is not None and args.max_concurrent < 1:
        raise SweepError(f"--max-concurrent must be >= 1, got {args.max_concurrent}")
    if args.steps is not None and args.steps < 1:
        raise SweepError(f"--steps must be >= 1, got {args.steps}")
    if args.metric and space.kind != "optuna":
        raise SweepError(f"--metric only applies to the lvae_optuna space, not {space.name!r}")
    if args.metric and not args.metric.startswith("metric."):
        raise SweepError(f"--metric must name a reported metric such as {OPTUNA_METRICS_DEFAULT}, got {args.metric!r}")
    return space, preset


def check_address(address: str) -> None:
    """Fail fast (seconds, not minutes of retries) when a host:port cluster is unreachable."""
    if address == "auto" or "://" in address:
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"--address must be 'auto' or host:port, got {address!r}")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as exc:
        raise SweepError(f"cannot reach a Ray cluster at {address}: {exc}") from None


# ------------------------------------------------------------- building
def train_settings(args: argparse.Namespace, preset: Preset) -> dict[str, Any]:
    """The TrainConfig fields shared by every trial of the sweep."""
    return {
        "dataset": args.dataset,
        "data_root": args.data_root,
        "latent_dim": 10,
        "batch_size": preset.batch_size,
        "steps": args.steps or preset.steps,
        "lr": preset.lr,
        "objective_lr": preset.objective_lr,
        "log_every": preset.log_every,
        "checkpoint_every": preset.checkpoint_every,
        "image_every": preset.image_every,
        "evaluate": list(preset.metrics),
        "eval_num_train": preset.eval_num_train,
        "eval_num_test": preset.eval_num_test,
        "eval_options": dict(preset.eval_options),
    }


def param_space(space: Space, preset: Preset, args: argparse.Namespace) -> dict[str, Any]:
    from ray import tune

    train = train_settings(args, preset)
    if space.kind == "optuna":
        return {
            "train": {**train, "lr": tune.loguniform(1e-5, 3e-3)},
            "cell": {
                "objective": "lvae",
                "architecture": "conv",
                "label": "lvae_optuna",
                "objective_params": {
                    "lambda": tune.loguniform(1e-4, 10.0),
                    "init_s_kl": tune.uniform(-2.0, 2.0),
                },
            },
        }
    return {
        "train": train,
        "cell": tune.grid_search(space.cells(preset)),
        "seed": tune.grid_search(seeds_for(space, preset, args.seeds)),
    }


def trial_dirname(trial) -> str:
    cell = trial.config.get("cell", {})
    seed = trial.config.get("seed", trial.config.get("__trial_index__", 0))
    return f"{trial.trial_id}_{cell.get('label', 'trial')}_seed={seed}"


def make_tuner(space: Space, preset: Preset, args: argparse.Namespace, exp: ExperimentStorage, resume: bool):
    from ray import tune

    from sweeps.trainable import lvae_trainable

    resources = {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial}
    trainable = tune.with_resources(lvae_trainable, resources)
    if resume:
        return tune.Tuner.restore(exp.uri, trainable=trainable, resume_errored=True)
    search_alg, metric, mode = None, None, None
    n_seeds = len(seeds_for(space, preset, args.seeds))
    num_samples = 1
    if space.kind == "optuna":
        from ray.tune.search import Repeater
        from ray.tune.search.optuna import OptunaSearch

        os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")  # progress reports carry no metric
        metric, mode = args.metric or OPTUNA_METRICS_DEFAULT, "max"
        search_alg = Repeater(OptunaSearch(metric=metric, mode=mode, seed=0), repeat=n_seeds)
        num_samples = preset.optuna_samples * n_seeds
    return tune.Tuner(
        trainable,
        param_space=param_space(space, preset, args),
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            metric=metric,
            mode=mode,
            num_samples=num_samples,
            max_concurrent_trials=args.max_concurrent,
            trial_dirname_creator=trial_dirname,
            reuse_actors=True,  # halves trial start-up: a finished trial's process takes the next
        ),
        run_config=tune.RunConfig(
            name=exp.name,
            storage_path=exp.storage,
            sync_config=tune.SyncConfig(sync_artifacts=True),
            failure_config=tune.FailureConfig(max_failures=2),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
            verbose=1,
        ),
    )


def start_ray(args: argparse.Namespace) -> None:
    import ray

    if args.address:
        ray.init(address=args.address, log_to_driver=True)
    else:
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, object_store_memory=256 * 2**20)


def prepare_dataset(args: argparse.Namespace) -> None:
    """Open (and for the procedural dSprites, build) the dataset once before trials start,
    so bad files fail here and concurrent trials don't all build the same cache."""
    from lvae.data import get_dataset

    t0 = time.perf_counter()
    dataset = get_dataset(args.dataset, args.data_root)
    print(f"dataset {args.dataset}: {len(dataset)} images ready ({time.perf_counter() - t0:.1f} s)", flush=True)


# ------------------------------------------------------------------ main
def run(args: argparse.Namespace) -> int:
    space, preset = validate(args)
    name = args.name or f"{space.name}-{preset.name}"
    exp = ExperimentStorage.create(args.storage, name)
    from sweeps.results import read_sweep_file, write_results, write_sweep_file

    settings = {
        "space": space.name, "preset": preset.name, "dataset": args.dataset, "data_root": args.data_root,
        "seeds": seeds_for(space, preset, args.seeds), "metric": args.metric, "steps": args.steps,
        "cpus_per_trial": args.cpus_per_trial, "gpus_per_trial": args.gpus_per_trial,
    }
    if args.resume:
        exp.download()
        try:
            saved = read_sweep_file(exp.local_dir)
        except FileNotFoundError as exc:
            raise SweepError(f"--resume: {exp.uri} is not an experiment of this tool ({exc})") from None
        from ray.tune import Tuner

        if not Tuner.can_restore(exp.uri):
            raise SweepError(f"--resume: {exp.uri} holds no Tune experiment state to restore")
        if saved.get("space") != space.name or saved.get("preset") != preset.name:
            raise SweepError(
                f"--resume: {exp.uri} is a {saved.get('space')}/{saved.get('preset')} sweep, "
                f"not {space.name}/{preset.name}"
            )
    elif exp.exists():
        raise SweepError(f"experiment {exp.uri} already exists: pass --resume to continue it, or another --name")
    if args.address:
        check_address(args.address)
    else:
        prepare_dataset(args)

    print(f"sweep {space.name} ({preset.name}): {space.num_trials(preset, args.seeds)} trials -> {exp.uri}", flush=True)
    start_ray(args)
    if not args.resume:
        write_sweep_file(exp.local_dir, settings)
        exp.upload("sweep.json")
    tuner = make_tuner(space, preset, args, exp, resume=args.resume)
    t0 = time.perf_counter()
    tuner.fit()
    wall = time.perf_counter() - t0

    exp.download()
    results_path, df = write_results(exp.local_dir)
    exp.upload("results.csv")
    counts = df["status"].value_counts().to_dict() if len(df) else {}
    print(f"\n{len(df)} trials in {wall:.0f} s: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    for _, row in df[df["status"] == "ERROR"].iterrows():
        print(f"  ERROR {row['trial_id']} ({row['cell']}, seed {row['seed']}): {row['error']}")
    print(f"results:     {exp.local_dir / 'results.csv'}" + (f"  (and {exp.uri})" if exp.remote else ""))
    print(f"tensorboard: tensorboard --logdir {exp.uri}")
    unfinished = [s for s in counts if s not in ("TERMINATED", "ERROR")]
    code = 0
    if not args.no_report:
        code = write_report(exp)
    if unfinished:
        print(f"interrupted: {sum(counts[s] for s in unfinished)} trials unfinished; continue with "
              f"python sweeps/run.py --space {space.name} --preset {preset.name} --storage {args.storage} "
              f"--name {name} --resume")
        return EXIT_INTERRUPTED
    return code


def write_report(exp: ExperimentStorage) -> int:
    try:
        from analysis.report import write_report as _write

        path = _write([exp.local_dir], exp.local_dir / "report")
    except Exception as exc:  # noqa: BLE001 - the sweep's results are safe; say what failed
        log.exception("report failed")
        print(f"report: FAILED ({type(exc).__name__}: {exc}); results.csv is complete", file=sys.stderr)
        return 1
    exp.upload("report")
    print(f"report:      {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print(list_spaces())
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("tensorboard").setLevel(logging.WARNING)  # its event reader chats at INFO
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        return run(args)
    except SweepError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
