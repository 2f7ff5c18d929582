"""Falcor3D (NVlabs high-resolution disentanglement datasets, Nie et al. 2020).

Layout under the data root::

    <root>/falcor3d/images/000000.png ... 233279.png   (1024^2 or 128^2 renders)
    <root>/falcor3d/train-rec.labels                    (np.load -> (233280, 7))
    <root>/falcor3d/falcor3d_64x64_uint8.npy            (written on first open)

Image i is row i of the factor grid in C order:
index = li*46656 + lx*7776 + ly*1296 + lz*216 + cx*36 + cy*6 + cz.
The first open resizes every image once (area averaging) into the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from lvae.data.image_folder import LabelledImageFolder, NumberedFolder, open_numbered_folder
from lvae.data.registry import register_dataset

SOURCE = (
    "https://github.com/NVlabs/High-res-disentanglement-datasets "
    "(Nie et al. 2020, Semi-Supervised StyleGAN for Disentanglement Learning)"
)
SPEC = NumberedFolder(
    name="falcor3d",
    subdir="falcor3d",
    factor_names=(
        "lighting_intensity",
        "lighting_x_dir",
        "lighting_y_dir",
        "lighting_z_dir",
        "camera_x_pos",
        "camera_y_pos",
        "camera_z_pos",
    ),
    factor_sizes=(5, 6, 6, 6, 6, 6, 6),
    labels_file="train-rec.labels",
    label_columns=7,
    source=SOURCE,
)
#: Where the files go, for the README.
LAYOUT = SPEC.layout


@register_dataset("falcor3d")
def open_falcor3d(
    root: Path, factor_sizes: Sequence[int] | None = None, workers: int | None = None
) -> LabelledImageFolder:
    """Open ``<root>/falcor3d`` (``factor_sizes`` defaults to the release's 233,280 grid)."""
    return open_numbered_folder(Path(root) / SPEC.subdir, SPEC, factor_sizes, workers=workers)
