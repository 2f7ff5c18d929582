"""MPI3D (Gondal et al. NeurIPS 2019): toy, realistic, real and complex, memory-mapped.

Layout under the data root (release file names)::

    <root>/mpi3d/mpi3d_toy.npz                           -> "mpi3d_toy"
    <root>/mpi3d/mpi3d_realistic.npz                     -> "mpi3d_realistic"
    <root>/mpi3d/mpi3d_real.npz                          -> "mpi3d_real"
    <root>/mpi3d/real3d_complicated_shapes_ordered.npz   -> "mpi3d_complex"

Each npz holds ``images`` (N, 64, 64, 3) uint8, row i = row i of the factor grid in C
order. The files are ~12 GB, so the array is never copied: the release stores the member
uncompressed, and it is memory-mapped at its byte offset inside the zip. A compressed
npz cannot be mapped; extract ``images`` to ``<same name>.npy`` next to it (also
accepted, and preferred when both exist).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lvae.data.base import IMAGE_SIZE
from lvae.data.checksums import inspect_npz_member, memmap_npz_member, require_file
from lvae.data.errors import DatasetError
from lvae.data.image_folder import RGBArrayDataset
from lvae.data.registry import register_dataset

SUBDIR = "mpi3d"
SOURCE = (
    "https://github.com/rr-learning/disentanglement_dataset (Gondal et al. 2019, arXiv:1906.03292)"
)
FACTOR_NAMES: tuple[str, ...] = (
    "object_color",
    "object_shape",
    "object_size",
    "camera_height",
    "background_color",
    "horizontal_axis",
    "vertical_axis",
)
#: registry name -> (release file name, factor sizes)
VARIANTS: dict[str, tuple[str, tuple[int, ...]]] = {
    "mpi3d_toy": ("mpi3d_toy.npz", (6, 6, 2, 3, 3, 40, 40)),
    "mpi3d_realistic": ("mpi3d_realistic.npz", (6, 6, 2, 3, 3, 40, 40)),
    "mpi3d_real": ("mpi3d_real.npz", (6, 6, 2, 3, 3, 40, 40)),
    "mpi3d_complex": ("real3d_complicated_shapes_ordered.npz", (4, 4, 2, 3, 3, 40, 40)),
}
#: Where the files go, for the README.
LAYOUT: dict[str, str] = {
    name: f"<root>/{SUBDIR}/{file} (or the extracted 'images' array as {Path(file).stem}.npy)"
    for name, (file, _) in VARIANTS.items()
}


class MPI3D(RGBArrayDataset):
    factor_names = FACTOR_NAMES


def open_mpi3d_file(path: Path, name: str, factor_sizes: Sequence[int]) -> MPI3D:
    """Map ``images`` from an MPI3D npz (stored member) or extracted npy, after validating it."""
    path = Path(path)
    sizes = tuple(int(s) for s in factor_sizes)
    if len(sizes) != len(FACTOR_NAMES):
        raise DatasetError(f"{name}: need {len(FACTOR_NAMES)} factor sizes, got {sizes}")
    want = (int(np.prod(sizes, dtype=np.int64)), IMAGE_SIZE, IMAGE_SIZE, 3)
    if path.suffix == ".npy":
        images = _map_npy(path, want)
    else:
        member = inspect_npz_member(path, "images")
        member.require(want, np.uint8)
        images = memmap_npz_member(member)
    return MPI3D(images, name=name, factor_sizes=sizes, source=path)


def _map_npy(path: Path, want: tuple[int, ...]) -> np.ndarray:
    try:
        images = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(
            f"{path}: not a readable .npy file ({exc}); it may be truncated"
        ) from exc
    if images.shape != want or images.dtype != np.uint8 or not images.flags.c_contiguous:
        raise DatasetError(
            f"{path}: 'images' must be C-order uint8 with shape {want}, got {images.dtype} "
            f"{images.shape}"
        )
    return images


def open_mpi3d(root: Path, name: str) -> MPI3D:
    file_name, sizes = VARIANTS[name]
    npz = Path(root) / SUBDIR / file_name
    npy = npz.with_suffix(".npy")
    path = npy if npy.exists() else npz
    require_file(path, dataset=name, layout=LAYOUT[name], source=SOURCE)
    return open_mpi3d_file(path, name, sizes)


for _name in VARIANTS:
    register_dataset(_name)(functools.partial(open_mpi3d, name=_name))
