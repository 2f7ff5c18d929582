"""Active units by the variance of the posterior mean (Burda et al. 2016; docs/metrics.md,
"Active units").

A latent j is active when ``Var_x(E_q[z_j | x]) > threshold`` (0.01): its mean code moves
with the input. Unlike the per-latent KL count it ignores how narrow the posterior is, so
a latent whose mean never moves is inactive even when its variance is squeezed. It is a
diagnostic of the model, not a disentanglement score; it decides nothing (collapse is
``lvae.collapse``'s rule). Scored on the evaluation's representation, which is the mean
by default: on sampled codes the variance would include the posterior's own noise.
"""

from __future__ import annotations

import math

import numpy as np

from lvae.contract import ACTIVE_VAR
from lvae.metrics.utils import check_codes


def active_units(codes: object, threshold: float = ACTIVE_VAR) -> dict[str, int]:
    """``{"active_units": number of latents whose code variance over points exceeds
    threshold}`` for codes of shape (points, latents)."""
    if not (isinstance(threshold, int | float) and math.isfinite(threshold) and threshold >= 0):
        raise ValueError(f"threshold must be a finite number >= 0, got {threshold!r}")
    c = check_codes(codes, "codes")
    if c.shape[0] < 2:
        raise ValueError(f"active_units needs at least 2 points, got {c.shape[0]}")
    return {"active_units": int((np.var(c, axis=0, ddof=1) > threshold).sum())}
