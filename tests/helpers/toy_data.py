"""A tiny ground-truth dataset for fast tests: a square whose size and position are factors."""

from __future__ import annotations

import numpy as np

from lvae.data import GroundTruthDataset, register_dataset
from lvae.data.registry import DATASETS


class ToySquares(GroundTruthDataset):
    name = "toy_squares"
    factor_names = ("size", "pos_x", "pos_y")
    factor_sizes = (3, 6, 6)
    observation_shape = (1, 64, 64)
    likelihood = "bernoulli"

    def __init__(self) -> None:
        grid = np.zeros((len(self), 1, 64, 64), dtype=np.float32)
        for i, (s, x, y) in enumerate(self.factors_of(np.arange(len(self)))):
            half = 4 + 3 * s
            cx, cy = 12 + 8 * x, 12 + 8 * y
            grid[i, 0, cy - half : cy + half, cx - half : cx + half] = 1.0
        self.grid = grid

    def observations(self, indices: np.ndarray) -> np.ndarray:
        return self.grid[np.asarray(indices, dtype=np.int64)]


def register() -> None:
    if "toy_squares" not in DATASETS:
        register_dataset("toy_squares")(lambda root: ToySquares())
