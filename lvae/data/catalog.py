"""Datasets by name: ``get_dataset("dsprites_procedural")``.

The loaders are imported on first use (their ``@register_dataset`` decorators fill
:data:`lvae.data.registry.DATASETS`), so ``import lvae.data`` stays light: pandas, PIL
and h5py load only when a dataset is listed or opened. The registry is the only place
that knows which names exist, so error messages list them all.
"""

from __future__ import annotations

import os

from lvae.data.base import GroundTruthDataset
from lvae.data.errors import DatasetError
from lvae.data.registry import DATASETS, resolve_root


def load_loaders() -> None:
    """Import every loader module (each registers its datasets)."""
    from lvae.data import (  # noqa: F401
        celeba,
        dsprites,
        dsprites_procedural,
        falcor3d,
        isaac3d,
        mpi3d,
        shapes3d,
    )


def dataset_names() -> list[str]:
    load_loaders()
    return sorted(DATASETS)


def get_dataset(name: str, root: str | os.PathLike | None = None) -> GroundTruthDataset:
    """Open dataset ``name`` from ``root`` (argument, else $LVAE_DATA, else ~/.cache/lvae).

    Files are validated here, when the dataset is opened, so a malformed download fails
    before any training starts.
    """
    load_loaders()
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; valid names: {', '.join(sorted(DATASETS))}")
    folder = resolve_root(root)
    if folder.exists() and not folder.is_dir():
        raise DatasetError(f"data root {folder} is a file; expected the folder holding "
                           f"<root>/{name}/...")
    return DATASETS[name](folder)
