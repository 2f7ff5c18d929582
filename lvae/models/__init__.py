"""Architecture registry: ``get_model(name, num_channels, latent_dim)``.

Every model has ``encode(x) -> (mu, logvar)``, ``decode(z) -> logits`` and the
attributes ``latent_dim`` and ``num_channels`` (see ``lvae.models.base.GaussianVAE``).
"""

from __future__ import annotations

from collections.abc import Callable

from lvae.models.base import GaussianVAE
from lvae.models.conv import conv, conv_dlib, conv_wide
from lvae.models.mlp import mlp

#: name -> factory(num_channels, latent_dim).
MODELS: dict[str, Callable[[int, int], GaussianVAE]] = {
    "conv": conv,
    "conv_dlib": conv_dlib,
    "conv_wide": conv_wide,
    "mlp": mlp,
}


def get_model(name: str, num_channels: int = 1, latent_dim: int = 10) -> GaussianVAE:
    """Build a fresh model (PyTorch default init; seed torch beforehand for repeatability)."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise KeyError(
            f"unknown architecture {name!r}; valid architectures: {', '.join(sorted(MODELS))}"
        ) from None
    return factory(num_channels, latent_dim)


__all__ = ["MODELS", "GaussianVAE", "get_model"]
