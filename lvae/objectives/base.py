"""Contract every objective follows, so the trainer treats all of them alike.

An objective is an ``nn.Module``: learnable loss weights are parameters (the trainer
optimises them with the network) and controller state lives in buffers (so it is in
the checkpoint and a resumed run continues exactly).

The trainer calls an objective with one :class:`ForwardOutput` (the batch, the decoder's
logits, the posterior, the sample and the per-dimension KL): an objective that needs more
than R and K reads it from the record, and the trainer's call never changes when one does
(docs/objectives.md, "What an objective receives").

``step`` is the number of optimiser updates completed before this batch (0 for the
first batch of a run); schedules are pure functions of it, so resuming from a
checkpoint at step t reproduces them.

The checks of ``objective_params`` are in :mod:`lvae.objectives.params`; the base of the
feedback-controlled objectives (ControlVAE, DynamicVAE) in :mod:`lvae.objectives.controller`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from lvae.objectives.likelihood import LIKELIHOODS, reconstruction_nll


@dataclass(frozen=True)
class ForwardOutput:
    """One training batch as the network saw it: everything an objective may read.

    Tensors are the losses' dtype (fp32 under bf16 autocast). ``z`` is the reparameterised
    sample the decoder decoded (``mu + eps * exp(0.5 logvar)``); ``kl_per_dim`` is
    KL(q(z|x) || N(0, I)) per latent dimension, averaged over the batch, shape
    ``(latent_dim,)``; ``step`` as in the module docstring.
    """

    x: torch.Tensor
    logits: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor
    kl_per_dim: torch.Tensor
    step: int

    @property
    def kl(self) -> torch.Tensor:
        """K: the KL summed over latent dimensions (batch mean)."""
        return self.kl_per_dim.sum()


@dataclass
class LossTerms:
    """What one step of an objective produces.

    ``total`` is what is back-propagated; ``recon`` (R) and ``kl`` (K) are the plain
    terms (batch means); ``beta_eff`` is the weight the gradient puts on K relative to
    the dataset's reconstruction log-likelihood, comparable across objectives
    (docs/objectives.md); ``state`` is the objective's own diagnostics, logged under
    ``objective/<key>``. Numbers may be 0-d tensors: the trainer reads them back only
    at log steps, so a GPU step needs no host synchronisation for them.
    """

    total: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    beta_eff: float | torch.Tensor
    state: dict[str, float | torch.Tensor] = field(default_factory=dict)


class Objective(nn.Module):
    """Base class. Subclasses set ``name`` and ``defaults`` and implement ``combine``;
    those that need more of the record than R and K implement ``combine_inputs``."""

    name: ClassVar[str] = ""
    #: parameter name -> default value; the only keys ``params`` may contain.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: Mapping[str, Any] | None = None, likelihood: str = "bernoulli"):
        super().__init__()
        if params is not None and not isinstance(params, Mapping):
            raise ValueError(f"objective_params must be a mapping, got {type(params).__name__}")
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            valid = ", ".join(sorted(self.defaults)) or "(none)"
            raise ValueError(
                f"objective_params: unknown parameter(s) {unknown} for objective "
                f"{self.name!r}; valid parameters: {valid}"
            )
        if likelihood not in LIKELIHOODS:
            raise ValueError(
                f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {likelihood!r}"
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
        """Turn R and K (scalars) into the loss; d total/dK / d total/dR == beta_eff."""
        raise NotImplementedError

    def combine_inputs(self, out: ForwardOutput) -> dict[str, Any]:
        """Keyword arguments of ``combine`` beyond R, K and step, read from the record (so
        an objective needing more, e.g. sigma-VAE's pixel count, keeps the one entry point)."""
        return {}

    def forward(self, out: ForwardOutput) -> LossTerms:
        """The trainer's call: R from the batch and logits, K = the per-dimension KL summed."""
        recon = self.reconstruction(out.x, out.logits)
        return self.combine(recon, out.kl, out.step, **self.combine_inputs(out))

    def log_state(self) -> dict[str, float]:
        """Diagnostics too costly for every step, computed at log steps only."""
        return {}
