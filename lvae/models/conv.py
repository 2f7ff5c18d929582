"""Convolutional encoder/decoder of Burgess et al. 2018 / Higgins et al. 2017.

Encoder: four stride-2 convolutions (32, 32, 64, 64 channels, ReLU) take 64x64 to 4x4,
then dense 256 (ReLU), then dense 2*z. Decoder (mirror): dense 256 (ReLU), dense
64*4*4 (ReLU), four stride-2 transposed convolutions 4x4 (64, 32, 32, C; ReLU except
the last, which returns logits).

TensorFlow's ``padding="same"`` with stride 2 on even inputs pads one pixel each side
for a 4x4 kernel and none for a 2x2 kernel, so ``padding=1`` / ``padding=0`` here give
the same alignment; ``ConvTranspose2d(k=4, s=2, p=1)`` doubles the size exactly as TF's
``conv2d_transpose(..., padding="same")``.

Variants in the registry:
- ``conv``: every encoder kernel 4x4 (Burgess et al. 2018; docs/models.md).
- ``conv_dlib``: disentanglement_lib's ``conv_encoder`` verbatim, whose third and fourth
  encoder convolutions use 2x2 kernels (kernel_size=2 in
  ``methods/shared/architectures.py``); use it for parity with that study's numbers.
- ``conv_wide``: same topology, channels doubled, dense 512.

ReLUs run in place (the same numbers; measured about 5% faster per CPU-second on the
training step, benchmarks/bench_trainer.py).

Initialisation: PyTorch defaults (Kaiming-uniform with a=sqrt(5), bias U(+-1/sqrt(fan_in))),
not TF's Glorot-uniform kernels and zero biases; this is a documented difference from
disentanglement_lib.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from lvae.data.base import IMAGE_SIZE
from lvae.models.base import GaussianVAE, check_shape_args

# Four stride-2 layers take 64 -> 4.
_BOTTLENECK = IMAGE_SIZE // 16


def conv_encoder(
    num_channels: int,
    latent_dim: int,
    channels: Sequence[int],
    kernels: Sequence[int],
    hidden: int,
) -> nn.Sequential:
    layers: list[nn.Module] = []
    c_in = num_channels
    for c_out, k in zip(channels, kernels, strict=True):
        # 'same' padding for stride 2 on even sizes: (k - 2) / 2 each side.
        layers += [nn.Conv2d(c_in, c_out, k, stride=2, padding=(k - 2) // 2), nn.ReLU(inplace=True)]
        c_in = c_out
    layers += [
        nn.Flatten(),
        nn.Linear(c_in * _BOTTLENECK * _BOTTLENECK, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, 2 * latent_dim),
    ]
    return nn.Sequential(*layers)


def deconv_decoder(
    num_channels: int, latent_dim: int, channels: Sequence[int], hidden: int
) -> nn.Sequential:
    """``channels`` are the transposed-conv outputs before the final C-channel layer."""
    c0 = channels[0]
    layers: list[nn.Module] = [
        nn.Linear(latent_dim, hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, c0 * _BOTTLENECK * _BOTTLENECK),
        nn.ReLU(inplace=True),
        nn.Unflatten(1, (c0, _BOTTLENECK, _BOTTLENECK)),
    ]
    c_in = c0
    for c_out in channels:
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, stride=2, padding=1), nn.ReLU(inplace=True)]
        c_in = c_out
    # channels = (64, 32, 32): convT 64->64, 64->32, 32->32, then 32->C (logits).
    layers.append(nn.ConvTranspose2d(c_in, num_channels, 4, stride=2, padding=1))
    return nn.Sequential(*layers)


def _conv_vae(
    num_channels: int,
    latent_dim: int,
    enc_channels: Sequence[int],
    enc_kernels: Sequence[int],
    dec_channels: Sequence[int],
    hidden: int,
) -> GaussianVAE:
    check_shape_args(num_channels, latent_dim)
    encoder = conv_encoder(num_channels, latent_dim, enc_channels, enc_kernels, hidden)
    decoder = deconv_decoder(num_channels, latent_dim, dec_channels, hidden)
    return GaussianVAE(encoder, decoder, num_channels, latent_dim)


def conv(num_channels: int = 1, latent_dim: int = 10) -> GaussianVAE:
    """Burgess et al. 2018: all encoder kernels 4x4."""
    return _conv_vae(num_channels, latent_dim, (32, 32, 64, 64), (4, 4, 4, 4), (64, 32, 32), 256)


def conv_dlib(num_channels: int = 1, latent_dim: int = 10) -> GaussianVAE:
    """disentanglement_lib's conv_encoder/deconv_decoder (encoder kernels 4, 4, 2, 2)."""
    return _conv_vae(num_channels, latent_dim, (32, 32, 64, 64), (4, 4, 2, 2), (64, 32, 32), 256)


def conv_wide(num_channels: int = 1, latent_dim: int = 10) -> GaussianVAE:
    """``conv`` with every channel count doubled and a 512-unit dense layer."""
    return _conv_vae(num_channels, latent_dim, (64, 64, 128, 128), (4, 4, 4, 4), (128, 64, 64), 512)
