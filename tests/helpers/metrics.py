"""A tiny dataset whose observations spell out their factors, an encoder that reads them
back, and fast metric options: shared by the metric tests."""

from __future__ import annotations

import numpy as np

from lvae.data.base import GroundTruthDataset


class TinyDataset(GroundTruthDataset):
    """Factor j of an observation is written (scaled to [0, 1]) into pixel (0, 0, j)."""

    name = "tiny"
    observation_shape = (1, 64, 64)

    def __init__(self, sizes: tuple[int, ...] = (4, 5, 6)):
        self.factor_sizes = sizes
        self.factor_names = tuple(f"f{j}" for j in range(len(sizes)))

    def observations(self, indices: np.ndarray) -> np.ndarray:
        f = self.factors_of(indices)
        obs = np.zeros((len(f), 1, 64, 64), dtype=np.float32)
        obs[:, 0, 0, : f.shape[1]] = f / np.maximum(np.asarray(self.factor_sizes) - 1, 1)
        return obs


def identity_encoder(obs: np.ndarray) -> np.ndarray:
    """Reads the factors back (the varying ones), plus one dim collapsed to 0."""
    return np.concatenate([obs[:, 0, 0, :3].astype(np.float64), np.zeros((len(obs), 1))], axis=1)


FAST = {
    "dci": {"probe": "logistic", "n_jobs": 1},
    "factor_vae": {"batch_size": 8, "num_variance_estimate": 200},
    "beta_vae": {"batch_size": 8},
}
