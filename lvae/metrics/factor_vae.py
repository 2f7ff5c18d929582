"""FactorVAE score (Kim and Mnih 2018) following disentanglement_lib's ``factor_vae.py``.

1. Global variance of every code dim from ``num_variance_estimate`` random observations
   (ddof=1); dims with std < ``prune_std`` are inactive (disentanglement_lib's study
   sets ``prune_dims.threshold = 0.05``).
2. A vote: pick a factor uniformly, draw ``batch_size`` factor combinations sharing
   that factor's value, encode, and take the active dim with the smallest
   local variance / global variance. ``num_train`` votes train a majority-vote
   classifier (each dim predicts the factor it received most votes for);
   ``num_eval`` fresh votes score it.

Only factors with more than one class are voted on (dSprites' color is left out, as
disentanglement_lib's dSprites exposes 5 factors). ``num_active_dims`` is the number
of dims kept by the pruning; disentanglement_lib reports ``len(mask)`` there, which is
always the total number of dims.

Randomness: one ``np.random.default_rng(seed)`` drives every draw (the dataset API takes
Generators), so the procedure is disentanglement_lib's but the random stream is not its
``RandomState``; same seed, same numbers.
"""

from __future__ import annotations

import numpy as np

from lvae.metrics.utils import (
    Encoder,
    as_generator,
    check_codes,
    check_positive_int,
    encode_batched,
    nonconstant_factor_columns,
)


def global_variances(
    dataset, encode: Encoder, num_points: int, rng: np.random.Generator, encode_batch_size: int
) -> np.ndarray:
    """(D,) variance (ddof=1) of each code dim over uniformly drawn observations."""
    factors = dataset.sample_factors(num_points, rng)
    obs = dataset.sample_observations_from_factors(factors, rng)
    codes = check_codes(encode_batched(encode, obs, encode_batch_size), "codes returned by encode")
    return np.var(codes, axis=0, ddof=1)


def generate_votes(
    dataset,
    encode: Encoder,
    num_votes: int,
    batch_size: int,
    rng: np.random.Generator,
    variances: np.ndarray,
    active: np.ndarray,
    encode_batch_size: int,
) -> np.ndarray:
    """(K', D) int64 vote counts: row = fixed factor, column = dim with least relative variance.

    Several votes are encoded in one call (about ``encode_batch_size`` observations);
    random draws happen in the same order as one vote at a time, so chunking does not
    change the numbers.
    """
    columns = nonconstant_factor_columns(dataset)
    active_idx = np.flatnonzero(active)
    votes = np.zeros((columns.size, variances.shape[0]), dtype=np.int64)
    per_call = max(1, encode_batch_size // batch_size)
    done = 0
    while done < num_votes:
        n = min(per_call, num_votes - done)
        fixed = np.empty(n, dtype=np.int64)
        observations = []
        for v in range(n):
            fixed[v] = rng.integers(columns.size)
            factors = dataset.sample_factors(batch_size, rng)
            col = columns[fixed[v]]
            factors[:, col] = factors[0, col]
            observations.append(dataset.sample_observations_from_factors(factors, rng))
        codes = check_codes(
            encode_batched(encode, np.concatenate(observations), per_call * batch_size),
            "codes returned by encode",
        ).reshape(n, batch_size, -1)
        local = np.var(codes, axis=1, ddof=1)
        argmin = np.argmin(local[:, active_idx] / variances[active_idx], axis=1)
        np.add.at(votes, (fixed, active_idx[argmin]), 1)
        done += n
    return votes


def factor_vae_score(
    dataset,
    encode: Encoder,
    seed: int,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    num_variance_estimate: int = 10000,
    prune_std: float = 0.05,
    encode_batch_size: int = 1000,
) -> dict[str, float]:
    """``{"train_accuracy", "eval_accuracy", "num_active_dims"}``; all 0 if no dim is active."""
    batch_size = check_positive_int(batch_size, "batch_size")
    if batch_size < 2:
        raise ValueError(f"batch_size must be >= 2 to estimate a variance, got {batch_size}")
    num_train = check_positive_int(num_train, "num_train")
    num_eval = check_positive_int(num_eval, "num_eval")
    num_variance_estimate = check_positive_int(num_variance_estimate, "num_variance_estimate")
    if num_variance_estimate < 2:
        raise ValueError(f"num_variance_estimate must be >= 2, got {num_variance_estimate}")
    encode_batch_size = check_positive_int(encode_batch_size, "encode_batch_size")
    if not np.isfinite(prune_std) or prune_std < 0:
        raise ValueError(f"prune_std must be a finite number >= 0, got {prune_std!r}")
    if nonconstant_factor_columns(dataset).size == 0:
        raise ValueError(f"dataset {dataset.name!r} has no factor with more than one class")
    rng = as_generator(seed)

    variances = global_variances(dataset, encode, num_variance_estimate, rng, encode_batch_size)
    active = np.sqrt(variances) >= prune_std
    if not active.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0, "num_active_dims": 0}

    train_votes = generate_votes(
        dataset, encode, num_train, batch_size, rng, variances, active, encode_batch_size
    )
    classifier = np.argmax(train_votes, axis=0)
    dims = np.arange(train_votes.shape[1])
    train_accuracy = train_votes[classifier, dims].sum() / train_votes.sum()
    eval_votes = generate_votes(
        dataset, encode, num_eval, batch_size, rng, variances, active, encode_batch_size
    )
    eval_accuracy = eval_votes[classifier, dims].sum() / eval_votes.sum()
    return {
        "train_accuracy": float(train_accuracy),
        "eval_accuracy": float(eval_accuracy),
        "num_active_dims": int(active.sum()),
    }
