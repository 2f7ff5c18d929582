"""Optimal sigma-VAE (Rybkin, Daniilidis and Levine, ICML 2021).

Gaussian decoder N(x_hat, sigma^2 I) with one sigma shared by every pixel, set each step
to its maximum-likelihood value, the batch RMSE (detached), with log sigma soft-clipped
from below as in the authors' code::

    x_hat       = sigmoid(logits)
    sigma^2     = mean over batch and pixels of (x - x_hat)^2       (no gradient)
    log sigma   = -6 + softplus(log sigma + 6)                       (min_log_sigma = -6)
    R           = batch mean of sum over pixels of
                  (x - x_hat)^2 / (2 sigma^2) + log sigma + 0.5 log(2 pi)
    L           = R + K

With SSE = batch mean of the summed squared error (the ``gaussian`` likelihood's R),
L = SSE / (2 sigma^2) + K + const, whose gradient is proportional to
grad SSE + 2 sigma^2 grad K: K's weight relative to the summed squared error is
``beta_sse = 2 sigma^2`` (logged as ``objective/beta_sse``). ``beta_eff`` puts it on the
dataset's own reconstruction scale, as every objective's is (docs/objectives.md):
``beta_eff = beta_sse * |grad R_data| / |grad SSE|``, the gradient norms taken with
respect to the decoder's logits on this batch. For a Gaussian dataset R_data is SSE and
``beta_eff = 2 sigma^2``; for binary data (Bernoulli R_data) the SSE gradient is
``2 (p - x) p (1 - p)`` against BCE's ``p - x``. The dataset's likelihood does not enter
the loss: this objective *is* a choice of likelihood. ``recon`` is R above (nats under
the fitted sigma); state logs ``sigma``, ``mse`` and ``beta_sse``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from lvae.objectives.base import ForwardOutput, LossTerms, Objective
from lvae.objectives.likelihood import reconstruction_nll
from lvae.objectives.params import check_number

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


class SigmaVAE(Objective):
    name = "sigma_vae"
    defaults = {"min_log_sigma": -6.0}

    def validate(self, params: dict[str, Any]) -> None:
        check_number(self.name, params, "min_log_sigma")

    def reconstruction(self, x: torch.Tensor, decoder_out: torch.Tensor) -> torch.Tensor:
        """Summed squared error of sigmoid(logits), batch mean (sigma is applied in combine)."""
        return reconstruction_nll(x, decoder_out, "gaussian")

    def combine_inputs(self, out: ForwardOutput) -> dict[str, Any]:
        """The pixel count (sigma is per pixel) and the gradient scale of the dataset's R."""
        scale = data_scale(out.x, out.logits, self.likelihood)
        return {"num_pixels": out.x[0].numel(), "data_scale": scale}

    def combine(
        self,
        recon: torch.Tensor,
        kl: torch.Tensor,
        step: int,
        *,
        num_pixels: int | None = None,
        data_scale: float | torch.Tensor = 1.0,
    ) -> LossTerms:
        """``recon`` is the batch-mean summed squared error over ``num_pixels`` values;
        ``data_scale`` = |grad R_data| / |grad SSE| (1 when R_data is SSE)."""
        if num_pixels is None or num_pixels < 1:
            raise ValueError(
                f"sigma_vae.combine needs num_pixels (values per image), got {num_pixels!r}"
            )
        low = float(self.params["min_log_sigma"])
        mse = recon.detach() / num_pixels
        log_sigma = low + F.softplus(0.5 * torch.log(mse) - low)
        sigma2 = torch.exp(2.0 * log_sigma)
        nll = recon / (2.0 * sigma2) + num_pixels * (log_sigma + _HALF_LOG_2PI)
        beta_sse = (2.0 * sigma2).detach()
        return LossTerms(
            total=nll + kl,
            recon=nll,
            kl=kl,
            beta_eff=beta_sse * data_scale,
            state={"sigma": sigma2.detach().sqrt(), "mse": mse, "beta_sse": beta_sse},
        )


def data_scale(x: torch.Tensor, logits: torch.Tensor, likelihood: str) -> torch.Tensor:
    """|d R_data / d logits| / |d SSE / d logits| on this batch (no graph is kept)."""
    if likelihood == "gaussian":
        return torch.ones((), dtype=logits.dtype, device=logits.device)
    with torch.enable_grad():
        leaf = logits.detach().requires_grad_(True)
        (g_data,) = torch.autograd.grad(reconstruction_nll(x, leaf, likelihood), leaf)
        (g_sse,) = torch.autograd.grad(reconstruction_nll(x, leaf, "gaussian"), leaf)
    return g_data.norm() / g_sse.norm().clamp_min(torch.finfo(g_sse.dtype).tiny)
