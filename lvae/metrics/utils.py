"""What every metric shares: input checks, the histogram discretiser, the MI matrix and
the sampler that turns a dataset plus an encoder into (codes, factors) arrays.

Arrays are (num_points, num_dims) here; disentanglement_lib stores the transpose
(num_dims, num_points). Definitions follow disentanglement_lib 1.5
(``evaluation/metrics/utils.py``): 20 equal-width bins per code over its own min..max
(``np.digitize(x, np.histogram(x, num_bins)[1][:-1])``) and
``sklearn.metrics.mutual_info_score`` in nats.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np
from sklearn.metrics import mutual_info_score

#: An encoder as the metrics see it: float32 observations (N, C, 64, 64) -> codes (N, D).
Encoder = Callable[[np.ndarray], np.ndarray]


# ------------------------------------------------------------------ input checks
def as_array(value: object, name: str, dtype: type | None = None) -> np.ndarray:
    """``np.asarray`` whose failure (ragged nested lists, text) names the argument;
    numpy's own message says neither which argument nor what was expected."""
    try:
        return np.asarray(value, dtype=dtype)
    except (ValueError, TypeError) as exc:
        detail = str(exc).split(". ")[-1].rstrip(".")
        raise ValueError(
            f"{name} must be a rectangular numeric array (every row the same length); "
            f"got {type(value).__name__} that numpy cannot convert ({detail})"
        ) from None


def check_codes(codes: object, name: str) -> np.ndarray:
    """(N, D) finite float64 codes, or ValueError naming ``name``."""
    arr = as_array(codes, name)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (num_points, num_codes), got shape "
                         f"{arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one point and one code dim, got shape "
                         f"{arr.shape}")
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise ValueError(f"{name} must be a numeric array, got dtype {arr.dtype}")
    arr = arr.astype(np.float64, copy=False)
    if not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} must be finite; found {arr[bad[0], bad[1]]} at point {bad[0]}, code dim "
            f"{bad[1]}"
        )
    return arr


def check_factors(factors: object, name: str) -> np.ndarray:
    """(N, K) non-negative int64 class indices, or ValueError naming ``name``."""
    arr = as_array(factors, name)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array (num_points, num_factors), got shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"{name} must have at least one point and one factor, got shape "
                         f"{arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name} must hold integer class indices, got dtype {arr.dtype}")
    if (arr < 0).any():
        bad = np.argwhere(arr < 0)[0]
        raise ValueError(
            f"{name} must be non-negative class indices; found {arr[bad[0], bad[1]]} "
            f"at point {bad[0]}, factor {bad[1]}"
        )
    return arr.astype(np.int64, copy=False)


def check_pair(
    codes: object, factors: object, codes_name: str, factors_name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Checked codes and factors with the same number of points."""
    c = check_codes(codes, codes_name)
    f = check_factors(factors, factors_name)
    if c.shape[0] != f.shape[0]:
        raise ValueError(
            f"{codes_name} has {c.shape[0]} points but {factors_name} has {f.shape[0]}; "
            "they must be the same samples"
        )
    return c, f


def check_train_test(
    codes_train: object, factors_train: object, codes_test: object, factors_test: object
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Checked train/test arrays with matching code and factor counts."""
    ctr, ftr = check_pair(codes_train, factors_train, "codes_train", "factors_train")
    cte, fte = check_pair(codes_test, factors_test, "codes_test", "factors_test")
    if ctr.shape[1] != cte.shape[1]:
        raise ValueError(
            f"codes_train has {ctr.shape[1]} code dims but codes_test has {cte.shape[1]}"
        )
    if ftr.shape[1] != fte.shape[1]:
        raise ValueError(
            f"factors_train has {ftr.shape[1]} factors but factors_test has {fte.shape[1]}"
        )
    return ctr, ftr, cte, fte


def check_num_bins(num_bins: object, num_points: int, codes_name: str) -> int:
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 2:
        raise ValueError(f"num_bins must be an integer >= 2, got {num_bins!r}")
    if num_points < num_bins:
        raise ValueError(
            f"{codes_name} has {num_points} points, fewer than num_bins={num_bins}; "
            "the histogram estimate needs at least one point per bin on average"
        )
    return int(num_bins)


def check_positive_int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def varying_factors(factors: np.ndarray, name: str) -> np.ndarray:
    """Indices of the factors that take more than one value in ``factors``.

    A factor with a single value has zero entropy: MIG would divide by 0 and a
    classifier cannot be fit on one class. Such factors are skipped with a warning
    (disentanglement_lib would return NaN or crash); if none is left this raises.
    """
    nunique = np.array([np.unique(factors[:, j]).size for j in range(factors.shape[1])])
    keep = np.flatnonzero(nunique > 1)
    skipped = np.flatnonzero(nunique <= 1)
    if keep.size == 0:
        raise ValueError(
            f"every factor in {name} takes a single value; no factor is left to score"
        )
    if skipped.size:
        warnings.warn(
            f"{name}: skipping factor(s) {skipped.tolist()} that take a single value "
            "(zero entropy); scoring the other factors",
            stacklevel=3,
        )
    return keep


# ------------------------------------------------------ discretisation and MI
def histogram_discretize(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """Bin index per code dim: num_bins equal-width bins over that dim's own range.

    A constant dim lands in one bin (np.histogram widens a zero range to +-0.5), so
    its mutual information with anything is 0, as in disentanglement_lib.
    """
    out = np.empty(codes.shape, dtype=np.int64)
    for i in range(codes.shape[1]):
        edges = np.histogram(codes[:, i], num_bins)[1]
        out[:, i] = np.digitize(codes[:, i], edges[:-1])
    return out


def discrete_mutual_info(discrete_codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """(D, K) matrix of I(code_i; factor_j) in nats."""
    m = np.zeros((discrete_codes.shape[1], factors.shape[1]))
    for i in range(discrete_codes.shape[1]):
        for j in range(factors.shape[1]):
            m[i, j] = mutual_info_score(factors[:, j], discrete_codes[:, i])
    return m


def discrete_entropy(factors: np.ndarray) -> np.ndarray:
    """(K,) entropy of each factor in nats, computed as I(y; y) like disentanglement_lib."""
    return np.array([mutual_info_score(factors[:, j],
                                       factors[:, j]) for j in range(factors.shape[1])])


def standardize(
    train: np.ndarray, test: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Z-score with the train mean/std; a constant dim gets std 1 (disentanglement_lib
    would divide by 0 and produce NaN)."""
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    return (train - mean) / std, None if test is None else (test - mean) / std


# -------------------------------------------------------------------- sampling
def as_generator(seed: int | np.random.Generator) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError("seed must be a non-negative integer or np.random.Generator, got "
                         f"{seed!r}")
    return np.random.default_rng(int(seed))


def encode_batched(encode: Encoder, observations: np.ndarray, batch_size: int) -> np.ndarray:
    """Codes for many observations, encoded batch_size at a time to bound memory."""
    parts = []
    for start in range(0, observations.shape[0], batch_size):
        codes = as_array(encode(observations[start : start + batch_size]), "the output of encode")
        if codes.ndim != 2 or codes.shape[0] != min(batch_size, observations.shape[0] - start):
            raise ValueError(
                f"encode must return a 2-D array (num_observations, num_codes); for "
                f"{min(batch_size, observations.shape[0] - start)} observations it returned "
                f"shape {codes.shape}"
            )
        parts.append(codes)
    return np.concatenate(parts, axis=0)


def nonconstant_factor_columns(dataset) -> np.ndarray:
    """Columns of the dataset's factors with more than one class (dSprites drops color)."""
    return np.flatnonzero(np.asarray(dataset.factor_sizes) > 1)


def sample_codes_and_factors(
    dataset,
    encode: Encoder,
    num_points: int,
    seed: int | np.random.Generator,
    batch_size: int = 1000,
) -> tuple[np.ndarray, np.ndarray]:
    """``num_points`` uniformly drawn factor combinations and their codes.

    Returns ``(codes (N, D) float64, factors (N, K') int64)``. Factors with a single
    class in the dataset (``factor_sizes[j] == 1``, e.g. dSprites' color) are dropped
    from the returned factors, so dSprites metrics score its 5 non-constant factors.
    ``seed`` may be an int or a Generator (to draw several sets from one stream).
    """
    num_points = check_positive_int(num_points, "num_points")
    batch_size = check_positive_int(batch_size, "batch_size")
    rng = as_generator(seed)
    keep = nonconstant_factor_columns(dataset)
    if keep.size == 0:
        raise ValueError(f"dataset {dataset.name!r} has no factor with more than one class")
    factors = dataset.sample_factors(num_points, rng)
    parts = []
    for start in range(0, num_points, batch_size):
        obs = dataset.sample_observations_from_factors(factors[start : start + batch_size], rng)
        parts.append(encode_batched(encode, obs, batch_size))
    codes = check_codes(np.concatenate(parts, axis=0), "codes returned by encode")
    return codes, factors[:, keep].astype(np.int64, copy=False)


def sample_train_test(
    dataset,
    encode: Encoder,
    seed: int | np.random.Generator,
    num_train: int,
    num_test: int | None,
    batch_size: int = 1000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(codes_train, factors_train, codes_test, factors_test) drawn from one seeded stream,
    the sets every array-level metric is scored on; the test pair is None without num_test."""
    rng = as_generator(seed)
    ctr, ftr = sample_codes_and_factors(dataset, encode, num_train, rng, batch_size)
    if num_test is None:
        return ctr, ftr, None, None
    cte, fte = sample_codes_and_factors(dataset, encode, num_test, rng, batch_size)
    return ctr, ftr, cte, fte
