"""What every architecture shares: the encode/decode contract the trainer relies on."""

from __future__ import annotations

import torch
from torch import nn

VALID_CHANNELS = (1, 3)


def check_shape_args(num_channels: int, latent_dim: int) -> None:
    """Reject bad sizes before any layer is built, naming the field."""
    if isinstance(num_channels, bool) or num_channels not in VALID_CHANNELS:
        raise ValueError(
            f"num_channels must be one of {VALID_CHANNELS} (grey or RGB), got {num_channels!r}"
        )
    if not isinstance(latent_dim, int) or isinstance(latent_dim, bool) or latent_dim < 1:
        raise ValueError(f"latent_dim must be an integer >= 1, got {latent_dim!r}")


class GaussianVAE(nn.Module):
    """Gaussian encoder q(z|x) and a decoder that returns logits.

    The encoder's last layer emits ``2 * latent_dim`` numbers: means then log-variances
    (one dense layer; disentanglement_lib uses two parallel dense layers, which is the
    same function with the same parameter count). Sampling and the KL stay in the
    trainer, so the model is a plain pair of functions.
    """

    def __init__(self, encoder: nn.Module, decoder: nn.Module, num_channels: int, latent_dim: int):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.num_channels = num_channels
        self.latent_dim = latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: float (N, C, 64, 64) in [0, 1] -> (mu, logvar), each (N, latent_dim)."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """z: (N, latent_dim) -> logits (N, C, 64, 64)."""
        return self.decoder(z)
