"""The sweep's command line: the parser, ``--list``, and every check of a request that
needs neither Ray nor storage (flags, metric, local resources, experiment name, cluster
address), plus the command that resumes a sweep."""

from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import socket
from pathlib import Path

from lvae.cli import InputError, error_line
from lvae.contract import METRIC_PREFIX
from sweeps.presets import PRESETS, Preset, get_preset
from sweeps.spaces import SPACES, Space, get_space

#: the parser's description, also the first line of ``sweeps/run.py``'s docstring
DESCRIPTION = "Run a named sweep with Ray Tune, on this machine or on a running Ray cluster."
OPTUNA_METRICS_DEFAULT = METRIC_PREFIX + "dci.disentanglement"


class SweepError(InputError):
    """A problem with the request, reported before anything starts."""


# ------------------------------------------------------------------ CLI
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python sweeps/run.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Spaces: " + "; ".join(f"{s.name}: {s.question}" for s in SPACES.values()),
    )
    _add_what(p)
    _add_where(p)
    _add_how(p)
    return p


def _add_what(p: argparse.ArgumentParser) -> None:
    """What to train: the space, its scale and data."""
    p.add_argument("--space",
                   help=f"named search space: {', '.join(SPACES)} (required unless --list)")
    p.add_argument("--list", action="store_true",
                   help="list every space, its question and trial counts")
    presets = "; ".join(f"{pr.name} ({pr.description})" for pr in PRESETS.values())
    p.add_argument("--preset", default="local", choices=list(PRESETS), help="scale: " + presets)
    p.add_argument("--dataset", default="dsprites_procedural",
                   help="dataset name (default dsprites_procedural)")
    p.add_argument("--data-root", default=None,
                   help="data folder on every node (default $LVAE_DATA or ~/.cache/lvae)")


def _add_where(p: argparse.ArgumentParser) -> None:
    """Where the experiment lives and which Ray runs it."""
    p.add_argument("--storage", default="results",
                   help="experiment storage: local folder, or URI every node reaches "
                   "(s3://..., gs://...); default ./results")
    p.add_argument("--name", default=None, help="experiment name (default <space>-<preset>)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted experiment (same --storage/--name)")
    p.add_argument("--address", default=None,
                   help="Ray cluster to join ('auto' or host:port); default: start a local Ray "
                   "sized to this machine")


def _add_how(p: argparse.ArgumentParser) -> None:
    """Each trial's resources, the run length and what the sweep does at its end."""
    p.add_argument("--cpus-per-trial", type=int, default=1,
                   help="CPUs per trial; also torch threads (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0,
                   help="GPUs per trial, fractions allowed (0.5: two trials share a GPU); "
                   "default 0")
    p.add_argument("--device", default="auto",
                   help="where each trial trains: auto (CUDA when Ray gave the trial a GPU "
                   "and the node has CUDA; a GPU trial without CUDA trains on CPU with a "
                   "WARNING), cuda (fail such a trial instead), cpu (always CPU; Ray still "
                   "schedules by --gpus-per-trial, as on a fake or logical-GPU cluster); "
                   "default auto")
    p.add_argument("--seeds", type=int, default=None,
                   help="seeds per cell (default: the preset's)")
    p.add_argument("--max-concurrent", type=int, default=None,
                   help="at most this many trials at once")
    p.add_argument("--steps", type=int, default=None,
                   help="override the preset's training steps per trial")
    p.add_argument("--metric", default=None,
                   help=f"lvae_optuna only: metric to maximise (default {OPTUNA_METRICS_DEFAULT})")
    p.add_argument("--no-report", action="store_true", help="skip the HTML report at the end")
    p.add_argument("--no-matched", action="store_true",
                   help="train no beta-matched twins (a beta-VAE at each L-VAE cell's median "
                   "learned beta, on its seeds)")


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
        raise SweepError(f"unknown dataset {args.dataset!r}; "
                         f"valid names: {', '.join(dataset_names())}")
    if args.cpus_per_trial < 1:
        raise SweepError(f"--cpus-per-trial must be >= 1, got {args.cpus_per_trial}")
    if args.gpus_per_trial < 0:
        raise SweepError(f"--gpus-per-trial must be >= 0, got {args.gpus_per_trial}")
    if args.gpus_per_trial > 1 and args.gpus_per_trial != int(args.gpus_per_trial):
        raise SweepError("--gpus-per-trial above 1 must be a whole number, "
                         f"got {args.gpus_per_trial}")
    check_device(args.device, args.gpus_per_trial)
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


#: ``--device`` values (sweeps/trainable.py's pick_device applies them)
DEVICES = ("auto", "cpu", "cuda")


def check_device(device: str, gpus_per_trial: float) -> None:
    """``--device`` is one of DEVICES; ``cuda`` needs a GPU for each trial."""
    if device not in DEVICES:
        raise SweepError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and gpus_per_trial <= 0:
        raise SweepError("--device cuda needs --gpus-per-trial > 0 (Ray gives a trial a GPU "
                         "only when it asks for one)")


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
    if (not name.strip() or name in (".", "..") or "/" in name or os.sep in name
            or name != name.strip()):
        raise SweepError(f"--name {name!r} must be a single folder name (no '/', not '.' or "
                         "'..', no outer spaces)")


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


def resume_command(args: argparse.Namespace, name: str) -> str:
    """The command that continues this sweep: the same flags (those off their defaults)
    plus --resume."""
    defaults = vars(build_parser().parse_args([]))
    parts = ["python", "sweeps/run.py", "--space", args.space, "--preset", args.preset,
             "--storage", args.storage, "--name", name]
    for key, value in vars(args).items():
        if key in ("space", "preset", "storage", "name", "resume", "list"):
            continue
        if value == defaults.get(key):
            continue
        flag = "--" + key.replace("_", "-")
        parts += [flag] if value is True else [flag, str(value)]
    return shlex.join([*parts, "--resume"])

