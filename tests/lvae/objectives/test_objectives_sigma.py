"""sigma-VAE: the optimal sigma (soft-clipped batch RMSE), its Gaussian likelihood and
the beta_eff its gradient implies."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.objectives import leaf, record

from lvae.objectives import get_objective


def _soft_clip_log(value: float, low: float = -6.0) -> float:
    return low + math.log1p(math.exp(value - low))


def test_sigma_is_soft_clipped_batch_rmse() -> None:
    torch.manual_seed(1)
    x = torch.rand(4, 3, 64, 64, dtype=torch.float64)
    logits = torch.randn(4, 3, 64, 64, dtype=torch.float64)
    kl = torch.tensor(3.0, dtype=torch.float64)
    terms = get_objective("sigma_vae", likelihood="bernoulli")(record(x, logits, kl))
    x_hat = (1 / (1 + (-logits).exp())).numpy()
    rmse = float((((x.numpy() - x_hat) ** 2).mean()) ** 0.5)
    sigma = math.exp(_soft_clip_log(math.log(rmse)))
    assert terms.state["sigma"] == pytest.approx(sigma, rel=1e-9)
    assert terms.state["mse"] == pytest.approx(rmse**2, rel=1e-9)
    assert terms.state["beta_sse"] == pytest.approx(2 * sigma**2, rel=1e-9)
    # on the Bernoulli scale: 2 sigma^2 |p - x| / |2 (p - x) p (1 - p)| (docs/objectives.md)
    p_hat = torch.from_numpy(x_hat)
    g_bce, g_sse = p_hat - x, 2 * (p_hat - x) * p_hat * (1 - p_hat)
    expected = 2 * sigma**2 * (g_bce.norm() / g_sse.norm()).item()
    assert float(terms.beta_eff) == pytest.approx(expected, rel=1e-9)
    # R is the Gaussian NLL under N(x_hat, sigma^2), summed per image, batch mean
    nll = -torch.distributions.Normal(torch.from_numpy(x_hat), sigma).log_prob(x)
    assert terms.recon.item() == pytest.approx(nll.sum((1, 2, 3)).mean().item(), rel=1e-9)
    assert terms.total.item() == pytest.approx(terms.recon.item() + 3.0, rel=1e-12)
    # the dataset's likelihood is ignored
    same = get_objective("sigma_vae", likelihood="gaussian")(record(x, logits, kl))
    assert same.total.item() == terms.total.item()
    # ... except for the scale of beta_eff: on a Gaussian (SSE) dataset it is 2 sigma^2
    assert float(same.beta_eff) == pytest.approx(2 * sigma**2, rel=1e-9)


def test_sigma_soft_clip_floor_for_perfect_reconstruction() -> None:
    x = torch.full((2, 1, 64, 64), 0.5)
    terms = get_objective("sigma_vae")(record(x, torch.zeros_like(x), torch.tensor(1.0)))
    assert terms.state["sigma"] == pytest.approx(math.exp(-6.0), rel=1e-5)
    assert math.isfinite(terms.total.item())


def test_sigma_gradient_on_reconstruction_matches_beta_eff() -> None:
    """d total/d x_hat = (x_hat - x) / (sigma^2 N): the SSE gradient scaled by 1/(2 sigma^2)."""
    torch.manual_seed(2)
    n = 3
    x = torch.rand(n, 1, 64, 64, dtype=torch.float64)
    x_hat = (0.05 + 0.9 * torch.rand(n, 1, 64, 64, dtype=torch.float64)).requires_grad_()
    kl = leaf(4.0)
    terms = get_objective("sigma_vae")(record(x, torch.logit(x_hat), kl))
    terms.total.backward()
    sigma2 = float(terms.state["sigma"]) ** 2
    expected = (x_hat.detach() - x) / (sigma2 * n)
    torch.testing.assert_close(x_hat.grad, expected, rtol=1e-7, atol=1e-12)
    # relative to d SSE / d x_hat = 2 (x_hat - x) / N, K's weight is 2 sigma^2
    beta_sse = float(terms.state["beta_sse"])
    assert kl.grad.item() / (1 / (2 * sigma2)) == pytest.approx(beta_sse, rel=1e-9)


def test_sigma_combine_requires_pixel_count() -> None:
    with pytest.raises(ValueError, match="num_pixels"):
        get_objective("sigma_vae").combine(torch.tensor(1.0), torch.tensor(1.0), 0)
