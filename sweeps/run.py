"""Run a named sweep with Ray Tune, on this machine or on a running Ray cluster.

    python sweeps/run.py --space lvae_reg --preset local
    python sweeps/run.py --space lvae_reg --preset paper --address auto --storage s3://bucket/lvae
    python sweeps/run.py --list

Every trial trains one (objective, hyperparameters, architecture, seed) with lvae's
trainer, reports losses and the effective beta while it trains, and its metrics at the
end. The experiment folder gets results.csv (one row per trial), each trial's TensorBoard
events, and an HTML report. Ctrl-C stops cleanly; rerun with --resume to continue.

Spaces that hold L-VAE next to fixed-beta cells then train each L-VAE cell's beta-matched
twin (a beta-VAE at its median learned beta, same seeds) as a second stage into the same
folder (sweeps/twins.py); --no-matched leaves them out.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import shlex
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python sweeps/run.py` from a checkout that is not installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from lvae.cli import EXIT_INTERRUPTED, InputError, error_line, parse_json, run_cli  # noqa: E402
from lvae.contract import MATCHED_TO, METRIC_PREFIX, RESULTS_FILE  # noqa: E402
from sweeps.presets import PRESETS, Preset, get_preset  # noqa: E402
from sweeps.spaces import SPACES, Cell, Space, get_space, seeds_for, twin_sources  # noqa: E402
from sweeps.storage import ExperimentStorage, check_storage  # noqa: E402

log = logging.getLogger("sweeps.run")

OPTUNA_METRICS_DEFAULT = METRIC_PREFIX + "dci.disentanglement"
#: settings baked into the trials when the sweep starts: a --resume that asks for other
#: values would silently keep the saved ones, so it is refused instead
FIXED_ON_RESUME = ("dataset", "data_root", "seeds", "metric", "steps", "matched")
#: after Ctrl-C, how long to wait for Tune to save the experiment state (it takes < 1 s)
STATE_SAVE_TIMEOUT_S = 5.0


class SweepError(InputError):
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
                   help="scale: " + "; ".join(f"{pr.name} ({pr.description})" for pr in PRESETS.values()))
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
    p.add_argument("--no-matched", action="store_true",
                   help="train no beta-matched twins (a beta-VAE at each L-VAE cell's median "
                   "learned beta, on its seeds)")
    return p


def trial_counts(space: Space, preset: Preset, seeds: int | None = None) -> str:
    """'14 trials + 6 twins': the sweep's trials and the beta-matched twins it trains at most."""
    twins = space.num_twins(preset, seeds)
    trials = f"{space.num_trials(preset, seeds)} trials"
    return trials + (f" + {twins} twin{'s' if twins > 1 else ''}" if twins else "")


def list_spaces() -> str:
    lines = []
    for space in SPACES.values():
        counts = ", ".join(f"{p}: {trial_counts(space, PRESETS[p])}" for p in PRESETS)
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
    if args.steps is not None:  # one run length everywhere, incl. the controllers' time scale
        preset = dataclasses.replace(preset, steps=args.steps)
    check_metric(space, preset, args.metric)
    check_local_resources(args)
    if args.name is not None:
        check_name(args.name)
    if args.data_root is not None and Path(args.data_root).expanduser().is_file():
        raise SweepError(f"--data-root {args.data_root} is a file; expected the data folder")
    return space, preset


def check_metric(space: Space, preset: Preset, metric: str | None) -> None:
    """An Optuna space maximises a metric the preset computes (its default included)."""
    if space.kind != "optuna":
        if metric:
            raise SweepError(f"--metric only applies to the lvae_optuna space, not {space.name!r}")
        return
    from lvae.metrics.registry import result_keys

    valid = [METRIC_PREFIX + key for key in result_keys(preset.metrics)]
    chosen = metric or OPTUNA_METRICS_DEFAULT
    if chosen not in valid:
        which = f"--metric {chosen!r}" if metric else f"the default --metric {chosen!r}"
        raise SweepError(f"{which} is not a metric the {preset.name} preset computes; "
                         f"valid metrics: {', '.join(valid)}")


def check_local_resources(args: argparse.Namespace) -> None:
    """A local Ray (no --address) is sized to this machine: a trial asking for more CPUs
    or GPUs than it has would wait for them forever."""
    if args.address:
        return
    cpus = os.cpu_count() or 1
    if args.cpus_per_trial > cpus:
        raise SweepError(f"--cpus-per-trial {args.cpus_per_trial} is more than the {cpus} CPUs "
                         "of this machine, where the local Ray runs; pass at most that, or "
                         "--address a cluster")
    gpus = local_gpus() if args.gpus_per_trial > 0 else None
    if gpus is not None and args.gpus_per_trial > gpus:
        raise SweepError(f"--gpus-per-trial {args.gpus_per_trial:g} is more than the {gpus} "
                         "GPU(s) Ray finds on this machine, where the local Ray runs; lower it "
                         "(0 trains on CPU), or --address a cluster")


def local_gpus() -> int | None:
    """The GPUs a local Ray would find, counted as Ray counts them (None: cannot tell)."""
    try:
        from ray._private.accelerators import get_accelerator_manager_for_resource

        manager = get_accelerator_manager_for_resource("GPU")
        visible = manager.get_current_process_visible_accelerator_ids()
        if visible is not None:
            return len(visible)
        return int(manager.get_current_node_num_accelerators())
    except Exception:  # noqa: BLE001 - Ray's private API moved: leave the check to Ray
        return None


def check_name(name: str) -> None:
    """The experiment name is one folder under --storage."""
    if not name.strip() or name in (".", "..") or "/" in name or os.sep in name or name != name.strip():
        raise SweepError(f"--name {name!r} must be a single folder name (no '/', not '.' or '..', no outer spaces)")


def check_address(address: str) -> None:
    """Fail fast (seconds, not minutes of retries) when a host:port cluster is unreachable,
    or when 'auto' finds no cluster (Ray would say so only once it starts)."""
    if address == "auto":
        found = auto_address()
        if found is not None:
            _reach(found, f"--address auto: cannot reach the Ray cluster it found at {found}")
        return
    scheme, sep, rest = address.partition("://")
    if sep and scheme != "ray":
        raise SweepError(f"--address must be 'auto', host:port or ray://host:port, got {address!r}")
    host, _, port = (rest if sep else address).rpartition(":")
    if not host or not port.isdigit():
        raise SweepError(f"--address must be 'auto', host:port or ray://host:port, got {address!r}")
    _reach(f"{host}:{port}", f"cannot reach a Ray cluster at {address}")


def _reach(host_port: str, failure: str) -> None:
    host, _, port = host_port.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise SweepError(f"{failure}: {exc}") from None


def auto_address() -> str | None:
    """The host:port ``--address auto`` joins ($RAY_ADDRESS, else a cluster running on
    this machine), found as Ray finds it; SweepError when there is none, None when Ray's
    lookup cannot be used (Ray then reports it)."""
    if "://" in os.environ.get("RAY_ADDRESS", ""):  # a Ray client address: ray.init checks it
        return None
    try:
        from ray._private.services import canonicalize_bootstrap_address
    except ImportError:
        return None
    try:
        return canonicalize_bootstrap_address("auto")
    except ConnectionError:
        raise SweepError("--address auto: no running Ray cluster found on this machine (start "
                         "one with `ray start --head`, set RAY_ADDRESS, or pass --address "
                         "host:port)") from None
    except (ValueError, OSError) as exc:  # a malformed or unresolvable $RAY_ADDRESS
        raise SweepError(f"--address auto: $RAY_ADDRESS: {error_line(exc)}") from None


# ------------------------------------------------------------- building
def train_settings(args: argparse.Namespace, preset: Preset) -> dict[str, Any]:
    """The TrainConfig fields shared by every trial of the sweep."""
    return {
        "dataset": args.dataset,
        "data_root": args.data_root,
        "latent_dim": 10,
        "batch_size": preset.batch_size,
        "steps": preset.steps,
        "lr": preset.lr,
        "objective_lr": preset.objective_lr,
        "objective_betas": list(preset.objective_betas),
        "deterministic": preset.deterministic,
        "log_every": preset.log_every,
        "checkpoint_every": preset.checkpoint_every,
        "image_every": preset.image_every,
        "evaluate": list(preset.metrics),
        "eval_num_train": preset.eval_num_train,
        "eval_num_test": preset.eval_num_test,
        "eval_options": dict(preset.eval_options),
        "eval_every": preset.eval_every,
        "track_num_train": preset.track_num_train,
        "track_num_test": preset.track_num_test,
    }


def param_space(space: Space, preset: Preset, args: argparse.Namespace) -> dict[str, Any]:
    from ray import tune

    train = train_settings(args, preset)
    if space.search is not None:
        search = space.search()
        return {"train": {**train, **search.get("train", {})}, "cell": search["cell"]}
    return {
        "train": train,
        "cell": tune.grid_search(space.cells(preset)),
        "seed": tune.grid_search(seeds_for(space, preset, args.seeds)),
    }


def trial_dirname(trial) -> str:
    """``<cell>_seed=<seed>``, also the run's name in TensorBoard (``<cell>_seed=<seed>/run/tb``);
    a searched space's suggestions share a label, so their folders keep the trial id."""
    cell = trial.config.get("cell", {})
    seed = trial.config.get("seed", trial.config.get("__trial_index__", 0))
    name = f"{cell.get('label', 'trial')}_seed={seed}"
    return name if "seed" in trial.config else f"{trial.trial_id}_{name}"


#: a trial that writes at most this many checkpoints keeps them all
KEEP_ALL_CHECKPOINTS_UP_TO = 10


def checkpoints_to_keep(preset: Preset, args: argparse.Namespace) -> int | None:
    """Tune's ``num_to_keep``: None (all) for short runs, 2 for long ones.

    With ``num_to_keep=k`` Tune forces an experiment-state snapshot whenever a trial has
    checkpointed k times since the last one; short runs checkpoint seconds apart, so that
    means back-to-back snapshots (and Tune's "may become a bottleneck" warning). Their few
    small checkpoints cost nothing to keep; long runs keep the last two.
    """
    per_trial = -(-preset.steps // preset.checkpoint_every)
    return None if per_trial <= KEEP_ALL_CHECKPOINTS_UP_TO else 2


def _trainable(args: argparse.Namespace):
    from ray import tune

    from sweeps.trainable import lvae_trainable

    resources = {"cpu": args.cpus_per_trial, "gpu": args.gpus_per_trial}
    return tune.with_resources(lvae_trainable, resources)


def make_tuner(space: Space, preset: Preset, args: argparse.Namespace, exp: ExperimentStorage,
               resume: bool):
    """The sweep's Tune experiment (its first stage), new or restored."""
    from ray import tune

    if resume:
        return tune.Tuner.restore(exp.uri, trainable=_trainable(args), resume_errored=True)
    search: dict[str, Any] = {}
    if space.kind == "optuna":
        from ray.tune.search import Repeater
        from ray.tune.search.optuna import OptunaSearch

        os.environ.setdefault("TUNE_DISABLE_STRICT_METRIC_CHECKING", "1")  # progress reports carry no metric
        n_seeds = len(seeds_for(space, preset, args.seeds))
        metric = args.metric or OPTUNA_METRICS_DEFAULT
        searcher = Repeater(OptunaSearch(metric=metric, mode="max", seed=0), repeat=n_seeds)
        search = {"search_alg": searcher, "metric": metric, "mode": "max",
                  "num_samples": preset.optuna_samples * n_seeds}
    return new_tuner(param_space(space, preset, args), exp, preset, args, **search)


def new_tuner(config: dict[str, Any], exp: ExperimentStorage, preset: Preset,
              args: argparse.Namespace, **search: Any):
    """A Tune experiment of ``config`` (``search``: an Optuna space's searcher) in ``exp``."""
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    return tune.Tuner(
        _trainable(args),
        param_space=config,
        tune_config=tune.TuneConfig(
            max_concurrent_trials=args.max_concurrent,
            trial_dirname_creator=trial_dirname,
            reuse_actors=True,  # halves trial start-up: a finished trial's process takes the next
            **search,
        ),
        run_config=tune.RunConfig(
            name=exp.name,
            storage_path=exp.storage,
            sync_config=tune.SyncConfig(sync_artifacts=True),
            failure_config=tune.FailureConfig(max_failures=2),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=checkpoints_to_keep(preset, args)),
            # Tune's JSON and CSV logs, without its TensorBoard events (main() turns off the
            # automatic loggers): the trainer's run/tb is each trial's one TensorBoard run
            callbacks=[JsonLoggerCallback(), CSVLoggerCallback()],
            verbose=1,
        ),
    )


def make_twin_tuner(plan: Plan, args: argparse.Namespace, twins: list[Cell], resume: bool):
    """The twins' stage: a second Tune experiment in the experiment folder, training
    ``twins`` on the sweep's seeds (restored as it was saved when ``resume``)."""
    from ray import tune

    if resume:
        return tune.Tuner.restore(plan.twin_exp.uri, trainable=_trainable(args),
                                  resume_errored=True)
    config = {
        "train": train_settings(args, plan.preset),
        "cell": tune.grid_search(twins),
        "seed": tune.grid_search(plan.settings["seeds"]),
    }
    return new_tuner(config, plan.twin_exp, plan.preset, args)


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
    try:
        dataset = get_dataset(args.dataset, args.data_root)
    except (KeyError, ValueError, OSError) as exc:  # DatasetError is a ValueError
        root = f" under --data-root {args.data_root}" if args.data_root else ""
        raise SweepError(f"dataset {args.dataset!r}{root} cannot be opened: {error_line(exc)}") from None
    print(f"dataset {args.dataset}: {len(dataset)} images ready ({time.perf_counter() - t0:.1f} s)", flush=True)


# ------------------------------------------------------------ the request
@dataclass
class Plan:
    """A validated request: what to run and where (nothing started or written yet)."""

    space: Space
    preset: Preset
    name: str
    exp: ExperimentStorage
    settings: dict[str, Any]
    #: the L-VAE cells that get a beta-matched twin (none with --no-matched)
    twin_sources: list[Cell]

    @property
    def twin_exp(self) -> ExperimentStorage:
        return twin_storage(self.exp)


def twin_storage(exp: ExperimentStorage) -> ExperimentStorage:
    """The twins' stage: a Tune experiment in the experiment folder (``<exp>/twins``)."""
    from sweeps.results import TWINS_DIR

    return ExperimentStorage(storage=exp.uri, name=TWINS_DIR, local_dir=exp.local_dir / TWINS_DIR)


def open_experiment(args: argparse.Namespace, name: str) -> ExperimentStorage:
    """The experiment's storage, after checking the URI or folder can hold it."""
    check_storage(args.storage)  # StorageError is an InputError: names the URI
    exp = ExperimentStorage.create(args.storage, name)
    if not exp.remote and exp.local_dir.exists() and not exp.local_dir.is_dir():
        raise SweepError(f"experiment {exp.local_dir} is a file; expected a folder (or pass another --name)")
    return exp


def experiment_exists(exp: ExperimentStorage) -> bool:
    try:
        return exp.exists()
    except OSError as exc:
        raise SweepError(f"--storage {exp.storage}: cannot reach {exp.uri} ({error_line(exc)})") from None


def check_resume(exp: ExperimentStorage, settings: dict[str, Any]) -> None:
    """--resume needs this tool's sweep.json (readable, same space/preset and fixed
    settings) and Tune's experiment state next to it."""
    from sweeps.results import SWEEP_FILE, SWEEP_FILE_CONTENT

    source = f"{exp.uri}/{SWEEP_FILE}"
    try:
        saved = parse_json(exp.read_bytes(SWEEP_FILE), source, SWEEP_FILE_CONTENT)
    except FileNotFoundError:
        raise SweepError(f"--resume: {exp.uri} is not an experiment of this tool ({SWEEP_FILE} is missing)") from None
    except IsADirectoryError:
        raise SweepError(f"--resume: {source} is a folder; expected {SWEEP_FILE_CONTENT}") from None
    except InputError as exc:
        raise SweepError(f"--resume: {exc}") from None
    except OSError as exc:
        raise SweepError(f"--resume: cannot read {source} ({error_line(exc)})") from None
    if saved.get("space") != settings["space"] or saved.get("preset") != settings["preset"]:
        raise SweepError(
            f"--resume: {exp.uri} is a {saved.get('space')}/{saved.get('preset')} sweep, "
            f"not {settings['space']}/{settings['preset']}"
        )
    differ = [k for k in FIXED_ON_RESUME if k in saved and saved[k] != settings[k]]
    if differ:
        was = ", ".join(_flag(k, saved[k]) for k in differ)
        now = ", ".join(_flag(k, settings[k]) for k in differ)
        raise SweepError(f"--resume: {exp.uri} was started with {was}, not {now}; resume with the same settings")
    check_tune_state(exp)


def _flag(key: str, value: Any) -> str:
    if isinstance(value, bool):  # "matched": --no-matched given or not
        return f"--no-{key}" if not value else f"no --no-{key}"
    return f"--{key.replace('_', '-')} {'(default)' if value is None else value}"


def tune_states(exp: ExperimentStorage) -> list[str]:
    """Names of Tune's experiment-state files in ``exp`` (none before its first save)."""
    import fnmatch

    from ray.tune.execution.tune_controller import TuneController

    try:
        names = exp.list_names()
    except OSError as exc:
        raise SweepError(f"--resume: cannot list {exp.uri} ({error_line(exc)})") from None
    return fnmatch.filter(names, TuneController.CKPT_FILE_TMPL.format("*"))


def check_tune_state(exp: ExperimentStorage) -> None:
    """Tune's newest experiment-state file exists and decodes (Tune restores from it)."""
    states = tune_states(exp)
    if not states:
        raise SweepError(f"--resume: {exp.uri} holds no Tune experiment state to restore (the sweep never started)")
    newest = max(states)
    try:
        parse_json(exp.read_bytes(newest), f"{exp.uri}/{newest}", "Tune's experiment state (written while the sweep runs)")
    except InputError as exc:
        raise SweepError(f"--resume: {exc}") from None


def plan_sweep(args: argparse.Namespace) -> Plan:
    """Every check of the request (arguments, storage, resume state, cluster address,
    dataset) before Ray starts or anything is written; raises SweepError."""
    space, preset = validate(args)
    name = args.name or f"{space.name}-{preset.name}"
    exp = open_experiment(args, name)
    settings = {
        "space": space.name, "preset": preset.name, "dataset": args.dataset, "data_root": args.data_root,
        "seeds": seeds_for(space, preset, args.seeds), "metric": args.metric, "steps": args.steps,
        "cpus_per_trial": args.cpus_per_trial, "gpus_per_trial": args.gpus_per_trial,
        "matched": not args.no_matched,
    }
    if args.resume:
        check_resume(exp, settings)
        if tune_states(twin_storage(exp)):  # the twins' stage had started: Tune restores it too
            check_tune_state(twin_storage(exp))
    elif experiment_exists(exp):
        raise SweepError(f"experiment {exp.uri} already exists: pass --resume to continue it, or another --name")
    if args.address:
        check_address(args.address)
    if args.address in (None, "auto"):  # the driver is on a node, which holds the data too
        prepare_dataset(args)
    return Plan(space=space, preset=preset, name=name, exp=exp, settings=settings,
                twin_sources=matched_sources(space, preset, args))


def matched_sources(space: Space, preset: Preset, args: argparse.Namespace) -> list[Cell]:
    """The L-VAE cells that get a beta-matched twin (none with --no-matched)."""
    if args.no_matched or space.kind != "grid":
        return []
    return twin_sources(space.cells(preset))


def resume_command(args: argparse.Namespace, name: str) -> str:
    """The command that continues this sweep: the same flags (those off their defaults) plus --resume."""
    defaults = vars(build_parser().parse_args([]))
    parts = ["python", "sweeps/run.py", "--space", args.space, "--preset", args.preset,
             "--storage", args.storage, "--name", name]
    for key, value in vars(args).items():
        if key in ("space", "preset", "storage", "name", "resume", "list") or value == defaults.get(key):
            continue
        flag = "--" + key.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    return shlex.join([*parts, "--resume"])


# ------------------------------------------------------------------ Ctrl-C
class CtrlC:
    """SIGINT while the sweep runs.

    During ``tuner.fit()`` Tune's own handler takes the first Ctrl-C: it stops the trials,
    saves the experiment state and puts this handler back. Any Ctrl-C that reaches this
    handler (a second one, or one while the summary is written) quits at once with
    ``hint``, which says how to continue.
    """

    def __init__(self, hint: str):
        self.hint = hint
        self.previous: Any = None

    def __call__(self, signum: int, frame: Any) -> None:
        print(f"\ninterrupted: exiting now. {self.hint}", file=sys.stderr, flush=True)
        kill_descendants()
        os._exit(EXIT_INTERRUPTED)

    def __enter__(self) -> CtrlC:
        self.previous = signal.signal(signal.SIGINT, self)
        return self

    def __exit__(self, *exc: Any) -> None:
        signal.signal(signal.SIGINT, self.previous or signal.default_int_handler)


class InterruptWatch(threading.Thread):
    """Bounds the time from Ctrl-C to the prompt.

    Tune's SIGINT handler stops the trials and saves the experiment state within a second
    of Ctrl-C, then waits up to 10 s for busy trials to stop (a trial computing its metrics
    only stops at its next report). Its handler puts ours (:class:`CtrlC`) back when it
    fires, which is how this thread sees the Ctrl-C. Once the state is saved, ``finish``
    writes results.csv from it and exits; the trials end with the driver.
    """

    def __init__(self, ctrl_c: CtrlC, exp: ExperimentStorage, summarise: Callable[[], int]):
        super().__init__(name="interrupt-watch", daemon=True)
        self.ctrl_c, self.exp, self.summarise = ctrl_c, exp, summarise
        self.done = threading.Event()  # set when tuner.fit() returns
        self.interrupted = False
        self._lock = threading.Lock()

    def run(self) -> None:
        while signal.getsignal(signal.SIGINT) is self.ctrl_c:  # until Tune installs its handler
            if self.done.wait(0.05):
                return
        while signal.getsignal(signal.SIGINT) is not self.ctrl_c:  # until the first Ctrl-C
            if self.done.wait(0.05):
                return
        # Tune saves the state within a second of the Ctrl-C; its periodic saves are >= 10 s apart
        self.interrupted, since = True, time.time() - 0.25
        deadline = time.monotonic() + STATE_SAVE_TIMEOUT_S
        while not self.done.is_set() and time.monotonic() < deadline:
            if self._state_saved_since(since):
                self.finish()
            time.sleep(0.1)

    def _state_saved_since(self, since: float) -> bool:
        """Tune's final experiment state is on disk (local storage; a remote one is
        summarised by the main thread once Tune returns)."""
        if self.exp.remote:
            return False
        states = list(self.exp.local_dir.glob("experiment_state-*.json"))
        return bool(states) and max(p.stat().st_mtime for p in states) >= since

    def finish(self) -> None:
        """Summarise once (this thread or the main one) and exit with its code at once."""
        with self._lock:
            code = self.summarise()
            sys.stdout.flush()
            sys.stderr.flush()
            kill_descendants()
            os._exit(code)


def kill_descendants() -> None:
    """Kill the processes this driver started (a local Ray: raylet, GCS, their agents and
    workers). Exiting at once skips ray.shutdown(), and Ray's agents outlive a SIGKILLed
    raylet; a joined cluster's processes are not our descendants and are left alone."""
    try:
        import psutil  # Ray's own dependency (vendored with it)
    except ImportError:
        return
    for child in psutil.Process().children(recursive=True):
        try:
            child.kill()
        except psutil.Error:
            pass


def discard_unstarted(exp: ExperimentStorage) -> None:
    """Ctrl-C before Tune wrote anything: remove the sweep.json this run wrote, so the
    same command starts afresh (a folder holding only sweep.json cannot be resumed)."""
    from sweeps.results import SWEEP_FILE

    if exp.remote or not exp.local_dir.is_dir():
        return
    if [p.name for p in exp.local_dir.iterdir()] == [SWEEP_FILE]:
        (exp.local_dir / SWEEP_FILE).unlink()
        exp.local_dir.rmdir()


# ------------------------------------------------------------------ main
def run(args: argparse.Namespace) -> int:
    plan = plan_sweep(args)
    exp = plan.exp
    from sweeps.results import SWEEP_FILE, write_sweep_file

    resume = resume_command(args, plan.name)
    space, preset = plan.space, plan.preset
    twins = f", then up to {space.num_twins(preset, args.seeds)} beta-matched twins"
    print(f"sweep {space.name} ({preset.name}): {space.num_trials(preset, args.seeds)} trials"
          f"{twins if plan.twin_sources else ''} -> {exp.uri}", flush=True)
    # once the twins' stage has started, the first stage had finished: only the twins resume
    twins_started = args.resume and bool(tune_states(plan.twin_exp))
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

        if first is not None:
            fit_stage(first, exp, ctrl_c, summary)
        second = twin_tuner(plan, args, resume=twins_started)
        if second is not None:
            fit_stage(second, plan.twin_exp, ctrl_c, summary)
        return summary()


def fit_stage(tuner, stage: ExperimentStorage, ctrl_c: CtrlC, summary: Callable[[], int]) -> None:
    """Run one Tune experiment to its end; after Ctrl-C, summarise and exit (130)."""
    from sweeps.results import quiet_unstarted_trials

    watch = InterruptWatch(ctrl_c, stage, summary)
    watch.start()
    try:
        with quiet_unstarted_trials():  # fit() ends by reading every trial's results
            tuner.fit()
    finally:
        watch.done.set()
    signal.signal(signal.SIGINT, ctrl_c)  # after a normal end Tune's handler stays installed
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
    print(f"\n{len(df)} trials in {wall:.0f} s: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
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
    unfinished += twins_to_come
    if unfinished:
        print(f"report:      skipped (interrupted); --resume builds it at the end, or now: {report_cmd}")
        print(f"interrupted: {unfinished} trials unfinished ({counts.get(INTERRUPTED, 0)} interrupted "
              f"mid-training); continue with {resume}", flush=True)
        return EXIT_INTERRUPTED
    if args.no_report:
        return 0
    ctrl_c.hint = f"results.csv is complete; build the report with: {report_cmd}"
    leave_ray()
    return write_report(exp)


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
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")  # no Tune TensorBoard events
    # bad requests are InputErrors (SweepError, StorageError); anything else after Ray
    # started is a failure worth its traceback
    return run_cli(lambda: run(args), expected=(InputError,),
                   on_interrupt=lambda: "the sweep had not started; run the same command again")


if __name__ == "__main__":
    sys.exit(main())
