"""Isaac3D (NVlabs high-resolution disentanglement datasets, Nie et al. 2020).

Layout under the data root::

    <root>/isaac3d/images/000000.png ... 737279.png   (512^2 or 128^2 renders)
    <root>/isaac3d/labels.npy                          ((737280, 9) array)
    <root>/isaac3d/isaac3d_64x64_uint8.npy             (written on first open)

Image i is row i of the factor grid in C order, with the factor order of the release's
demo script (its README names four terms wrongly): object_shape 3, robot_x 8, robot_y 5,
camera_height 4, object_scale 4, lighting_intensity 4, lighting_y_dir 6, object_color 4,
wall_color 4. The first open resizes every image once (area averaging) into the cache.
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
    name="isaac3d",
    subdir="isaac3d",
    factor_names=(
        "object_shape",
        "robot_x",
        "robot_y",
        "camera_height",
        "object_scale",
        "lighting_intensity",
        "lighting_y_dir",
        "object_color",
        "wall_color",
    ),
    factor_sizes=(3, 8, 5, 4, 4, 4, 6, 4, 4),
    labels_file="labels.npy",
    label_columns=9,
    source=SOURCE,
)
#: Where the files go, for the README.
LAYOUT = SPEC.layout


@register_dataset("isaac3d")
def open_isaac3d(
    root: Path, factor_sizes: Sequence[int] | None = None, workers: int | None = None
) -> LabelledImageFolder:
    """Open ``<root>/isaac3d`` (``factor_sizes`` defaults to the release's 737,280 grid)."""
    return open_numbered_folder(Path(root) / SPEC.subdir, SPEC, factor_sizes, workers=workers)
