"""L-VAE: loss weights learned with the network (arXiv 2507.02619, read as uncertainty
weighting after Kendall, Gal and Cipolla 2018; see DESIGN.md section 2).

Learnable scalars ``s_R``, ``s_K`` (``nn.Parameter``s ``s_recon``, ``s_kl``; initial
values ``init_s_recon``, ``init_s_kl``, default 0).

``parameterisation = "log_variance"`` (default)::

    w_R = exp(-s_R),  w_K = exp(-s_K)
    L = 0.5 w_R R + 0.5 w_K K + 0.5 (s_R + s_K) + lambda * reg

``parameterisation = "softmax"``: the weights are two times a softmax over the logits
(-s_R, -s_K), so they sum to 2 (both 1 at s_R = s_K, the same starting point and the
same 0.5 scale as the log-variance form), and there is no 0.5 (s_R + s_K) term
(normalisation already stops both weights shrinking together)::

    (w_R, w_K) = 2 softmax(-s_R, -s_K)
    L = 0.5 w_R R + 0.5 w_K K + lambda * reg

Regularisers: ``"log_ratio_sq"`` (default) reg = (s_R - s_K)^2 = (log beta_eff)^2;
``"weight_diff_sq"`` reg = (w_R - w_K)^2.

In both parameterisations the network's gradient is 0.5 w_R (grad R + (w_K / w_R) grad K),
so ``beta_eff = w_K / w_R = exp(s_R - s_K)``.

Default ``lambda = 0.1``, why: for fixed R, K the stationary point of the log-variance
form with the log-ratio regulariser satisfies w_R R = 1 + 4 lambda u and
w_K K = 1 - 4 lambda u with u = log beta_eff, i.e.
beta_eff = (R/K) (1 - 4 lambda u) / (1 + 4 lambda u). Without the regulariser
(lambda = 0) beta_eff = R/K, which grows as K shrinks and runs away to posterior
collapse; with it, |log beta_eff| < 1 / (4 lambda) whatever R/K is. lambda = 0.1 caps
beta_eff at e^2.5 ~ 12, inside disentanglement_lib's beta grid (1..16), while still
letting it grow with R/K (R/K = 5, 20, 100 give beta_eff ~ 2.4, 4.7, 8.3); lambda = 1
caps it at e^0.25 ~ 1.3 (nearly a plain VAE) and lambda = 0.01 at e^25 (no practical
cap: R/K = 5 gives 4.4).

The other choices move on different scales, so lambda is not comparable across them:
under ``softmax`` with ``log_ratio_sq`` the stationary point is
2 lambda u = sigmoid(u) (1 - sigmoid(u)) (R - K), which follows the difference R - K
(in nats) rather than the ratio; ``weight_diff_sq`` is bounded (at most 4 under softmax)
and small whenever both weights are small, so it pulls toward beta_eff = 1 far more
weakly than ``log_ratio_sq``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from lvae.objectives.base import LossTerms, Objective, check_choice, check_number

PARAMETERISATIONS = ("log_variance", "softmax")
REGULARISERS = ("log_ratio_sq", "weight_diff_sq")


class LVAE(Objective):
    name = "lvae"
    defaults = {
        "lambda": 0.1,
        "parameterisation": "log_variance",
        "regulariser": "log_ratio_sq",
        "init_s_recon": 0.0,
        "init_s_kl": 0.0,
    }

    def __init__(self, params: dict[str, Any] | None = None, likelihood: str = "bernoulli"):
        super().__init__(params, likelihood)
        self.s_recon = nn.Parameter(torch.tensor(float(self.params["init_s_recon"])))
        self.s_kl = nn.Parameter(torch.tensor(float(self.params["init_s_kl"])))

    def validate(self, params: dict[str, Any]) -> None:
        check_number(self.name, params, "lambda", low=0.0)
        check_number(self.name, params, "init_s_recon", "init_s_kl")
        check_choice(self.name, params, "parameterisation", PARAMETERISATIONS)
        check_choice(self.name, params, "regulariser", REGULARISERS)

    def weights(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(w_R, w_K) under the chosen parameterisation."""
        if self.params["parameterisation"] == "softmax":
            w = 2.0 * torch.softmax(-torch.stack([self.s_recon, self.s_kl]), dim=0)
            return w[0], w[1]
        return torch.exp(-self.s_recon), torch.exp(-self.s_kl)

    def regulariser(self, w_r: torch.Tensor, w_k: torch.Tensor) -> torch.Tensor:
        if self.params["regulariser"] == "weight_diff_sq":
            return (w_r - w_k).square()
        return (self.s_recon - self.s_kl).square()

    def combine(self, recon: torch.Tensor, kl: torch.Tensor, step: int) -> LossTerms:
        w_r, w_k = self.weights()
        reg = self.regulariser(w_r, w_k)
        total = 0.5 * w_r * recon + 0.5 * w_k * kl + float(self.params["lambda"]) * reg
        if self.params["parameterisation"] == "log_variance":
            total = total + 0.5 * (self.s_recon + self.s_kl)
        with torch.no_grad():
            # One device sync for every logged number.
            beta, wr, wk, sr, sk, rg = torch.stack(
                [torch.exp(self.s_recon - self.s_kl), w_r, w_k, self.s_recon, self.s_kl, reg]
            ).tolist()
        state = {"w_recon": wr, "w_kl": wk, "s_recon": sr, "s_kl": sk, "reg": rg}
        return LossTerms(total=total, recon=recon, kl=kl, beta_eff=beta, state=state)
