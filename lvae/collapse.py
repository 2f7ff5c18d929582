"""Posterior collapse, decided by what the model does (docs/analysis.md, "Posterior
collapse"): one rule, used by the sweep when it writes results.csv and by the analysis for
older folders, so it is computed in one place.

A trial is collapsed when its final total KL is below ``COLLAPSE_TOTAL_KL`` nats (its codes
carry almost no information about the input), or when its reconstruction gains less than
``COLLAPSE_RECON_GAIN`` of the way from the dataset's mean image to a perfect one (its
decoder ignores the code). The per-latent KL count of active units is kept next to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from lvae.contract import ACTIVE_KL, COLLAPSE_RECON_GAIN, COLLAPSE_TOTAL_KL, count_active


def recon_gain(recon: float, baseline: float) -> float:
    """Fraction of the mean-image reconstruction NLL the model removes, (baseline - recon) /
    baseline; NaN when either is unknown or the baseline is not positive."""
    if not (math.isfinite(recon) and math.isfinite(baseline)) or baseline <= 0:
        return math.nan
    return (baseline - recon) / baseline


def is_collapsed(total_kl: float, gain: float) -> bool | None:
    """The rule; None when neither quantity is known. An unknown gain (no baseline recorded)
    leaves the decision to the total KL."""
    if not math.isfinite(total_kl) and not math.isfinite(gain):
        return None
    low_kl = math.isfinite(total_kl) and total_kl < COLLAPSE_TOTAL_KL
    low_gain = math.isfinite(gain) and gain < COLLAPSE_RECON_GAIN
    return bool(low_kl or low_gain)


def collapse_fields(kl_per_dim: Sequence[float | None], total_kl: float | None,
                    recon: float | None, baseline: float | None) -> dict[str, float | bool | None]:
    """The results.csv columns of one trial: ``active_dims`` (latents above ACTIVE_KL nats),
    ``total_kl`` (the per-latent KLs summed, else the final KL term), ``recon_gain`` and
    ``collapsed``."""
    kl = [v for v in map(_number, kl_per_dim) if math.isfinite(v)]
    total = math.fsum(kl) if kl else _number(total_kl)
    gain = recon_gain(_number(recon), _number(baseline))
    return {"active_dims": count_active(kl, ACTIVE_KL) if kl else math.nan, "total_kl": total,
            "recon_gain": gain, "collapsed": is_collapsed(total, gain)}


def _number(value: object) -> float:
    """A reported value as a float; NaN for a missing (None) or non-numeric one."""
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
