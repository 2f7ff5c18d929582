"""L-VAE: loss weights learned with the network (arXiv 2507.02619, read as uncertainty
weighting after Kendall, Gal and Cipolla 2018). Formulas, the stationary point and how
lambda moves it: docs/objectives.md, section "L-VAE".

Learnable scalars ``s_R``, ``s_K`` (``nn.Parameter``s ``s_recon``, ``s_kl``; initial
values ``init_s_recon``, ``init_s_kl``, default 0).

``parameterisation = "log_variance"`` (default)::

    w_R = exp(-s_R),  w_K = exp(-s_K)
    L = 0.5 w_R R + 0.5 w_K K + 0.5 (s_R + s_K) + lambda * reg

``parameterisation = "softmax"``: ``(w_R, w_K) = 2 softmax(-s_R, -s_K)`` and no
``0.5 (s_R + s_K)`` term. Regularisers: ``"log_ratio_sq"`` (default)
reg = (s_R - s_K)^2 = (log beta_eff)^2; ``"weight_diff_sq"`` reg = (w_R - w_K)^2.

In both parameterisations the network's gradient is 0.5 w_R (grad R + (w_K / w_R) grad K),
so ``beta_eff = w_K / w_R = exp(s_R - s_K)``.

With R and K held, the default form's weights settle where
``beta = (R/K) (1 - 4 lambda ln beta) / (1 + 4 lambda ln beta)``; the objective keeps
bias-corrected moving averages of R and K and logs that value as
``objective/beta_stationary`` so TensorBoard shows whether the learned beta tracks it.
The loss weights need their own optimiser settings to get there within a run
(``TrainConfig.objective_lr``/``objective_betas``, chosen by measurement: docs/objectives.md).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from lvae.objectives.base import LossTerms, Objective
from lvae.objectives.params import check_choice, check_number

PARAMETERISATIONS = ("log_variance", "softmax")
REGULARISERS = ("log_ratio_sq", "weight_diff_sq")
#: moving-average weight of R and K for ``beta_stationary`` (about a 50-step window)
SMOOTHING = 0.02


def stationary_log_beta(recon: float, kl: float, lam: float) -> float:
    """u = ln beta solving u = ln(R/K) + ln((1 - 4 lam u) / (1 + 4 lam u)) (docs/objectives.md).

    The residual is increasing in u on |u| < 1/(4 lam), so bisection finds the one root.
    """
    if not (recon > 0 and kl > 0):
        return math.nan
    target = math.log(recon / kl)
    if lam == 0:
        return target
    bound = 1.0 / (4.0 * lam)
    lo, hi = -bound * (1 - 1e-12), bound * (1 - 1e-12)
    for _ in range(100):
        u = 0.5 * (lo + hi)
        if u - target - math.log((1 - 4 * lam * u) / (1 + 4 * lam * u)) > 0:
            hi = u
        else:
            lo = u
    return 0.5 * (lo + hi)


class LVAE(Objective):
    name = "lvae"
    defaults = {
        "lambda": 0.1,
        "parameterisation": "log_variance",
        "regulariser": "log_ratio_sq",
        "init_s_recon": 0.0,
        "init_s_kl": 0.0,
        "warm_start": True,
    }

    def __init__(self, params: dict[str, Any] | None = None, likelihood: str = "bernoulli"):
        super().__init__(params, likelihood)
        self.s_recon = nn.Parameter(torch.tensor(float(self.params["init_s_recon"])))
        self.s_kl = nn.Parameter(torch.tensor(float(self.params["init_s_kl"])))
        # moving averages of R and K (and the bias-correction weight), kept on device
        self.register_buffer("ema", torch.zeros(3, dtype=torch.float64))
        self._started = False  # Python-side cache of "ema[2] > 0" (one read per process)

    def validate(self, params: dict[str, Any]) -> None:
        check_number(self.name, params, "lambda", low=0.0)
        check_number(self.name, params, "init_s_recon", "init_s_kl")
        check_choice(self.name, params, "parameterisation", PARAMETERISATIONS)
        check_choice(self.name, params, "regulariser", REGULARISERS)
        if not isinstance(params["warm_start"], bool):
            raise ValueError(
                f"objective_params.warm_start for {self.name!r} must be true or false, "
                f"got {params['warm_start']!r}"
            )

    @property
    def default_form(self) -> bool:
        """log_variance + log_ratio_sq: the form the stationary-point formula is for."""
        return (self.params["parameterisation"], self.params["regulariser"]) == (
            "log_variance",
            "log_ratio_sq",
        )

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

    def warm_start(self, recon: float, kl: float) -> None:
        """Put the weights at their stationary point for the first batch's R and K (default
        form), instead of at beta = 1: a run of any length then starts balanced and only
        has to track how R and K move (docs/objectives.md, "Warm start")."""
        u = stationary_log_beta(recon, kl, float(self.params["lambda"]))
        if not math.isfinite(u):
            return
        lam4u = 4.0 * float(self.params["lambda"]) * u
        with torch.no_grad():  # w_R R = 1 + 4 lambda u and w_K K = 1 - 4 lambda u
            self.s_recon.fill_(math.log(recon / (1.0 + lam4u)))
            self.s_kl.fill_(math.log(kl / (1.0 - lam4u)))

    def _first_step(self, recon: torch.Tensor, kl: torch.Tensor) -> None:
        self._started = True
        if float(self.ema[2]) > 0:  # resumed: the weights come from the checkpoint
            return
        if self.params["warm_start"] and self.default_form:
            self.warm_start(float(recon.detach()), float(kl.detach()))

    def combine(self, recon: torch.Tensor, kl: torch.Tensor, step: int) -> LossTerms:
        if self.training and not self._started:
            self._first_step(recon, kl)
        w_r, w_k = self.weights()
        reg = self.regulariser(w_r, w_k)
        total = 0.5 * w_r * recon + 0.5 * w_k * kl + float(self.params["lambda"]) * reg
        if self.params["parameterisation"] == "log_variance":
            total = total + 0.5 * (self.s_recon + self.s_kl)
        if self.training:
            new = torch.stack([recon.detach(), kl.detach(), torch.ones_like(recon)]).double()
            self.ema.lerp_(new, SMOOTHING)
        # tensors, not floats: the trainer reads them back only at log steps (no sync per step)
        detached = {"w_recon": w_r, "w_kl": w_k, "s_recon": self.s_recon,
                    "s_kl": self.s_kl, "reg": reg}
        state = {k: v.detach() for k, v in detached.items()}
        beta = torch.exp(self.s_recon - self.s_kl).detach()
        return LossTerms(total=total, recon=recon, kl=kl, beta_eff=beta, state=state)

    def log_state(self) -> dict[str, float]:
        """``beta_stationary`` from the smoothed R and K (default form only: the formula
        in docs/objectives.md holds for log_variance + log_ratio_sq)."""
        r_sum, k_sum, weight = self.ema.tolist()
        if weight == 0:
            return {}
        recon, kl = r_sum / weight, k_sum / weight
        out = {"recon_smoothed": recon, "kl_smoothed": kl}
        if self.default_form:
            log_beta = stationary_log_beta(recon, kl, float(self.params["lambda"]))
            out["beta_stationary"] = math.exp(log_beta)
        return out
