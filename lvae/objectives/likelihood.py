"""Decoder likelihoods. The decoder always returns logits; the likelihood decides how
they are read (Bernoulli on binary data, Gaussian/MSE on RGB, as in disentanglement_lib)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

LIKELIHOODS = ("bernoulli", "gaussian")


def reconstruction_nll(x: torch.Tensor, logits: torch.Tensor, likelihood: str) -> torch.Tensor:
    """Per-image NLL summed over pixels, averaged over the batch.

    bernoulli: binary cross-entropy with logits (disentanglement_lib ``bernoulli_loss``).
    gaussian: summed squared error of sigmoid(logits) (disentanglement_lib ``l2_loss``,
    a unit-variance Gaussian up to constants and a factor 2).
    """
    n = x.shape[0]
    if likelihood == "bernoulli":
        return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / n
    if likelihood == "gaussian":
        return (torch.sigmoid(logits) - x).pow(2).sum() / n
    raise ValueError(f"unknown likelihood {likelihood!r}; valid: {', '.join(LIKELIHOODS)}")


def mean_image_nll(images: torch.Tensor, likelihood: str) -> float:
    """Reconstruction NLL (as :func:`reconstruction_nll`) of predicting every image by the
    sample's mean image: what a model whose decoder ignores its code reaches, the baseline of
    the collapse rule's reconstruction gain (lvae.collapse)."""
    x = images.float()
    p = x.mean(0, keepdim=True).clamp(1e-4, 1 - 1e-4)
    logits = (torch.log(p) - torch.log1p(-p)).expand_as(x)
    return float(reconstruction_nll(x, logits, likelihood))
