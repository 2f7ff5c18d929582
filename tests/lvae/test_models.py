"""Architectures: shapes, the encode/decode contract, Burgess/dlib parameter counts, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from lvae.models import MODELS, get_model


def conv_params(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


def dense_params(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("latent", [1, 10])
def test_shapes_and_contract(name: str, channels: int, latent: int) -> None:
    torch.manual_seed(0)
    model = get_model(name, num_channels=channels, latent_dim=latent)
    assert model.latent_dim == latent and model.num_channels == channels
    x = torch.rand(5, channels, 64, 64)
    mu, logvar = model.encode(x)
    assert mu.shape == (5, latent) and logvar.shape == (5, latent)
    assert mu.dtype == torch.float32 and logvar.dtype == torch.float32
    logits = model.decode(mu)
    assert logits.shape == (5, channels, 64, 64) and logits.dtype == torch.float32
    # mu and logvar come from different units, not a copy of each other
    assert not torch.allclose(mu, logvar)
    # every parameter is on the path from x to the logits
    (logits.square().mean() + logvar.square().mean()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert missing == []


def test_larger_latent_and_batch_of_one() -> None:
    model = get_model("conv", 1, 32)
    mu, logvar = model.encode(torch.rand(1, 1, 64, 64))
    assert mu.shape == (1, 32)
    assert model.decode(torch.zeros(1, 32)).shape == (1, 1, 64, 64)


def _conv_vae_params(c: int, z: int, enc: list[int], kernels: list[int], hidden: int) -> int:
    """Hand count: encoder convs, dense hidden, dense 2z; decoder dense hidden, dense
    enc[-1]*16, transposed convs (4x4) through the encoder's channels reversed, then C."""
    count, c_in = 0, c
    for c_out, k in zip(enc, kernels, strict=True):
        count += conv_params(c_in, c_out, k)
        c_in = c_out
    count += dense_params(enc[-1] * 4 * 4, hidden) + dense_params(hidden, 2 * z)
    count += dense_params(z, hidden) + dense_params(hidden, enc[-1] * 4 * 4)
    dec = [*reversed(enc), c]  # 64 -> 64 -> 32 -> 32 -> C for the Burgess net
    for c_in, c_out in zip(dec[:-1], dec[1:], strict=True):
        count += conv_params(c_in, c_out, 4)
    return count


def test_conv_matches_burgess_parameter_count() -> None:
    # Burgess et al. 2018 / Higgins et al. 2017 with z = 10 on dSprites.
    expected = _conv_vae_params(1, 10, [32, 32, 64, 64], [4, 4, 4, 4], 256)
    assert expected == 764_245  # the hand count itself, written out once
    assert n_params(get_model("conv", 1, 10)) == expected
    assert n_params(get_model("conv", 3, 10)) == _conv_vae_params(
        3, 10, [32, 32, 64, 64], [4, 4, 4, 4], 256
    )


def test_conv_dlib_and_wide_parameter_counts() -> None:
    # disentanglement_lib's conv_encoder: kernel_size=2 in e3 and e4.
    dlib = _conv_vae_params(1, 10, [32, 32, 64, 64], [4, 4, 2, 2], 256)
    assert n_params(get_model("conv_dlib", 1, 10)) == dlib
    wide = _conv_vae_params(3, 7, [64, 64, 128, 128], [4, 4, 4, 4], 512)
    assert n_params(get_model("conv_wide", 3, 7)) == wide


def test_conv_layer_layout() -> None:
    model = get_model("conv", 1, 10)
    convs = [m for m in model.encoder if isinstance(m, nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in convs] == [
        (32, (4, 4), (2, 2)),
        (32, (4, 4), (2, 2)),
        (64, (4, 4), (2, 2)),
        (64, (4, 4), (2, 2)),
    ]
    deconvs = [m for m in model.decoder if isinstance(m, nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size) for m in deconvs] == [
        (64, 64, (4, 4)),
        (64, 32, (4, 4)),
        (32, 32, (4, 4)),
        (32, 1, (4, 4)),
    ]
    # spatial sizes 64 -> 32 -> 16 -> 8 -> 4 through the encoder, and back up
    h = torch.rand(2, 1, 64, 64)
    sizes = []
    for layer in model.encoder:
        h = layer(h)
        if isinstance(layer, nn.Conv2d):
            sizes.append(h.shape[-1])
    assert sizes == [32, 16, 8, 4]
    # the decoder's last layer has no activation: logits can be negative
    assert isinstance(model.decoder[-1], nn.ConvTranspose2d)


def test_mlp_layout_matches_beta_tcvae() -> None:
    model = get_model("mlp", 3, 10)
    enc = [(m.in_features, m.out_features) for m in model.encoder if isinstance(m, nn.Linear)]
    dec = [(m.in_features, m.out_features) for m in model.decoder if isinstance(m, nn.Linear)]
    assert enc == [(3 * 4096, 1200), (1200, 1200), (1200, 20)]
    assert dec == [(10, 1200), (1200, 1200), (1200, 1200), (1200, 3 * 4096)]
    assert sum(isinstance(m, nn.Tanh) for m in model.decoder) == 3


def test_same_seed_same_weights_and_channels_last_agrees() -> None:
    torch.manual_seed(3)
    a = get_model("conv", 1, 10)
    torch.manual_seed(3)
    b = get_model("conv", 1, 10)
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    x = torch.rand(4, 1, 64, 64)
    mu, _ = a.encode(x)
    b = b.to(memory_format=torch.channels_last)
    mu_cl, _ = b.encode(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(mu, mu_cl, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a.decode(mu), b.decode(mu), rtol=1e-4, atol=1e-5)


def test_unknown_architecture_lists_valid_names() -> None:
    with pytest.raises(KeyError) as err:
        get_model("resnet", 1, 10)
    for name in MODELS:
        assert name in str(err.value)


@pytest.mark.parametrize("latent", [0, -3, 2.5, True, "10"])
def test_bad_latent_dim(latent: object) -> None:
    with pytest.raises(ValueError, match="latent_dim"):
        get_model("conv", 1, latent)  # type: ignore[arg-type]


@pytest.mark.parametrize("channels", [0, 2, 4, True])
def test_bad_num_channels(channels: object) -> None:
    with pytest.raises(ValueError, match="num_channels"):
        get_model("mlp", channels, 10)  # type: ignore[arg-type]
