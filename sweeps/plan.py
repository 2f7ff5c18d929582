"""The sweep's plan: a request checked end to end (arguments, storage, resume state,
cluster address, dataset) before Ray starts or anything is written."""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from typing import Any

from lvae.atomic import parse_json
from lvae.cli import InputError, error_line
from sweeps.cli import SweepError, check_address, validate
from sweeps.footprint import Footprint, check_free_space, estimate
from sweeps.presets import Preset
from sweeps.spaces import Cell, Space, seeds_for, twin_sources
from sweeps.storage import ExperimentStorage, check_storage

#: settings baked into the trials when the sweep starts: a --resume that asks for other
#: values would silently keep the saved ones, so it is refused instead
FIXED_ON_RESUME = ("dataset", "data_root", "seeds", "metric", "steps", "matched")


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
    #: the storage the sweep needs (sweeps/footprint.py)
    footprint: Footprint | None = None

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
        raise SweepError(f"experiment {exp.local_dir} is a file; expected a folder "
                         "(or pass another --name)")
    return exp


def experiment_exists(exp: ExperimentStorage) -> bool:
    try:
        return exp.exists()
    except OSError as exc:
        raise SweepError(f"--storage {exp.storage}: cannot reach {exp.uri} "
                         f"({error_line(exc)})") from None


def check_resume(exp: ExperimentStorage, settings: dict[str, Any]) -> None:
    """--resume needs this tool's sweep.json (readable, same space/preset and fixed
    settings) and Tune's experiment state next to it."""
    from sweeps.results import SWEEP_FILE, SWEEP_FILE_CONTENT

    source = f"{exp.uri}/{SWEEP_FILE}"
    try:
        saved = parse_json(exp.read_bytes(SWEEP_FILE), source, SWEEP_FILE_CONTENT)
    except FileNotFoundError:
        raise SweepError(f"--resume: {exp.uri} is not an experiment of this tool "
                         f"({SWEEP_FILE} is missing)") from None
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
        raise SweepError(f"--resume: {exp.uri} was started with {was}, not {now}; "
                         "resume with the same settings")
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
        raise SweepError(f"--resume: {exp.uri} holds no Tune experiment state to restore "
                         "(the sweep never started)")
    newest = max(states)
    try:
        parse_json(exp.read_bytes(newest), f"{exp.uri}/{newest}",
                   "Tune's experiment state (written while the sweep runs)")
    except InputError as exc:
        raise SweepError(f"--resume: {exc}") from None


def plan_sweep(args: argparse.Namespace) -> Plan:
    """Every check of the request (arguments, storage, resume state, cluster address,
    dataset) before Ray starts or anything is written; raises SweepError."""
    space, preset = validate(args)
    name = args.name or f"{space.name}-{preset.name}"
    exp = open_experiment(args, name)
    settings = {
        "space": space.name, "preset": preset.name, "dataset": args.dataset,
        "data_root": args.data_root,
        "seeds": seeds_for(space, preset, args.seeds), "metric": args.metric, "steps": args.steps,
        "cpus_per_trial": args.cpus_per_trial, "gpus_per_trial": args.gpus_per_trial,
        "matched": not args.no_matched,
    }
    if args.resume:
        check_resume(exp, settings)
        if tune_states(twin_storage(exp)):  # the twins' stage had started: Tune restores it too
            check_tune_state(twin_storage(exp))
    elif experiment_exists(exp):
        raise SweepError(f"experiment {exp.uri} already exists: pass --resume to continue it, "
                         "or another --name")
    sources = matched_sources(space, preset, args)
    footprint = check_space(space, preset, args, exp, twins=bool(sources))
    if args.address:
        check_address(args.address)
    if args.address in (None, "auto"):  # the driver is on a node, which holds the data too
        prepare_dataset(args)
    return Plan(space=space, preset=preset, name=name, exp=exp, settings=settings,
                twin_sources=sources, footprint=footprint)


def check_space(space: Space, preset: Preset, args: argparse.Namespace,
                exp: ExperimentStorage, twins: bool) -> Footprint:
    """The sweep's storage estimate; refused (StorageError) when a local storage has less
    free, a warning printed when it would take most of it."""
    from lvae.config import TrainConfig

    footprint = estimate(space, preset, args, twins, TrainConfig.latent_dim)
    warning = check_free_space(exp, footprint)
    if warning:
        print(warning, flush=True)
    return footprint


def matched_sources(space: Space, preset: Preset, args: argparse.Namespace) -> list[Cell]:
    """The L-VAE cells that get a beta-matched twin (none with --no-matched)."""
    if args.no_matched or space.kind != "grid":
        return []
    return twin_sources(space.cells(preset))



def prepare_dataset(args: argparse.Namespace) -> None:
    """Open (and for the procedural dSprites, build) the dataset once before trials start,
    so bad files fail here and concurrent trials don't all build the same cache."""
    from lvae.data import get_dataset

    t0 = time.perf_counter()
    try:
        dataset = get_dataset(args.dataset, args.data_root)
    except (KeyError, ValueError, OSError) as exc:  # DatasetError is a ValueError
        root = f" under --data-root {args.data_root}" if args.data_root else ""
        raise SweepError(f"dataset {args.dataset!r}{root} cannot be opened: "
                         f"{error_line(exc)}") from None
    print(f"dataset {args.dataset}: {len(dataset)} images ready "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)
