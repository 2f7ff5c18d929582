"""CelebA aligned faces (Liu et al. 2015): observations only, for qualitative runs.

Layout under the data root::

    <root>/celeba/img_align_celeba/000001.jpg ... 202599.jpg   (178x218)
    <root>/celeba/list_attr_celeba.txt     (count line, 40 names, rows "name +-1 x 40")
    <root>/celeba/celeba_64x64_uint8.npy   (written on first open)

Each image is centre-cropped to 148x148 (the crop common in the VAE literature, which
keeps the face and drops most background) and area-resized to 64x64, once, into the
cache. There are no ground-truth factors: ``factor_sizes`` is empty, ``len`` is the
number of images, and factor sampling, ``index_of`` and metrics raise. The 40 binary
attributes are kept on ``attributes`` (int8 +-1) for inspection.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from lvae.data.base import IMAGE_SIZE
from lvae.data.checksums import require_file
from lvae.data.errors import DatasetError
from lvae.data.image_folder import RGBArrayDataset, cached_images, require_images
from lvae.data.registry import register_dataset

SUBDIR = "celeba"
IMAGES_DIR = "img_align_celeba"
ATTR_FILE = "list_attr_celeba.txt"
CACHE_NAME = "celeba_64x64_uint8.npy"
NUM_IMAGES = 202_599
NUM_ATTRIBUTES = 40
#: Side of the centre crop taken from the 178x218 aligned images before resizing.
CROP = 148
#: Where the files go, for the README.
LAYOUT = (
    f"<root>/{SUBDIR}/{IMAGES_DIR}/000001.jpg ... and <root>/{SUBDIR}/{ATTR_FILE}; "
    f"the 64x64 cache is written to <root>/{SUBDIR}/{CACHE_NAME}"
)
SOURCE = (
    "https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html (Liu et al. 2015, 'Align&Cropped Images')"
)


class CelebA(RGBArrayDataset):
    factor_names = ()

    def __init__(
        self, images: np.ndarray, *, attributes: np.ndarray, attribute_names, image_names, source
    ):
        super().__init__(images, name="celeba", factor_sizes=(), source=source)
        self.attributes = attributes
        self.attribute_names = tuple(attribute_names)
        self.image_names = tuple(image_names)

    def __len__(self) -> int:
        # No factor grid: the length is the image count, not prod(factor_sizes).
        return int(self.images.shape[0])


def centre_crop_64(im: Image.Image) -> Image.Image:
    if im.width < CROP or im.height < CROP:
        raise ValueError(f"expected at least {CROP}x{CROP} pixels, got {im.width}x{im.height}")
    left, top = (im.width - CROP) // 2, (im.height - CROP) // 2
    box = im.crop((left, top, left + CROP, top + CROP))
    return box.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)


def read_attributes(path: Path, expected_count: int) -> tuple[list[str], list[str], np.ndarray]:
    """(attribute names, image names, int8 (N, 40) values in {-1, 1}) from list_attr_celeba.txt."""
    try:
        with open(path) as fh:
            count_line, names_line = fh.readline(), fh.readline()
        count = int(count_line.strip())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: first line must be the image count ({exc})") from exc
    names = names_line.split()
    if len(names) != NUM_ATTRIBUTES:
        raise DatasetError(
            f"{path}: second line must name {NUM_ATTRIBUTES} attributes, got {len(names)}"
        )
    if count != expected_count:
        raise DatasetError(f"{path}: count line says {count} images, expected {expected_count}")
    try:
        table = pd.read_csv(
            path, sep=r"\s+", skiprows=2, header=None, names=["image", *names], dtype={"image": str}
        )
    except (pd.errors.ParserError, ValueError) as exc:
        raise DatasetError(f"{path}: malformed attribute rows ({exc})") from exc
    values = table[names].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    if len(table) != count:
        raise DatasetError(f"{path}: {len(table)} attribute rows, but the count line says {count}")
    bad = ~np.isin(values, (-1.0, 1.0))  # NaN (short or non-numeric rows) fails too
    if bad.any():
        r = int(np.argwhere(bad)[0][0])
        raise DatasetError(
            f"{path}: row {r + 3} ({table['image'].iloc[r]}) must hold {NUM_ATTRIBUTES} values "
            "of -1 or 1"
        )
    return names, table["image"].tolist(), values.astype(np.int8)


def open_celeba_folder(
    folder: Path, expected_count: int = NUM_IMAGES, workers: int | None = None
) -> CelebA:
    """Validate the attribute list (and images, when the cache must be built); open the cache.

    ``expected_count`` defaults to the release's 202,599 images; tests pass a tiny count.
    """
    folder = Path(folder)
    attr_path = require_file(folder / ATTR_FILE, dataset="celeba", layout=LAYOUT, source=SOURCE)
    names, image_names, attributes = read_attributes(attr_path, expected_count)
    images_dir = folder / IMAGES_DIR
    cache = folder / CACHE_NAME
    if not cache.exists():
        require_images(images_dir, ".jpg", expected_count,
                       f", expected {expected_count} (the rows of {ATTR_FILE})",
                       dataset="celeba", layout=LAYOUT, source=SOURCE)
    images = cached_images(
        cache,
        lambda: [images_dir / f for f in image_names],
        centre_crop_64,
        expected_count,
        workers,
    )
    return CelebA(
        images, attributes=attributes, attribute_names=names, image_names=image_names, source=folder
    )


@register_dataset("celeba")
def open_celeba(root: Path) -> CelebA:
    return open_celeba_folder(Path(root) / SUBDIR)
