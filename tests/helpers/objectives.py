"""A loss-weight leaf and a minimal forward record, shared by the objectives' tests."""

from __future__ import annotations

import torch

from lvae.objectives import ForwardOutput


def leaf(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float64, requires_grad=True)


def record(
    x: torch.Tensor, logits: torch.Tensor, kl: torch.Tensor, step: int = 0
) -> ForwardOutput:
    """A forward record whose K is ``kl`` (one latent dimension; the objectives tested with
    it read only the batch, the logits and K)."""
    latent = torch.zeros(x.shape[0], 1, dtype=x.dtype)
    return ForwardOutput(x=x, logits=logits, mu=latent, logvar=latent, z=latent,
                         kl_per_dim=kl.reshape(1), step=step)
