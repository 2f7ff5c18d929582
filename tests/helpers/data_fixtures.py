"""Writers for tiny files in each release's exact format.

Every image encodes its own index (a per-index seeded pattern, with the index spelled in
the first pixel or bits), so a loader that reads rows in the wrong order, transposes
channels or shifts by one fails the pixel comparison.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
from PIL import Image


# ------------------------------------------------------------------ pixel content
def rgb_image(i: int) -> np.ndarray:
    """(64, 64, 3) uint8, unique to index i."""
    img = np.random.default_rng(1000 + i).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    img[0, 0] = (i & 255, (i >> 8) & 255, (i >> 16) & 255)
    return img


def expected_rgb(indices: Sequence[int]) -> np.ndarray:
    """What ``observations(indices)`` must return for fixture images."""
    return np.stack([rgb_image(int(i)).transpose(2, 0, 1) / np.float32(255) for i in indices])


def binary_images(indices: np.ndarray) -> np.ndarray:
    """(k, 64, 64) uint8 in {0, 1}: the index in binary along row 0, a fixed last pixel."""
    idx = np.asarray(indices, dtype=np.int64)
    imgs = np.zeros((len(idx), 64, 64), dtype=np.uint8)
    imgs[:, 0, :20] = (idx[:, None] >> np.arange(20)) & 1
    imgs[:, 5, 7] = idx % 2 == 0
    imgs[:, 63, 63] = 1
    return imgs


def c_order_classes(sizes: Sequence[int]) -> np.ndarray:
    n = int(np.prod(sizes))
    return np.stack(np.unravel_index(np.arange(n), tuple(sizes)), axis=1).astype(np.int64)


class _Explodes:
    """Stand-in for dSprites' pickled ``metadata``: unpickling it fails the test."""

    def __reduce__(self):
        return (_explode, ())


def _explode():
    raise AssertionError("the loader unpickled 'metadata'")


# ------------------------------------------------------------------------- npz
def write_npz(path: Path, arrays: dict[str, np.ndarray], compressed: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    return path


def dsprites_arrays(sizes: Sequence[int]) -> dict[str, np.ndarray]:
    classes = c_order_classes(sizes)
    return {
        "imgs": binary_images(np.arange(len(classes))),
        "latents_values": classes.astype(np.float64) / 7.0,
        "latents_classes": classes,
        "metadata": np.array(_Explodes(), dtype=object),
    }


def write_dsprites_release_size(path: Path, chunk_rows: int = 32768) -> Path:
    """A full-size (737,280 image) dSprites npz in the release's layout, streamed."""
    from lvae.data.dsprites_common import FACTOR_SIZES

    n = int(np.prod(FACTOR_SIZES))
    classes = c_order_classes(FACTOR_SIZES)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("imgs.npy", "w", force_zip64=True) as fp:
            header = {"descr": "|u1", "fortran_order": False, "shape": (n, 64, 64)}
            np.lib.format.write_array_header_1_0(fp, header)
            for start in range(0, n, chunk_rows):
                fp.write(binary_images(np.arange(start, min(start + chunk_rows, n))).tobytes())
        for key, arr in (
            ("latents_values", classes.astype(np.float64)),
            ("latents_classes", classes),
            ("metadata", np.array(_Explodes(), dtype=object)),
        ):
            with zf.open(f"{key}.npy", "w", force_zip64=True) as fp:
                np.lib.format.write_array(fp, arr, allow_pickle=True)
    return path


def write_mpi3d(path: Path, sizes: Sequence[int], fmt: str = "npz") -> Path:
    """fmt: "npz" (stored, as released), "npz_compressed" or "npy"."""
    n = int(np.prod(sizes))
    images = np.stack([rgb_image(i) for i in range(n)])
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "npy":
        np.save(path, images)
        return path
    return write_npz(path, {"images": images}, compressed=fmt == "npz_compressed")


# -------------------------------------------------------------------------- h5
def shapes3d_labels(sizes: Sequence[int]) -> np.ndarray:
    """Label values like the release's (hues in [0, 1), scale, shape id, angle)."""
    classes = c_order_classes(sizes)
    grids = [
        np.linspace(0.0, 0.9, sizes[0]),
        np.linspace(0.0, 0.9, sizes[1]),
        np.linspace(0.0, 0.9, sizes[2]),
        np.linspace(0.75, 1.25, sizes[3]),
        np.arange(sizes[4], dtype=np.float64),
        np.linspace(-30.0, 30.0, sizes[5]),
    ]
    return np.stack([grids[j][classes[:, j]] for j in range(6)], axis=1)


def write_shapes3d(
    path: Path,
    sizes: Sequence[int],
    *,
    labels: np.ndarray | None = None,
    images: np.ndarray | None = None,
) -> Path:
    n = int(np.prod(sizes))
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        f["images"] = np.stack([rgb_image(i) for i in range(n)]) if images is None else images
        f["labels"] = shapes3d_labels(sizes) if labels is None else labels
    return path


# -------------------------------------------------------------- image folders
def write_numbered_folder(
    folder: Path,
    sizes: Sequence[int],
    *,
    labels_file: str,
    label_columns: int,
    side: int = 128,
    n_images: int | None = None,
    n_labels: int | None = None,
) -> Path:
    """``images/%06d.png`` (rgb_image(i) upscaled to side^2, so area-averaging to 64
    gives it back exactly) plus an (N, columns) float64 labels file via np.save."""
    n = int(np.prod(sizes))
    (folder / "images").mkdir(parents=True, exist_ok=True)
    scale = side // 64
    for i in range(n if n_images is None else n_images):
        big = np.repeat(np.repeat(rgb_image(i), scale, axis=0), scale, axis=1)
        Image.fromarray(big).save(folder / "images" / f"{i:06d}.png")
    rows = n if n_labels is None else n_labels
    labels = np.zeros((rows, label_columns))
    k = min(rows, n)
    labels[:k, : len(sizes)] = c_order_classes(sizes)[:k]
    with open(folder / labels_file, "wb") as fh:  # np.save would append ".npy"
        np.save(fh, labels)
    return folder


CELEBA_INNER = 200
CELEBA_OUTER = 20


def celeba_colour(i: int) -> np.ndarray:
    """Colour inside the centre crop of image i: channels far apart between indices."""
    return np.array([(40 * i + 30) % 250, 220 - (30 * i) % 200, 128], dtype=np.uint8)


def write_celeba(folder: Path, n: int, *, count_line: int | None = None) -> Path:
    """``img_align_celeba/%06d.jpg`` (178x218: colour i inside the 148x148 centre crop,
    dark outside) and ``list_attr_celeba.txt`` in the release's whitespace layout."""
    from lvae.data.celeba import CROP, NUM_ATTRIBUTES

    images = folder / "img_align_celeba"
    images.mkdir(parents=True, exist_ok=True)
    left, top = (178 - CROP) // 2, (218 - CROP) // 2
    rng = np.random.default_rng(0)
    lines = [str(n if count_line is None else count_line)]
    lines.append(" ".join(f"Attr_{k}" for k in range(NUM_ATTRIBUTES)) + " ")
    for i in range(n):
        img = np.full((218, 178, 3), CELEBA_OUTER, dtype=np.uint8)
        img[top : top + CROP, left : left + CROP] = celeba_colour(i)
        name = f"{i + 1:06d}.jpg"
        Image.fromarray(img).save(images / name, quality=100, subsampling=0)
        values = rng.choice([-1, 1], size=NUM_ATTRIBUTES)
        lines.append(name + " " + " ".join(f"{v:2d}" for v in values))
    (folder / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    return folder
