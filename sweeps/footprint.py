"""How many bytes a sweep stores, estimated before Ray starts, and the check that a local
storage has them free.

A finished trial stores one checkpoint (sweeps/trainable.py) and its logs. That checkpoint
is the model's float32 weights, 4 bytes a parameter (the sweep turns
``final_optimizer_state`` off), plus the config, random states and last record; a running
trial's checkpoints also hold Adam's two moments, 12 bytes a parameter. The logs grow with
the number of reports and image loggings. The constants were measured on smoke sweeps
(docs/cluster.md, "What a sweep stores"); the estimate is within 10% of ``du`` there
(tests/sweeps/test_checkpoint_storage.py).
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from sweeps.presets import Preset
from sweeps.spaces import Cell, Space, seeds_for, twin_sources
from sweeps.storage import ExperimentStorage, StorageError

#: weights + Adam's exp_avg and exp_avg_sq, float32: a checkpoint during training
CHECKPOINT_BYTES_PER_PARAM = 12
#: the weights alone, float32: a finished trial's checkpoint
FINAL_BYTES_PER_PARAM = 4
#: the checkpoint's config, random states and record (9,211,739 B for 764,245 parameters)
CHECKPOINT_OVERHEAD = 41_000
#: a report (every log_every steps, and the last): 26 TensorBoard scalars of 52 B, their
#: row in the run's scalar table (8 B each, lvae/scalar_table.py), a line of Tune's
#: result.json (1.6 kB) and of its progress.csv (0.48 kB)
REPORT_BYTES = 26 * (52 + 8) + 1_600 + 480
#: a logging of the traversal and reconstruction images (image_every, and at the end)
IMAGE_BYTES = 250_000
#: a round of metrics along training (eval_every): a dozen scalars
TRACK_BYTES = 1_000
#: the run folder's JSON files, Tune's params and meta.json, and the trial's share of
#: Tune's experiment state (~40 kB a trial)
FIXED_TRIAL_BYTES = 60_000
#: above this share of the free space the sweep starts with a warning
WARN_FRACTION = 0.8
#: image channels when the dataset does not say (colour: the larger estimate)
DEFAULT_CHANNELS = 3


@functools.cache
def parameter_count(architecture: str, channels: int, latent_dim: int) -> int:
    """The model's parameters, counted on the meta device (nothing allocated)."""
    import torch

    from lvae.models import get_model

    with torch.device("meta"):
        model = get_model(architecture, num_channels=channels, latent_dim=latent_dim)
    return sum(p.numel() for p in model.parameters())


def checkpoint_bytes(architecture: str, channels: int, latent_dim: int,
                     final: bool = False) -> int:
    """A checkpoint during training, or a finished trial's (``final``: weights only)."""
    params = parameter_count(architecture, channels, latent_dim)
    per_param = FINAL_BYTES_PER_PARAM if final else CHECKPOINT_BYTES_PER_PARAM
    return per_param * params + CHECKPOINT_OVERHEAD


def log_bytes(preset: Preset) -> int:
    """A trial's TensorBoard events, Tune logs and small files at ``preset``."""
    reports = preset.steps // preset.log_every + 1
    images = (preset.steps // preset.image_every if preset.image_every else 0) + 1
    tracks = preset.steps // preset.eval_every if preset.eval_every else 0
    return (reports * REPORT_BYTES + images * IMAGE_BYTES + tracks * TRACK_BYTES
            + FIXED_TRIAL_BYTES)


def trial_bytes(preset: Preset, architecture: str, channels: int, latent_dim: int) -> int:
    """What one finished trial stores."""
    return checkpoint_bytes(architecture, channels, latent_dim, final=True) + log_bytes(preset)


def dataset_channels(dataset: str) -> int:
    """The dataset's image channels, read from its loader's return type without opening
    it (the data may live on the workers only); DEFAULT_CHANNELS when it does not say."""
    import typing

    from lvae.data.catalog import load_loaders
    from lvae.data.registry import DATASETS

    load_loaders()
    try:
        returned = typing.get_type_hints(DATASETS[dataset]).get("return")
    except Exception:  # noqa: BLE001 - an unknown loader or annotation: assume colour
        returned = None
    shape = getattr(returned, "observation_shape", None)
    return int(shape[0]) if shape else DEFAULT_CHANNELS


@dataclass(frozen=True)
class Footprint:
    """The sweep's storage: ``trials`` finished trials of ``total`` bytes in all, plus
    ``swap`` while trials run (each holds a checkpoint with Adam's moments, and a new one
    beside it while Tune swaps them)."""

    trials: int
    total: int
    swap: int

    @property
    def needed(self) -> int:
        return self.total + self.swap

    @property
    def per_trial(self) -> int:
        return self.total // max(1, self.trials)


def architectures(space: Space, preset: Preset, seeds: int | None, twins: bool) -> list[str]:
    """One architecture per trial of the sweep (and per twin when ``twins``)."""
    n_seeds = len(seeds_for(space, preset, seeds))
    if space.kind == "optuna":
        return ["conv"] * space.num_trials(preset, seeds)  # lvae_optuna searches conv
    cells: list[Cell] = space.cells(preset)
    if twins:
        cells = cells + twin_sources(cells)
    return [c["architecture"] for c in cells for _ in range(n_seeds)]


def estimate(space: Space, preset: Preset, args: argparse.Namespace, twins: bool,
             latent_dim: int) -> Footprint:
    """The sweep's storage at ``preset`` (``twins``: the beta-matched twins included)."""
    channels = dataset_channels(args.dataset)
    archs = architectures(space, preset, args.seeds, twins)
    total = sum(trial_bytes(preset, a, channels, latent_dim) for a in archs)
    concurrent = args.max_concurrent or max(1, (os.cpu_count() or 1) // args.cpus_per_trial)
    largest = max((checkpoint_bytes(a, channels, latent_dim) for a in archs), default=0)
    return Footprint(trials=len(archs), total=total,
                     swap=min(concurrent, len(archs)) * 2 * largest)


def megabytes(n: float) -> str:
    """``12.3 MB`` (decimal, as ``df -H``), or GB/TB for larger numbers."""
    for unit, size in (("TB", 1e12), ("GB", 1e9)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n / 1e6:.1f} MB"


def existing_parent(path: Path) -> Path:
    """``path`` or its nearest existing parent (where the experiment will be created)."""
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def used_bytes(folder: Path) -> int:
    """Bytes already stored under ``folder`` (a resumed sweep's finished trials)."""
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def check_free_space(exp: ExperimentStorage, footprint: Footprint) -> str | None:
    """Refuse (StorageError) a local storage with less free space than the sweep still
    needs; a warning line when it would use most of it; None otherwise or for a URI."""
    if exp.remote:
        return None
    free = shutil.disk_usage(existing_parent(exp.local_dir)).free
    needed = max(0, footprint.needed - used_bytes(exp.local_dir))
    what = (f"the sweep needs about {megabytes(needed)} ({footprint.trials} trials of "
            f"{megabytes(footprint.per_trial)}, and {megabytes(footprint.swap)} while they "
            f"checkpoint)")
    if needed > free:
        raise StorageError(f"--storage {exp.storage} has {megabytes(free)} free; {what}: "
                           "free space or pass another --storage (docs/cluster.md, "
                           "\"What a sweep stores\")")
    if needed > WARN_FRACTION * free:
        return f"warning: --storage {exp.storage} has {megabytes(free)} free; {what}"
    return None
