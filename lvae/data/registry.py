"""Named datasets: ``get_dataset("dsprites_procedural")``.

Loaders register themselves with :func:`register_dataset`; the registry is the only
place that knows which names exist, so error messages can list them all.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lvae.data.base import GroundTruthDataset
from lvae.data.errors import DatasetError

#: name -> factory(root: Path) -> dataset
DATASETS: dict[str, Callable[[Path], GroundTruthDataset]] = {}


def register_dataset(name: str) -> Callable:
    def deco(factory: Callable[[Path], GroundTruthDataset]) -> Callable[[Path], GroundTruthDataset]:
        if name in DATASETS:
            raise ValueError(f"dataset {name!r} registered twice")
        DATASETS[name] = factory
        return factory

    return deco


def default_data_root() -> Path:
    """``$LVAE_DATA``, else ``$XDG_CACHE_HOME/lvae`` (``~/.cache/lvae``)."""
    env = os.environ.get("LVAE_DATA")
    if env:
        return Path(env).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache).expanduser() / "lvae"


def resolve_root(root: str | os.PathLike | None) -> Path:
    return Path(root).expanduser() if root is not None else default_data_root()


def dataset_names() -> list[str]:
    _import_loaders()
    return sorted(DATASETS)


def get_dataset(name: str, root: str | os.PathLike | None = None) -> GroundTruthDataset:
    """Open dataset ``name`` from ``root`` (argument, else $LVAE_DATA, else ~/.cache/lvae).

    Files are validated here, when the dataset is opened, so a malformed download fails
    before any training starts.
    """
    _import_loaders()
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}")
    folder = resolve_root(root)
    if folder.exists() and not folder.is_dir():
        raise DatasetError(f"data root {folder} is a file; expected the folder holding <root>/{name}/...")
    return DATASETS[name](folder)


def _import_loaders() -> None:
    # Importing the modules runs their @register_dataset decorators.
    from lvae.data import (  # noqa: F401
        celeba,
        dsprites,
        dsprites_procedural,
        falcor3d,
        isaac3d,
        mpi3d,
        shapes3d,
    )
