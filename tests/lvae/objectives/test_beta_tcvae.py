"""beta-TCVAE: the MWS estimator against the paper's formula written out, the decomposition
summing to the sampled KL, TC telling independent latents from copied ones, beta_eff,
parameter errors, and a few steps through the real trainer (TensorBoard, --help)."""

from __future__ import annotations

import math

import pytest
import torch
from helpers.train import read_tb, toy_config

from lvae.objectives import ForwardOutput, get_objective
from lvae.objectives.beta_tcvae import DSPRITES_SIZE, mws_parts
from lvae.train import kl_per_dim, train


def posterior(m: int, d: int, seed: int, std: float | None = None, copy: bool = False):
    """(mu, logvar, z) in float64, seeded; ``copy``: dimension 1 repeats dimension 0 (mean
    and noise), so the two are dependent by construction."""
    g = torch.Generator().manual_seed(seed)
    mu = torch.randn(m, d, generator=g, dtype=torch.float64)
    eps = torch.randn(m, d, generator=g, dtype=torch.float64)
    if std is None:
        logvar = torch.randn(m, d, generator=g, dtype=torch.float64) - 1.0
    else:
        logvar = torch.full((m, d), 2.0 * math.log(std), dtype=torch.float64)
    if copy:
        mu[:, 1], eps[:, 1], logvar[:, 1] = mu[:, 0], eps[:, 0], logvar[:, 0]
    return mu, logvar, mu + eps * torch.exp(0.5 * logvar)


def record(mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor, seed: int = 0) -> ForwardOutput:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(mu.shape[0], 1, 8, 8, generator=g) > 0.5).double()
    logits = torch.randn(mu.shape[0], 1, 8, 8, generator=g, dtype=torch.float64)
    return ForwardOutput(x=x, logits=logits, mu=mu, logvar=logvar, z=z,
                         kl_per_dim=kl_per_dim(mu, logvar), step=0)


def sampled_kl(mu: torch.Tensor, logvar: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """E[log q(z|x) - log p(z)] on the batch, with torch.distributions."""
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros_like(z), torch.ones_like(z))
    return (q.log_prob(z) - p.log_prob(z)).sum(1).mean()


def test_mws_matches_the_papers_formula_written_out() -> None:
    mu, logvar, z = posterior(6, 3, seed=0)
    n, m = 1000, 6
    std = torch.exp(0.5 * logvar)
    mi = tc = dw = 0.0
    for i in range(m):
        # (D,) each
        dens = [torch.distributions.Normal(mu[j], std[j]).log_prob(z[i]) for j in range(m)]
        cond = dens[i].sum()
        log_qz = torch.logsumexp(torch.stack([t.sum() for t in dens]), 0) - math.log(n * m)
        log_prod = sum(torch.logsumexp(torch.stack([t[k] for t in dens]), 0) - math.log(n * m)
                       for k in range(3))
        log_pz = torch.distributions.Normal(0.0, 1.0).log_prob(z[i]).sum()
        mi += (cond - log_qz) / m
        tc += (log_qz - log_prod) / m
        dw += (log_prod - log_pz) / m
    parts = mws_parts(mu, logvar, z, n)
    for got, want in zip(parts, (mi, tc, dw), strict=True):
        assert float(got) == pytest.approx(float(want), rel=1e-10, abs=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unit_weights_give_r_plus_the_sampled_kl(seed: int) -> None:
    """alpha = beta = gamma = 1: MI + TC + DW telescopes to E[log q(z|x) - log p(z)]."""
    mu, logvar, z = posterior(32, 5, seed)
    out = record(mu, logvar, z, seed)
    obj = get_objective("beta_tcvae", {"alpha": 1.0, "beta": 1.0, "gamma": 1.0})
    terms = obj(out)
    want = sampled_kl(mu, logvar, z)
    torch.testing.assert_close(terms.total - terms.recon, want, rtol=1e-12, atol=1e-10)
    s = terms.state
    total = float(s["mi"] + s["tc"] + s["dimwise_kl"])
    assert total == pytest.approx(float(want), rel=1e-12, abs=1e-10)
    assert float(s["kl_sampled"]) == pytest.approx(float(want), rel=1e-12, abs=1e-10)
    assert float(terms.beta_eff) == pytest.approx(1.0, rel=1e-9)
    # recon is the dataset's R and kl the analytic K, as for every objective
    torch.testing.assert_close(terms.recon, obj.reconstruction(out.x, out.logits))
    torch.testing.assert_close(terms.kl, out.kl)


def test_default_weights_add_five_tc_to_the_sampled_kl() -> None:
    mu, logvar, z = posterior(32, 5, seed=4)
    terms = get_objective("beta_tcvae")(record(mu, logvar, z))  # alpha 1, beta 6, gamma 1
    tc = mws_parts(mu, logvar, z, DSPRITES_SIZE).tc
    torch.testing.assert_close(terms.total - terms.recon, sampled_kl(mu, logvar, z) + 5.0 * tc)


@pytest.mark.parametrize("seed", range(5))
def test_tc_near_zero_for_independent_latents_and_clearly_larger_for_copies(seed: int) -> None:
    """dataset_size 1 (the batch is the data set): log q(z) is the batch's own aggregate
    posterior, with no constant offset. Two copied dimensions: the true TC is
    -0.5 log(1 - 1 / (1 + s^2)^2) = 0.51 nats for posterior std s = 0.5."""
    indep = mws_parts(*posterior(256, 3, seed, std=0.5), 1).tc
    copies = mws_parts(*posterior(256, 3, seed, std=0.5, copy=True), 1).tc
    assert abs(float(indep)) < 0.2
    assert float(copies) > 0.8 and float(copies - indep) > 0.6
    # a dataset size only shifts TC by the constant (D - 1) log N
    shift = mws_parts(*posterior(256, 3, seed, std=0.5), DSPRITES_SIZE).tc - indep
    assert float(shift) == pytest.approx(2 * math.log(DSPRITES_SIZE), rel=1e-9)


def test_beta_eff_is_the_gradient_norm_ratio_of_the_kl_part() -> None:
    mu, logvar, z = posterior(16, 4, seed=5)
    leaves = [t.clone().requires_grad_(True) for t in (mu, logvar, z)]
    grads = []
    for k in range(3):  # the three parts' gradients, one at a time
        part = mws_parts(*leaves, DSPRITES_SIZE)[k]
        grads.append(torch.cat([g.flatten() for g in torch.autograd.grad(part, leaves)]))
    mi, tc, dw = grads
    want = (mi + 6.0 * tc + dw).norm() / (mi + tc + dw).norm()
    terms = get_objective("beta_tcvae")(record(mu, logvar, z))
    assert float(terms.beta_eff) == pytest.approx(float(want), rel=1e-9)
    same = get_objective("beta_tcvae", {"alpha": 3.0, "beta": 3.0,
                                        "gamma": 3.0})(record(mu, logvar, z))
    assert float(same.beta_eff) == pytest.approx(3.0, rel=1e-9)
    # logged numbers carry no graph (the trainer reads them back only at log steps)
    for value in [terms.beta_eff, *terms.state.values()]:
        assert value.dim() == 0 and not value.requires_grad


def test_dataset_size_does_not_change_the_gradient() -> None:
    mu, logvar, z = posterior(16, 4, seed=6)
    grads = []
    for n in (1, DSPRITES_SIZE):
        leaves = [t.clone().requires_grad_(True) for t in (mu, logvar, z)]
        out = record(*leaves)
        get_objective("beta_tcvae", {"dataset_size": n})(out).total.backward()
        grads.append([t.grad for t in leaves])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"alpha": -1.0}, "alpha"),
        ({"beta": float("nan")}, "beta"),
        ({"beta": "6"}, "beta"),
        ({"gamma": True}, "gamma"),
        ({"dataset_size": 0}, "dataset_size"),
        ({"dataset_size": 1000.5}, "dataset_size"),
        ({"dataset_size": True}, "dataset_size"),
    ],
)
def test_bad_parameters_are_refused_naming_the_field(params: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"objective_params\.{field}\b.*'beta_tcvae'"):
        get_objective("beta_tcvae", params)


def test_combine_without_the_decomposition_says_what_it_needs() -> None:
    with pytest.raises(ValueError, match="ForwardOutput"):
        get_objective("beta_tcvae").combine(torch.tensor(1.0), torch.tensor(1.0), 0)


def test_trains_through_the_trainer_and_logs_its_terms(tmp_path, toy_dataset) -> None:
    records: list[dict] = []
    cfg = toy_config(tmp_path, objective="beta_tcvae", steps=4, log_every=2, checkpoint_every=4,
                     image_every=0, objective_params={"beta": 4.0,
                                                      "dataset_size": len(toy_dataset)})
    result = train(cfg, hook=records.append)
    assert [r["step"] for r in records] == [2, 4]
    acc = read_tb(tmp_path / "run" / "tb")
    keys = ("mi", "tc", "dimwise_kl", "kl_sampled")
    assert {"beta/effective", *(f"objective/{k}" for k in keys)} <= set(acc.Tags()["scalars"])
    for tag in ("beta/effective", *(f"objective/{k}" for k in keys)):
        values = [e.value for e in acc.Scalars(tag)]
        assert len(values) == 2 and all(math.isfinite(v) for v in values), (tag, values)
    assert all(e.value > 0 for e in acc.Scalars("beta/effective"))
    final = result["final"]
    parts = sum(final[f"objective/{k}"] for k in ("mi", "tc", "dimwise_kl"))
    assert parts == pytest.approx(final["objective/kl_sampled"], rel=1e-4, abs=1e-4)


def test_listed_in_the_trainers_help() -> None:
    from lvae.train_cli import build_parser

    text = " ".join(build_parser().format_help().split())
    assert "beta_tcvae" in text and "dataset_size=737280" in text
