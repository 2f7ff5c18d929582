"""Shared code for RGB datasets: the array-backed dataset class, and the 64x64 uint8 cache
built once from a folder of image files.

Decoding hundreds of thousands of 512^2..1024^2 PNGs takes hours, so a folder release is
resized once into ``(N, 64, 64, 3)`` uint8 ``.npy`` next to it (written to a temporary
file and renamed, so an interrupted build leaves no half-written cache); every later open
memory-maps that file.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from lvae.atomic import atomic_path
from lvae.data.base import IMAGE_SIZE, GroundTruthDataset
from lvae.data.checksums import require_file
from lvae.data.errors import DatasetError

log = logging.getLogger(__name__)

CACHE_SHAPE_TAIL = (IMAGE_SIZE, IMAGE_SIZE, 3)


class RGBArrayDataset(GroundTruthDataset):
    """Observations are rows of an (N, 64, 64, 3) uint8 array-like (ndarray, memmap, h5)."""

    observation_shape = (3, IMAGE_SIZE, IMAGE_SIZE)
    likelihood = "gaussian"

    def __init__(self, images, *, name: str, factor_sizes: Sequence[int], source: Path):
        self.name = name
        self.factor_sizes = tuple(int(s) for s in factor_sizes)
        self.images = images
        self.source = source

    def _read_rows(self, idx: np.ndarray) -> np.ndarray:
        return np.asarray(self.images[idx])

    def observations(self, indices: np.ndarray) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        n = len(self)
        if idx.size and (idx.min() < 0 or idx.max() >= n):
            raise DatasetError(
                f"{self.name}: index must be in [0, {n}), got {idx.min()}..{idx.max()}"
            )
        rows = self._read_rows(idx)
        out = np.empty((idx.size, *self.observation_shape), dtype=np.float32)
        np.divide(rows.transpose(0, 3, 1, 2), np.float32(255), out=out, dtype=np.float32)
        return out

    # A pickled np.memmap carries its whole array (12 GB for MPI3D): ship the mapping
    # instead, so Ray workers and DataLoader processes re-map the same file.
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        images = state.get("images")
        if isinstance(images, np.memmap) and images.filename is not None:
            state["images"] = _MappedFile(
                images.filename, images.offset, images.shape, images.dtype.str
            )
        return state

    def __setstate__(self, state: dict) -> None:
        images = state.get("images")
        if isinstance(images, _MappedFile):
            state["images"] = np.memmap(
                images.filename,
                dtype=images.dtype,
                mode="r",
                offset=images.offset,
                shape=images.shape,
            )
        self.__dict__.update(state)


@dataclass(frozen=True)
class _MappedFile:
    filename: str
    offset: int
    shape: tuple[int, ...]
    dtype: str


# ------------------------------------------------------------------ image decoding
def square_to_64(im: Image.Image) -> Image.Image:
    """Area-average a square render down to 64x64 (Falcor3D 1024^2, Isaac3D 512^2)."""
    if im.width != im.height:
        raise ValueError(f"expected a square image, got {im.width}x{im.height}")
    return im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)


def read_image(path: Path, transform: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    """One image as (64, 64, 3) uint8; any decoding problem names the file."""
    try:
        with Image.open(path) as im:
            small = transform(im.convert("RGB"))
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: image file missing") from exc
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise DatasetError(f"{path}: unreadable or unexpected image ({exc})") from exc
    arr = np.asarray(small, dtype=np.uint8)
    if arr.shape != CACHE_SHAPE_TAIL:
        raise DatasetError(
            f"{path}: resized image has shape {arr.shape}, expected {CACHE_SHAPE_TAIL}"
        )
    return arr


def count_files(folder: Path, suffix: str) -> int:
    with os.scandir(folder) as it:
        return sum(1 for e in it if e.name.endswith(suffix) and e.is_file())


def require_images(images_dir: Path, suffix: str, expected: int, mismatch: str,
                   **release: str) -> None:
    """Before a cache is built from it: the release's image folder exists and holds
    ``expected`` files; otherwise the error says ``holds N <suffix> images<mismatch>``."""
    require_file(images_dir, **release)
    found = count_files(images_dir, suffix)
    if found != expected:
        raise DatasetError(f"{images_dir}: holds {found} {suffix} images{mismatch}")


# ----------------------------------------------------------------------- the cache
def load_cache(path: Path, n: int) -> np.ndarray:
    """Memory-map a cache and check it holds exactly ``n`` resized images."""
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(f"{path}: unreadable image cache ({exc}); delete it to rebuild") from exc
    want = (n, *CACHE_SHAPE_TAIL)
    if arr.shape != want or arr.dtype != np.uint8:
        raise DatasetError(
            f"{path}: image cache must be uint8 with shape {want}, got {arr.dtype} {arr.shape}; "
            "delete it to rebuild from the images"
        )
    return arr


def build_cache(
    image_paths: Sequence[Path],
    path: Path,
    transform: Callable[[Image.Image], Image.Image],
    workers: int | None = None,
    chunk: int = 256,
) -> None:
    """Decode, resize and write every image to ``path`` atomically (temp file + rename).

    Pillow releases the GIL while decoding, so a thread pool scales with cores.
    """
    n = len(image_paths)
    with atomic_path(path, fsync=True) as tmp:
        out = np.lib.format.open_memmap(
            tmp, mode="w+", dtype=np.uint8, shape=(n, *CACHE_SHAPE_TAIL)
        )
        _fill(out, image_paths, transform, workers or min(8, os.cpu_count() or 1), chunk, path.name)
        out.flush()
        del out


def _fill(
    out: np.ndarray,
    image_paths: Sequence[Path],
    transform: Callable[[Image.Image], Image.Image],
    workers: int,
    chunk: int,
    label: str,
) -> None:
    n = len(image_paths)

    def work(start: int) -> int:
        stop = min(start + chunk, n)
        for i in range(start, stop):
            out[i] = read_image(image_paths[i], transform)
        return stop - start

    pool = ThreadPoolExecutor(max_workers=workers)
    try:
        done = 0
        for j, k in enumerate(pool.map(work, range(0, n, chunk))):
            done += k
            if j % 64 == 63 or done == n:
                log.info("%s: resized %d / %d images", label, done, n)
    finally:
        # On an error, drop queued chunks and wait for running ones before returning.
        pool.shutdown(wait=True, cancel_futures=True)


def cached_images(
    cache: Path,
    image_paths: Callable[[], Sequence[Path]],
    transform: Callable[[Image.Image], Image.Image],
    n: int,
    workers: int | None = None,
) -> np.ndarray:
    """The memory-mapped cache, built first if it does not exist yet."""
    if not cache.exists():
        log.info("building %s from %d images (once)", cache, n)
        build_cache(image_paths(), cache, transform, workers=workers)
    return load_cache(cache, n)


# ------------------------------------------ numbered PNG folders (Falcor3D, Isaac3D)
@dataclass(frozen=True)
class NumberedFolder:
    """A release laid out as ``images/%06d.png`` (row i of the factor grid) plus labels."""

    name: str
    subdir: str
    factor_names: tuple[str, ...]
    factor_sizes: tuple[int, ...]
    labels_file: str
    label_columns: int
    source: str

    @property
    def cache_name(self) -> str:
        return f"{self.name}_64x64_uint8.npy"

    @property
    def layout(self) -> str:
        return (
            f"<root>/{self.subdir}/images/000000.png ... (%06d.png, row i of the factor grid in "
            f"C order) and <root>/{self.subdir}/{self.labels_file} ((N, {self.label_columns}) "
            f"array); the 64x64 cache is written to <root>/{self.subdir}/{self.cache_name}"
        )


class LabelledImageFolder(RGBArrayDataset):
    """A numbered PNG release served from its 64x64 cache, with the release's labels."""

    def __init__(self, images, *, spec: NumberedFolder, factor_sizes, labels: np.ndarray, source):
        super().__init__(images, name=spec.name, factor_sizes=factor_sizes, source=source)
        self.factor_names = spec.factor_names
        self.labels = labels


def open_numbered_folder(
    folder: Path,
    spec: NumberedFolder,
    factor_sizes: Sequence[int] | None = None,
    workers: int | None = None,
) -> LabelledImageFolder:
    """Validate labels (and images, when the cache must be built), then open the cache.

    ``factor_sizes`` defaults to the release's grid; tests pass a tiny grid.
    """
    sizes = tuple(int(s) for s in (factor_sizes or spec.factor_sizes))
    if len(sizes) != len(spec.factor_names):
        raise DatasetError(
            f"{spec.name}: need {len(spec.factor_names)} factor sizes for {spec.factor_names}, "
            f"got {sizes}"
        )
    n = int(np.prod(sizes, dtype=np.int64))
    images_dir = folder / "images"
    labels_path = folder / spec.labels_file
    require_file(labels_path, dataset=spec.name, layout=spec.layout, source=spec.source)
    labels = _load_labels(labels_path, n, spec.label_columns)
    cache = folder / spec.cache_name
    if not cache.exists():
        require_images(images_dir, ".png", n,
                       f" but {labels_path.name} has {labels.shape[0]} rows; expected {n} = "
                       f"prod{sizes} of each",
                       dataset=spec.name, layout=spec.layout, source=spec.source)
    images = cached_images(
        cache,
        lambda: [images_dir / f"{i:06d}.png" for i in range(n)],
        square_to_64,
        n,
        workers=workers,
    )
    return LabelledImageFolder(images, spec=spec, factor_sizes=sizes, labels=labels, source=folder)


def _load_labels(path: Path, n: int, columns: int) -> np.ndarray:
    try:
        labels = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(
            f"{path}: not a readable numpy array file ({exc}); expected an (N, {columns}) array"
        ) from exc
    if not isinstance(labels, np.ndarray):
        labels.close()
        raise DatasetError(
            f"{path}: expected a single .npy array of shape ({n}, {columns}), got an npz"
        )
    if labels.ndim != 2 or labels.shape[1] != columns or not np.issubdtype(labels.dtype, np.number):
        raise DatasetError(
            f"{path}: labels must be a numeric array of shape (N, {columns}), "
            f"got {labels.dtype} {labels.shape}"
        )
    if labels.shape[0] != n:
        raise DatasetError(
            f"{path}: labels have {labels.shape[0]} rows, expected {n} (one per image, "
            "the product of the factor sizes)"
        )
    return labels
