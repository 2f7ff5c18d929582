"""The one interface every dataset implements.

Training, metrics and analysis only ever talk to a dataset through this class, so a
new dataset is a subclass that provides ``observations(indices)`` (plus its factor
layout) and nothing else needs to change.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence

import numpy as np

from lvae.data.errors import DatasetError

#: Side length of every observation: each dataset is rendered or resized to it, and the
#: architectures are built for it (docs/models.md).
IMAGE_SIZE = 64


class GroundTruthDataset(abc.ABC):
    """A finite grid of observations indexed by discrete ground-truth factors.

    Factors are integer class indices in C order (the last factor varies fastest),
    so ``index = factors @ strides`` is the row of the observation in the release.
    Observations are float32 in [0, 1] with shape (N, C, 64, 64).
    """

    name: str = ""
    factor_names: tuple[str, ...] = ()
    factor_sizes: tuple[int, ...] = ()
    observation_shape: tuple[int, int, int] = (1, IMAGE_SIZE, IMAGE_SIZE)
    #: "bernoulli" for binary images, "gaussian" for RGB/grey images.
    likelihood: str = "bernoulli"

    # ----------------------------------------------------------------- layout
    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    @property
    def has_factors(self) -> bool:
        return self.num_factors > 0

    @property
    def strides(self) -> np.ndarray:
        sizes = np.asarray(self.factor_sizes, dtype=np.int64)
        return np.concatenate([np.cumprod(sizes[::-1])[::-1][1:], [1]]).astype(np.int64)

    def __len__(self) -> int:
        return int(np.prod(self.factor_sizes, dtype=np.int64))

    def _require_factors(self) -> None:
        if not self.has_factors:
            raise DatasetError(
                f"dataset {self.name!r} has no ground-truth factors (observations only); "
                "factor sampling, indexing and disentanglement metrics need a dataset with factors"
            )

    def index_of(self, factors: np.ndarray | Sequence[Sequence[int]]) -> np.ndarray:
        """Row index of each factor combination; raises on out-of-range classes."""
        self._require_factors()
        f = np.asarray(factors)
        if f.ndim == 1:
            f = f[None, :]
        if f.ndim != 2 or f.shape[1] != self.num_factors:
            raise DatasetError(
                f"{self.name}: factors must have shape (N, {self.num_factors}) "
                f"for {self.factor_names}, got {f.shape}"
            )
        if not np.issubdtype(f.dtype, np.integer):
            raise DatasetError(f"{self.name}: factors must be integer class indices, got {f.dtype}")
        sizes = np.asarray(self.factor_sizes)
        bad = (f < 0) | (f >= sizes)
        if bad.any():
            col = int(np.argwhere(bad)[0][1])
            raise DatasetError(
                f"{self.name}: factor {self.factor_names[col]!r} must be in [0, {sizes[col]}), "
                f"got {int(f[bad][0])}"
            )
        return f.astype(np.int64) @ self.strides

    def factors_of(self, index: np.ndarray | Sequence[int] | int) -> np.ndarray:
        """Inverse of :meth:`index_of`: (N, K) int64 class indices."""
        self._require_factors()
        idx = np.atleast_1d(np.asarray(index, dtype=np.int64))
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise DatasetError(f"{self.name}: index must be in [0, {len(self)}), got "
                               f"{idx.min()}..{idx.max()}")
        return np.stack(np.unravel_index(idx, self.factor_sizes), axis=1).astype(np.int64)

    # --------------------------------------------------------------- sampling
    def sample_factors(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n factor combinations drawn uniformly and independently per factor."""
        self._require_factors()
        return rng.integers(0, np.asarray(self.factor_sizes),
                            size=(n, self.num_factors)).astype(np.int64)

    def sample_observations_from_factors(
        self, factors: np.ndarray, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Observations for given factors (rng is for datasets with nuisance variation)."""
        return self.observations(self.index_of(factors))

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        factors = self.sample_factors(n, rng)
        return factors, self.sample_observations_from_factors(factors, rng)

    def random_batch(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """A training batch of n uniformly drawn observations (the trainer's hot path)."""
        return self.observations(rng.integers(0, len(self), size=n))

    @abc.abstractmethod
    def observations(self, indices: np.ndarray) -> np.ndarray:
        """float32 array (N, C, 64, 64) in [0, 1] for the given row indices."""

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(name={self.name!r}, len={len(self)}, "
                f"factors={dict(zip(self.factor_names, self.factor_sizes, strict=True))})")
