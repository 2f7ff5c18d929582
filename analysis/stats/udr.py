"""Unsupervised Disentanglement Ranking (Duan et al. 2020), Spearman variant.

Idea: disentangled representations of the same data are alike up to permutation and
sign of their dimensions, entangled ones are alike only up to arbitrary rotations. For
each pair of models the absolute Spearman correlation matrix between their active
latents is scored by how close it is to a (partial) permutation matrix; a model's UDR is
the median of its pairwise scores. This follows disentanglement_lib's
``evaluation/udr/metrics/udr.py`` (``relative_strength_disentanglement`` with the KL
filter), computed here on whole arrays instead of per-pair loops.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.stats

#: disentanglement_lib's threshold on the mean KL of a latent (nats) to count as active.
KL_THRESHOLD = 0.01
#: fallback when no KL is given: variance of the mean code across inputs.
VARIANCE_THRESHOLD = 0.01


@dataclass
class UDRResult:
    model_scores: np.ndarray  # (M,) median pairwise score per model
    pairwise: np.ndarray  # (M, M) pairwise scores, NaN on the diagonal
    active: list[np.ndarray]  # per model, boolean mask of active latents


def _check(codes: Sequence[np.ndarray], kl: Sequence[np.ndarray] | None) -> list[np.ndarray]:
    if len(codes) < 2:
        raise ValueError(f"UDR compares models: need codes of at least 2 models, got {len(codes)}")
    arrays = []
    for i, c in enumerate(codes):
        a = np.asarray(c, dtype=float)
        if a.ndim != 2 or a.shape[0] < 3 or a.shape[1] < 1:
            raise ValueError(f"codes[{i}] must be (num_inputs >= 3, num_latents >= 1), got "
                             f"{a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"codes[{i}] must be finite")
        arrays.append(a)
    n = {a.shape[0] for a in arrays}
    if len(n) != 1:
        raise ValueError("every model must encode the same inputs; got numbers of inputs "
                         f"{sorted(n)}")
    if kl is not None:
        if len(kl) != len(arrays):
            raise ValueError(f"kl must have one entry per model ({len(arrays)}), got {len(kl)}")
        for i, (k, a) in enumerate(zip(kl, arrays, strict=True)):
            if np.shape(k) != (a.shape[1],):
                raise ValueError(f"kl[{i}] must have shape ({a.shape[1]},), got {np.shape(k)}")
    return arrays


def active_latents(
    codes: np.ndarray, kl: np.ndarray | None = None,
    kl_threshold: float = KL_THRESHOLD, variance_threshold: float = VARIANCE_THRESHOLD,
) -> np.ndarray:
    """Latents carrying information: mean KL above threshold, else code variance above one."""
    if kl is not None:
        return np.asarray(kl, dtype=float) > kl_threshold
    return np.var(codes, axis=0) > variance_threshold


def _standardised_ranks(codes: np.ndarray) -> np.ndarray:
    r = scipy.stats.rankdata(codes, axis=0)
    r = r - r.mean(axis=0)
    norm = np.sqrt((r**2).sum(axis=0))
    return np.divide(r, norm, out=np.zeros_like(r), where=norm > 0)


def spearman_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|Spearman correlation| between every latent of a (rows) and of b (columns)."""
    return np.abs(_standardised_ranks(a).T @ _standardised_ranks(b))


def relative_strength(corr: np.ndarray) -> float:
    """How permutation-like an (a, b) |correlation| matrix is: 1 for a permutation.

    Mean over columns of max^2 / sum and over rows likewise, averaged; an empty matrix
    (one model has no active latent) scores 0.
    """
    if corr.size == 0:
        return 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        cols = np.nan_to_num(corr.max(axis=0) ** 2 / corr.sum(axis=0))
        rows = np.nan_to_num(corr.max(axis=1) ** 2 / corr.sum(axis=1))
    return float((cols.mean() + rows.mean()) / 2)


def udr(
    codes: Sequence[np.ndarray], kl: Sequence[np.ndarray] | None = None, *,
    kl_threshold: float = KL_THRESHOLD, variance_threshold: float = VARIANCE_THRESHOLD,
) -> UDRResult:
    """UDR of each model from their codes of the same inputs (N, D_i) and optional KL per dim."""
    arrays = _check(codes, kl)
    active = [
        active_latents(a, None if kl is None else kl[i], kl_threshold, variance_threshold)
        for i, a in enumerate(arrays)
    ]
    ranks = [_standardised_ranks(a[:, m]) for a, m in zip(arrays, active, strict=True)]
    m = len(arrays)
    pairwise = np.full((m, m), np.nan)
    for i in range(m):
        for j in range(i + 1, m):
            score = relative_strength(np.abs(ranks[i].T @ ranks[j]))
            pairwise[i, j] = pairwise[j, i] = score
    scores = np.array([np.median(np.delete(pairwise[i], i)) for i in range(m)])
    return UDRResult(model_scores=scores, pairwise=pairwise, active=active)
