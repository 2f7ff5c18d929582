"""Fully connected VAE of the beta-TCVAE paper's dSprites experiments (Chen et al. 2018).

Encoder: (C*4096) -> 1200 -> 1200 -> 2z with ReLU; decoder: z -> 1200 -> 1200 -> 1200
-> (C*4096) with tanh, returning logits (rtqichen/beta-tcvae ``MLPEncoder`` /
``MLPDecoder``; disentanglement_lib's ``fc_encoder``/``fc_decoder`` are the same
shape). RGB images are flattened to C*4096 inputs. PyTorch default initialisation.
"""

from __future__ import annotations

from torch import nn

from lvae.data.base import IMAGE_SIZE
from lvae.models.base import GaussianVAE, check_shape_args

_HIDDEN = 1200


def mlp(num_channels: int = 1, latent_dim: int = 10) -> GaussianVAE:
    check_shape_args(num_channels, latent_dim)
    pixels = num_channels * IMAGE_SIZE * IMAGE_SIZE
    encoder = nn.Sequential(
        nn.Flatten(),
        nn.Linear(pixels, _HIDDEN),
        nn.ReLU(),
        nn.Linear(_HIDDEN, _HIDDEN),
        nn.ReLU(),
        nn.Linear(_HIDDEN, 2 * latent_dim),
    )
    decoder = nn.Sequential(
        nn.Linear(latent_dim, _HIDDEN),
        nn.Tanh(),
        nn.Linear(_HIDDEN, _HIDDEN),
        nn.Tanh(),
        nn.Linear(_HIDDEN, _HIDDEN),
        nn.Tanh(),
        nn.Linear(_HIDDEN, pixels),
        nn.Unflatten(1, (num_channels, IMAGE_SIZE, IMAGE_SIZE)),
    )
    return GaussianVAE(encoder, decoder, num_channels, latent_dim)
