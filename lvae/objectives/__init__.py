"""Objective registry: ``get_objective(name, params, likelihood)``.

Every objective is called with one ``ForwardOutput`` (the batch, logits, posterior, sample
and per-dimension KL) and logs one comparable ``beta_eff`` (the weight its gradient puts
on K relative to R); the formulas are in each module's docstring and docs/objectives.md.
A new objective is one module plus its line in ``OBJECTIVES``: the trainer's ``--help``
reads the names from here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lvae.objectives.base import ForwardOutput, LossTerms, Objective
from lvae.objectives.beta_tcvae import BetaTCVAE
from lvae.objectives.beta_vae import BetaVAE
from lvae.objectives.controlvae import ControlVAE
from lvae.objectives.dynamicvae import DynamicVAE
from lvae.objectives.lvae import LVAE
from lvae.objectives.sigma_vae import SigmaVAE
from lvae.objectives.vae import VAE

#: name -> Objective subclass (each has ``.defaults``).
OBJECTIVES: dict[str, type[Objective]] = {
    cls.name: cls for cls in (VAE, BetaVAE, LVAE, ControlVAE, DynamicVAE, SigmaVAE, BetaTCVAE)
}


def get_objective(
    name: str, params: Mapping[str, Any] | None = None, likelihood: str = "bernoulli"
) -> Objective:
    """Build an objective; bad names raise KeyError, bad parameters ValueError."""
    try:
        cls = OBJECTIVES[name]
    except KeyError:
        raise KeyError(
            f"unknown objective {name!r}; valid objectives: {', '.join(sorted(OBJECTIVES))}"
        ) from None
    return cls(params, likelihood)


__all__ = ["OBJECTIVES", "ForwardOutput", "LossTerms", "Objective", "get_objective"]
