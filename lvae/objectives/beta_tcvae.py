"""beta-TCVAE (Chen, Li, Grosse and Duvenaud, NeurIPS 2018, "Isolating Sources of
Disentanglement in VAEs"), with the paper's minibatch-weighted sampling (MWS) estimator.

The sampled KL term splits into three parts, each averaged over the batch (z_i is the
sample of image i, M the batch size, N the dataset size)::

    E[log q(z|x) - log p(z)] = MI + TC + DW
    MI  = E[log q(z|x) - log q(z)]                  index-code mutual information
    TC  = E[log q(z) - sum_k log q(z_k)]            total correlation
    DW  = E[sum_k log q(z_k) - log p(z_k)]          dimension-wise KL
    log q(z_i)            ~ logsumexp_j log q(z_i | x_j) - log(N M)
    sum_k log q(z_ik)     ~ sum_k [logsumexp_j log q(z_ik | x_j) - log(N M)]
    L = R + alpha MI + beta TC + gamma DW

N enters only as the constant log(N M): it shifts the logged MI, TC and DW but not the
gradient. ``recon`` is the dataset's R and ``kl`` the analytic K, as for every objective
(so ``loss/kl`` stays comparable; ``loss/total`` is not ``R + K`` here). There is no single
weight on K, so ``beta_eff`` is the gradient of the weighted KL part relative to that of
the unweighted one, |grad (alpha MI + beta TC + gamma DW)| / |grad (MI + TC + DW)|, taken
with respect to the encoder's outputs (mu, logvar) and the sample z on the batch: exactly
b when alpha = beta = gamma = b (1 for a VAE with a sampled KL). Formulas and parameter
choices: docs/objectives.md, section "beta-TCVAE".
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from lvae.objectives.base import ForwardOutput, LossTerms, Objective
from lvae.objectives.params import check_int, check_number

_LOG_2PI = math.log(2.0 * math.pi)
#: images in dSprites (Matthey et al. 2017), the default dataset's size
DSPRITES_SIZE = 737_280


class KLParts(NamedTuple):
    """MI, TC and dimension-wise KL, batch means (0-d tensors)."""

    mi: torch.Tensor
    tc: torch.Tensor
    dimwise: torch.Tensor


def gaussian_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, exp(logvar)) elementwise (broadcasting)."""
    return -0.5 * (_LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def mws_parts(mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor,
              dataset_size: int) -> KLParts:
    """MI, TC and DW of a batch by minibatch-weighted sampling; memory O(M^2 D)."""
    log_nm = math.log(dataset_size * z.shape[0])
    # [i, j, k]: log q(z_ik | x_j)
    pair = gaussian_log_density(z[:, None, :], mu[None], logvar[None])
    log_q_cond = gaussian_log_density(z, mu, logvar).sum(1)  # log q(z_i | x_i)
    log_qz = torch.logsumexp(pair.sum(2), dim=1) - log_nm
    log_prod_qz = (torch.logsumexp(pair, dim=1) - log_nm).sum(1)
    log_pz = (-0.5 * (_LOG_2PI + z.pow(2))).sum(1)
    return KLParts(
        mi=(log_q_cond - log_qz).mean(),
        tc=(log_qz - log_prod_qz).mean(),
        dimwise=(log_prod_qz - log_pz).mean(),
    )


def _norm(grads: tuple[torch.Tensor, ...]) -> torch.Tensor:
    return torch.cat([g.flatten() for g in grads]).norm()


class BetaTCVAE(Objective):
    name = "beta_tcvae"
    defaults = {"alpha": 1.0, "beta": 6.0, "gamma": 1.0, "dataset_size": DSPRITES_SIZE}

    def validate(self, params: dict[str, Any]) -> None:
        check_number(self.name, params, "alpha", "beta", "gamma", low=0.0)
        check_int(self.name, params, "dataset_size")

    def weighted(self, parts: KLParts) -> torch.Tensor:
        """alpha MI + beta TC + gamma DW: the loss's KL part."""
        p = self.params
        return (float(p["alpha"]) * parts.mi + float(p["beta"]) * parts.tc
                + float(p["gamma"]) * parts.dimwise)

    def kl_gradient_weight(self, out: ForwardOutput) -> torch.Tensor:
        """beta_eff: |grad weighted KL part| / |grad (MI + TC + DW)| w.r.t. (mu, logvar, z),
        on detached copies (the training graph is untouched)."""
        with torch.enable_grad():
            leaves = tuple(t.detach().requires_grad_(True) for t in (out.mu, out.logvar, out.z))
            parts = mws_parts(*leaves, int(self.params["dataset_size"]))
            g_weighted = torch.autograd.grad(self.weighted(parts), leaves, retain_graph=True)
            g_plain = torch.autograd.grad(sum(parts), leaves)
        tiny = torch.finfo(out.mu.dtype).tiny
        return _norm(g_weighted) / _norm(g_plain).clamp_min(tiny)

    def combine_inputs(self, out: ForwardOutput) -> dict[str, Any]:
        """The KL decomposition needs the posterior and the sample, not only K."""
        parts = mws_parts(out.mu, out.logvar, out.z, int(self.params["dataset_size"]))
        return {"parts": parts, "beta_eff": self.kl_gradient_weight(out)}

    def combine(
        self,
        recon: torch.Tensor,
        kl: torch.Tensor,
        step: int,
        *,
        parts: KLParts | None = None,
        beta_eff: float | torch.Tensor | None = None,
    ) -> LossTerms:
        """L = R + alpha MI + beta TC + gamma DW; ``kl`` (analytic K) is reported, not used."""
        if parts is None or beta_eff is None:
            raise ValueError(
                "beta_tcvae.combine needs parts (MI, TC, DW) and beta_eff from the posterior and "
                "sample: call the objective on a ForwardOutput"
            )
        state = {
            "mi": parts.mi.detach(),
            "tc": parts.tc.detach(),
            "dimwise_kl": parts.dimwise.detach(),
            "kl_sampled": sum(parts).detach(),
        }
        return LossTerms(
            total=recon + self.weighted(parts),
            recon=recon,
            kl=kl,
            beta_eff=beta_eff.detach() if isinstance(beta_eff, torch.Tensor) else beta_eff,
            state=state,
        )
