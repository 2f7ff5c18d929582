"""beta-VAE (Higgins et al. 2017): L = R + beta * K with beta fixed; beta_eff = beta.

Default beta = 4, the middle of disentanglement_lib's grid (1, 2, 4, 6, 8, 16).
"""

from __future__ import annotations

from typing import Any

import torch

from lvae.objectives.base import LossTerms, Objective
from lvae.objectives.params import check_positive


class BetaVAE(Objective):
    name = "beta_vae"
    defaults = {"beta": 4.0}

    def validate(self, params: dict[str, Any]) -> None:
        check_positive(self.name, params, "beta")

    def combine(self, recon: torch.Tensor, kl: torch.Tensor, step: int) -> LossTerms:
        beta = float(self.params["beta"])
        return LossTerms(total=recon + beta * kl, recon=recon, kl=kl, beta_eff=beta)
