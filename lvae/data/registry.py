"""The table of named datasets and the decorator that fills it.

Loader modules import this module to register themselves (``@register_dataset``); this
module imports no loader, so there is no import cycle. :mod:`lvae.data.catalog` imports
the loaders and opens datasets by name.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from lvae.data.base import GroundTruthDataset

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
