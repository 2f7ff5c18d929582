"""BetaVAE score (Higgins et al. 2017) following disentanglement_lib's ``beta_vae.py``
(the scikit-learn variant used in its study).

A point: pick a factor uniformly, draw two batches of ``batch_size`` factor combinations
that share that factor's value row by row, encode both, and use mean |z1 - z2| over the
batch as the feature, the fixed factor as the label. A ``LogisticRegression`` (default
settings) is trained on ``num_train`` points and scored on ``num_eval`` fresh points.
Only factors with more than one class are used (dSprites' color is left out).
The estimator is disentanglement_lib's constructor call as is, so it takes this
scikit-learn's defaults (lbfgs, multinomial, max_iter=100); scikit-learn < 0.22, which
its published numbers used, defaulted to liblinear one-vs-rest.

Randomness: one ``np.random.default_rng(seed)`` drives every draw (the dataset API takes
Generators), so the procedure is disentanglement_lib's but the random stream is not its
``RandomState``; same seed, same numbers.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from lvae.metrics.utils import (
    Encoder,
    as_generator,
    check_codes,
    check_positive_int,
    encode_batched,
    nonconstant_factor_columns,
)


def generate_points(
    dataset,
    encode: Encoder,
    num_points: int,
    batch_size: int,
    rng: np.random.Generator,
    encode_batch_size: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(num_points, D) features and (num_points,) labels (index among varying factors).

    Several points are encoded per call; the random draws happen in the same order as
    one point at a time, so chunking does not change the numbers.
    """
    columns = nonconstant_factor_columns(dataset)
    per_call = max(1, encode_batch_size // (2 * batch_size))
    labels = np.zeros(num_points, dtype=np.int64)
    features = []
    done = 0
    while done < num_points:
        n = min(per_call, num_points - done)
        observations = []
        for v in range(n):
            labels[done + v] = rng.integers(columns.size)
            col = columns[labels[done + v]]
            factors1 = dataset.sample_factors(batch_size, rng)
            factors2 = dataset.sample_factors(batch_size, rng)
            factors2[:, col] = factors1[:, col]
            observations.append(dataset.sample_observations_from_factors(factors1, rng))
            observations.append(dataset.sample_observations_from_factors(factors2, rng))
        codes = check_codes(
            encode_batched(encode, np.concatenate(observations), 2 * per_call * batch_size),
            "codes returned by encode",
        ).reshape(n, 2, batch_size, -1)
        features.append(np.mean(np.abs(codes[:, 0] - codes[:, 1]), axis=1))
        done += n
    return np.concatenate(features, axis=0), labels


def beta_vae_score(
    dataset,
    encode: Encoder,
    seed: int,
    batch_size: int = 64,
    num_train: int = 10000,
    num_eval: int = 5000,
    encode_batch_size: int = 1000,
) -> dict[str, float]:
    """``{"train_accuracy", "eval_accuracy"}`` of the BetaVAE score."""
    batch_size = check_positive_int(batch_size, "batch_size")
    num_train = check_positive_int(num_train, "num_train")
    num_eval = check_positive_int(num_eval, "num_eval")
    encode_batch_size = check_positive_int(encode_batch_size, "encode_batch_size")
    if nonconstant_factor_columns(dataset).size == 0:
        raise ValueError(f"dataset {dataset.name!r} has no factor with more than one class")
    rng = as_generator(seed)
    seed_int = int(rng.integers(2**31 - 1)) if isinstance(seed, np.random.Generator) else int(seed)

    train_x, train_y = generate_points(dataset, encode, num_train, batch_size, rng,
                                       encode_batch_size)
    if np.unique(train_y).size < 2:
        raise ValueError(
            f"num_train={num_train} points drew a single factor; the classifier needs at least 2"
        )
    model = LogisticRegression(random_state=seed_int)
    with warnings.catch_warnings():
        # Default settings (max_iter=100) on purpose, for parity with disentanglement_lib.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(train_x, train_y)
    train_accuracy = float(np.mean(model.predict(train_x) == train_y))
    eval_x, eval_y = generate_points(dataset, encode, num_eval, batch_size, rng, encode_batch_size)
    eval_accuracy = float(model.score(eval_x, eval_y))
    return {"train_accuracy": train_accuracy, "eval_accuracy": eval_accuracy}
