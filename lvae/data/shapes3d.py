"""3D Shapes (Burgess and Kim 2018), read lazily from the release HDF5 file.

Layout under the data root::

    <root>/shapes3d/3dshapes.h5

Datasets ``images`` (480000, 64, 64, 3) uint8 and ``labels`` (480000, 6) float64; row i
is row i of the factor grid in C order (floor_hue 10, wall_hue 10, object_hue 10,
scale 8, shape 4, orientation 15). Only the labels (23 MB) are read at open time, to
check that order; images are read per batch. The h5 handle is opened lazily and dropped
when pickled, so the dataset can be shipped to worker processes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from lvae.data.base import IMAGE_SIZE
from lvae.data.checksums import require_file
from lvae.data.errors import DatasetError
from lvae.data.image_folder import RGBArrayDataset
from lvae.data.registry import register_dataset

FILE_NAME = "3dshapes.h5"
SUBDIR = "shapes3d"
#: Where the file goes, for the README.
LAYOUT = f"<root>/{SUBDIR}/{FILE_NAME}"
SOURCE = (
    "https://github.com/google-deepmind/3d-shapes (Burgess and Kim 2018; "
    "file https://storage.googleapis.com/3d-shapes/3dshapes.h5)"
)
FACTOR_NAMES: tuple[str, ...] = (
    "floor_hue",
    "wall_hue",
    "object_hue",
    "scale",
    "shape",
    "orientation",
)
FACTOR_SIZES: tuple[int, ...] = (10, 10, 10, 8, 4, 15)


class Shapes3D(RGBArrayDataset):
    factor_names = FACTOR_NAMES

    def __init__(self, path: Path, factor_sizes: Sequence[int] = FACTOR_SIZES):
        path = Path(path)
        sizes = tuple(int(s) for s in factor_sizes)
        if len(sizes) != len(FACTOR_NAMES):
            raise DatasetError(f"shapes3d: need {len(FACTOR_NAMES)} factor sizes, got {sizes}")
        require_file(path, dataset="shapes3d", layout=LAYOUT, source=SOURCE)
        # images stay in the file (read per batch through _read_rows), hence None here.
        super().__init__(None, name="shapes3d", factor_sizes=sizes, source=path)
        self._file: h5py.File | None = None
        self.labels = _validate(path, sizes)

    def _h5_images(self) -> h5py.Dataset:
        if self._file is None:
            self._file = h5py.File(self.source, "r")
        return self._file["images"]

    def _read_rows(self, idx: np.ndarray) -> np.ndarray:
        # h5py fancy reads need strictly increasing indices: sort + dedupe, then undo.
        if idx.size == 0:
            return np.empty((0, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
        uniq, inverse = np.unique(idx, return_inverse=True)
        return self._h5_images()[uniq][inverse]

    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state["_file"] = None
        return state

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _validate(path: Path, sizes: tuple[int, ...]) -> np.ndarray:
    """Check datasets, shapes, dtypes and the C-order labels; return the labels."""
    n = int(np.prod(sizes, dtype=np.int64))
    try:
        with h5py.File(path, "r") as f:
            expected = {
                "images": ((n, IMAGE_SIZE, IMAGE_SIZE, 3), np.dtype(np.uint8)),
                "labels": ((n, len(sizes)), np.dtype(np.float64)),
            }
            for key, (shape, dtype) in expected.items():
                if key not in f or not isinstance(f[key], h5py.Dataset):
                    raise DatasetError(
                        f"{path}: missing dataset {key!r} ({dtype} {shape}); found "
                        f"{sorted(f.keys())}"
                    )
                d = f[key]
                if d.shape != shape or d.dtype != dtype:
                    raise DatasetError(
                        f"{path}: dataset {key!r} must be {dtype} with shape {shape}, "
                        f"got {d.dtype} {d.shape}"
                    )
            labels = f["labels"][()]
            f["images"][n - 1]  # reading the last row catches a truncated file now
    except DatasetError:
        raise
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(
            f"{path}: not a readable 3dshapes HDF5 file ({exc}); it may be truncated"
        ) from exc
    _check_label_order(path, labels, sizes)
    return labels


def _check_label_order(path: Path, labels: np.ndarray, sizes: tuple[int, ...]) -> None:
    """Each column must take sizes[j] distinct values, ranked in C order of the rows."""
    classes = np.empty(labels.shape, dtype=np.int64)
    for j, size in enumerate(sizes):
        values, classes[:, j] = np.unique(labels[:, j], return_inverse=True)
        if len(values) != size:
            raise DatasetError(
                f"{path}: dataset 'labels' column {j} ({FACTOR_NAMES[j]}) takes {len(values)} "
                f"distinct values, expected {size}"
            )
    strides = np.concatenate([np.cumprod(np.asarray(sizes)[::-1])[::-1][1:], [1]])
    wrong = np.flatnonzero(classes @ strides != np.arange(len(labels)))
    if wrong.size:
        r = int(wrong[0])
        raise DatasetError(
            f"{path}: dataset 'labels' is not in C order of {FACTOR_NAMES}: row {r} has the "
            f"classes {classes[r].tolist()}, expected "
            f"{np.stack(np.unravel_index(r, sizes)).tolist()}"
        )


@register_dataset("shapes3d")
def open_shapes3d(root: Path) -> Shapes3D:
    return Shapes3D(Path(root) / SUBDIR / FILE_NAME)
