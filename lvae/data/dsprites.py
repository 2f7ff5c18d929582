"""The real dSprites release (Matthey et al. 2017), bit-packed in memory.

Layout under the data root::

    <root>/dsprites/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz

The npz holds ``imgs`` (737280, 64, 64) uint8 in {0, 1}, ``latents_values`` (737280, 6)
float64, ``latents_classes`` (737280, 6) int64 and ``metadata``, a pickled dict that is
never read (everything in it is known; unpickling runs arbitrary code). ``imgs`` is
2.9 GB as uint8, so it is streamed out of the zip in chunks and bit-packed into a
(737280, 512) array (377 MB): resident memory stays under 1 GiB.
Set ``LVAE_VERIFY_MD5=1`` (or pass ``verify_md5=True``) to check the release md5 first.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lvae.data.base import IMAGE_SIZE
from lvae.data.checksums import (
    inspect_npz_member,
    iter_npz_member_rows,
    md5_requested,
    require_file,
    verify_md5,
)
from lvae.data.dsprites_common import FACTOR_SIZES, PACKED_ROW_BYTES, PackedDSprites
from lvae.data.errors import DatasetError
from lvae.data.registry import register_dataset

FILE_NAME = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
SUBDIR = "dsprites"
#: Where the file goes, for the README.
LAYOUT = f"<root>/{SUBDIR}/{FILE_NAME}"
SOURCE = "https://github.com/google-deepmind/dsprites-dataset (Matthey et al. 2017)"
HINT = "no download? get_dataset('dsprites_procedural') renders the same grid offline"
MD5 = "7da33b31b13a06f4b04a70402ce90c2e"
#: Rows streamed per chunk: 8192 x 4 KiB = 32 MiB of unpacked images at a time.
CHUNK_ROWS = 8192


def load_packed_images(
    path: Path,
    factor_sizes: Sequence[int] = FACTOR_SIZES,
    *,
    verify_md5_sum: bool | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> np.ndarray:
    """Validate a dSprites-format npz and return ``imgs`` bit-packed, (N, 512) uint8.

    ``factor_sizes`` fixes the expected N = prod(sizes); the registry uses the release's
    grid, tests a tiny one. Raises DatasetError naming the file, key and expectation.
    """
    path = Path(path)
    require_file(path, dataset="dsprites", layout=LAYOUT, source=SOURCE, hint=HINT)
    sizes = tuple(int(s) for s in factor_sizes)
    n, k = int(np.prod(sizes, dtype=np.int64)), len(sizes)
    if md5_requested(verify_md5_sum):
        verify_md5(path, MD5, source=SOURCE)

    imgs = inspect_npz_member(path, "imgs")
    imgs.require((n, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    inspect_npz_member(path, "latents_values").require((n, k), np.float64)
    inspect_npz_member(path, "latents_classes").require((n, k), np.int64)
    _check_classes_c_order(path, sizes)

    packed = np.empty((n, PACKED_ROW_BYTES), dtype=np.uint8)
    row = 0
    for chunk in iter_npz_member_rows(imgs, chunk_rows):
        if chunk.max(initial=0) > 1:
            bad = row + int(np.argmax(chunk.reshape(len(chunk), -1).max(axis=1) > 1))
            raise DatasetError(f"{path}: key 'imgs' must hold only 0 and 1; row {bad} does not")
        packed[row : row + len(chunk)] = np.packbits(chunk.reshape(len(chunk), -1), axis=1)
        row += len(chunk)
    return packed


def _check_classes_c_order(path: Path, sizes: tuple[int, ...]) -> None:
    """Row i's classes must be in range and satisfy classes @ strides == i (C order).

    Only ``latents_classes`` is read (np.load with allow_pickle=False reads members
    lazily, so ``metadata`` is never touched).
    """
    with np.load(path, allow_pickle=False) as npz:
        classes = npz["latents_classes"]
    sizes_arr = np.asarray(sizes, dtype=np.int64)
    out_of_range = (classes < 0) | (classes >= sizes_arr)
    if out_of_range.any():
        r, c = (int(v) for v in np.argwhere(out_of_range)[0])
        raise DatasetError(
            f"{path}: key 'latents_classes' row {r} column {c} is {int(classes[r, c])}, "
            f"expected a class in [0, {sizes[c]}) for factor sizes {sizes}"
        )
    strides = np.concatenate([np.cumprod(sizes_arr[::-1])[::-1][1:], [1]])
    wrong = np.flatnonzero(classes @ strides != np.arange(len(classes)))
    if wrong.size:
        r = int(wrong[0])
        expected = np.stack(np.unravel_index(r, sizes)).tolist()
        raise DatasetError(
            f"{path}: key 'latents_classes' is not in C order of factor sizes {sizes}: "
            f"row {r} is {classes[r].tolist()}, expected {expected} ({wrong.size} rows differ)"
        )


@register_dataset("dsprites")
def open_dsprites(root: Path, verify_md5_sum: bool | None = None) -> PackedDSprites:
    """Open ``<root>/dsprites/<release npz>`` as the full 737,280-image grid."""
    path = Path(root) / SUBDIR / FILE_NAME
    return PackedDSprites(load_packed_images(path, verify_md5_sum=verify_md5_sum), name="dsprites")
