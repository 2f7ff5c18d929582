"""Contract every objective follows, so the trainer treats all six alike.

An objective is an ``nn.Module``: learnable loss weights are parameters (the trainer
optimises them with the network) and controller state lives in buffers (so it is in
the checkpoint and a resumed run continues exactly).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from lvae.objectives.likelihood import reconstruction_nll


@dataclass
class LossTerms:
    """What one step of an objective produces.

    ``total`` is what is back-propagated; ``recon`` (R) and ``kl`` (K) are the plain
    terms (batch means); ``beta_eff`` is the weight the gradient puts on K relative to
    R, comparable across objectives; ``state`` is the objective's own diagnostics,
    logged under ``objective/<key>``.
    """

    total: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    beta_eff: float
    state: dict[str, float] = field(default_factory=dict)


class Objective(nn.Module):
    """Base class. Subclasses set ``name`` and ``defaults`` and implement ``combine``."""

    name: ClassVar[str] = ""
    #: parameter name -> default value; the only keys ``params`` may contain.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: Mapping[str, Any] | None = None, likelihood: str = "bernoulli"):
        super().__init__()
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            valid = ", ".join(sorted(self.defaults)) or "(none)"
            raise ValueError(
                f"objective {self.name!r}: unknown parameter(s) {unknown}; valid parameters: {valid}"
            )
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.likelihood = likelihood
        self.validate(self.params)

    def validate(self, params: dict[str, Any]) -> None:
        """Raise ValueError naming ``objective_params.<field>`` for invalid values."""

    def reconstruction(self, x: torch.Tensor, decoder_out: torch.Tensor) -> torch.Tensor:
        """R: negative log-likelihood summed over pixels, averaged over the batch."""
        return reconstruction_nll(x, decoder_out, self.likelihood)

    def combine(self, recon: torch.Tensor, kl: torch.Tensor, step: int) -> LossTerms:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, decoder_out: torch.Tensor, kl: torch.Tensor, step: int) -> LossTerms:
        return self.combine(self.reconstruction(x, decoder_out), kl, step)


def _check_positive(obj: str, params: Mapping[str, Any], *names: str) -> None:
    for n in names:
        v = params[n]
        if not isinstance(v, int | float) or not v > 0:
            raise ValueError(f"objective_params.{n} for {obj!r} must be a number > 0, got {v!r}")
