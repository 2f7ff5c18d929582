"""What the real and the procedural dSprites share: factor layout and bit-packed storage.

737,280 binary 64x64 images are 2.9 GB as uint8 but 377 MB bit-packed (one row of
512 bytes per image); a training batch unpacks only the rows it draws.
"""

from __future__ import annotations

import numpy as np

from lvae.data.base import IMAGE_SIZE, GroundTruthDataset

FACTOR_NAMES: tuple[str, ...] = ("color", "shape", "scale", "orientation", "pos_x", "pos_y")
FACTOR_SIZES: tuple[int, ...] = (1, 3, 6, 40, 32, 32)
NUM_IMAGES = 737_280
PACKED_ROW_BYTES = IMAGE_SIZE * IMAGE_SIZE // 8
#: The release's ``latents_values`` per factor (shape values are 1, 2, 3 in the npz).
FACTOR_VALUES: tuple[np.ndarray, ...] = (
    np.array([1.0]),
    np.array([1.0, 2.0, 3.0]),
    np.linspace(0.5, 1.0, 6),
    np.linspace(0.0, 2 * np.pi, 40),
    np.linspace(0.0, 1.0, 32),
    np.linspace(0.0, 1.0, 32),
)
SHAPE_NAMES: tuple[str, ...] = ("square", "ellipse", "heart")


class PackedDSprites(GroundTruthDataset):
    """dSprites held as a (737280, 512) uint8 bit-packed array (in memory or memory-mapped)."""

    factor_names = FACTOR_NAMES
    factor_sizes = FACTOR_SIZES
    observation_shape = (1, IMAGE_SIZE, IMAGE_SIZE)
    likelihood = "bernoulli"

    def __init__(self, packed: np.ndarray, name: str):
        if packed.shape != (NUM_IMAGES, PACKED_ROW_BYTES) or packed.dtype != np.uint8:
            raise ValueError(
                f"{name}: packed images must be uint8 {(NUM_IMAGES, PACKED_ROW_BYTES)}, "
                f"got {packed.dtype} {packed.shape}"
            )
        self.name = name
        self.packed = packed

    def observations(self, indices: np.ndarray) -> np.ndarray:
        rows = self.packed[np.asarray(indices, dtype=np.int64)]
        bits = np.unpackbits(rows, axis=1)
        return bits.reshape(-1, 1, IMAGE_SIZE, IMAGE_SIZE).astype(np.float32)

    def latent_values(self, factors: np.ndarray) -> np.ndarray:
        """The release's ``latents_values`` for class indices (N, 6) float64."""
        f = np.asarray(factors, dtype=np.int64)
        return np.stack([FACTOR_VALUES[k][f[:, k]] for k in range(len(FACTOR_SIZES))], axis=1)
