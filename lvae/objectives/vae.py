"""Plain VAE (Kingma and Welling 2014): L = R + K, beta_eff = 1."""

from __future__ import annotations

import torch

from lvae.objectives.base import LossTerms, Objective


class VAE(Objective):
    name = "vae"
    defaults = {}

    def combine(self, recon: torch.Tensor, kl: torch.Tensor, step: int) -> LossTerms:
        return LossTerms(total=recon + kl, recon=recon, kl=kl, beta_eff=1.0)
