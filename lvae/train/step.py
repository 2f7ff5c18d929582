"""One optimiser step: the network's forward, the objective's loss, backward, Adam.

Nothing here reads a value back to the host: on a GPU the step only queues work.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

from lvae.objectives.base import ForwardOutput, LossTerms

if TYPE_CHECKING:
    from lvae.train.run import Run

#: what the network's forward returns: (mu, logvar, z, logits), z the decoded sample
NetworkOutputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def network_forward(model: torch.nn.Module, x: torch.Tensor, eps: torch.Tensor) -> NetworkOutputs:
    """Encode, reparameterise with the given noise, decode: (mu, logvar, z, logits). z is
    returned because objectives that estimate q(z) (beta-TCVAE) need the decoded sample."""
    mu, logvar = model.encode(x)
    z = mu + eps * torch.exp(0.5 * logvar)
    return mu, logvar, z, model.decode(z)


def build_forward(mode: str) -> Callable[..., NetworkOutputs]:
    """:func:`network_forward`, compiled unless ``mode`` is "none". The function is compiled,
    not the modules, so state_dict keys (and checkpoints) stay as in eager runs."""
    if mode == "none":
        return network_forward
    return torch.compile(network_forward, mode=None if mode == "default" else mode)


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per latent dimension, averaged over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(0)


def forward_output(x: torch.Tensor, outputs: NetworkOutputs, step: int) -> ForwardOutput:
    """The record an objective receives for one batch; the network's outputs in fp32
    (under bf16 autocast the losses are still computed in fp32)."""
    mu, logvar, z, logits = (t.float() for t in outputs)
    return ForwardOutput(
        x=x, logits=logits, mu=mu, logvar=logvar, z=z, kl_per_dim=kl_per_dim(mu, logvar), step=step
    )


def autocast(run: Run) -> contextlib.AbstractContextManager:
    """bf16 autocast of the forward pass when ``precision`` is "bf16" (else nothing)."""
    if run.config.precision == "bf16":
        return torch.autocast(run.device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(run: Run, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, LossTerms]:
    """One optimiser step; returns (stacked [total, recon, kl], per-dim KL, LossTerms)."""
    # the noise is drawn before the forward pass (the encoder draws nothing, so the
    # stream is as before) so that the forward pass can be one compiled function
    eps = torch.randn((x.shape[0], run.config.latent_dim), generator=run.noise, device=x.device)
    if run.config.compile == "reduce-overhead":
        torch.compiler.cudagraph_mark_step_begin()
    with autocast(run):
        outputs = (run.forward or network_forward)(run.model, x, eps)
    out = forward_output(x, outputs, run.step)
    terms = run.objective(out)
    run.optimizer.zero_grad(set_to_none=True)
    terms.total.backward()
    run.optimizer.step()
    losses = torch.stack([terms.total.detach(), terms.recon.detach(), terms.kl.detach()])
    return losses, out.kl_per_dim.detach(), terms
