"""Objectives: registry and parameter errors, the defining property of beta_eff for every
objective that has one weight on K, and a trainer-like step for every objective
(L-VAE's learned balance: test_objectives_lvae.py; sigma-VAE's optimal sigma:
test_objectives_sigma.py; beta-TCVAE's own tests: test_beta_tcvae.py, all in
tests/lvae/objectives/)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from helpers.objectives import leaf, record

from lvae.models import get_model
from lvae.objectives import OBJECTIVES, ForwardOutput, get_objective
from lvae.train import forward_output

ALL = sorted(OBJECTIVES)


# --- registry and validation -----------------------------------------------------------


def test_registry_has_the_seven_and_unknown_name_lists_them() -> None:
    assert set(OBJECTIVES) == {
        "vae", "beta_vae", "lvae", "controlvae", "dynamicvae", "sigma_vae", "beta_tcvae"
    }
    with pytest.raises(KeyError) as err:
        get_objective("infovae")
    for name in OBJECTIVES:
        assert name in str(err.value)


@pytest.mark.parametrize("name", ALL)
def test_defaults_build_and_unknown_parameter_is_named(name: str) -> None:
    obj = get_objective(name)
    assert obj.params == OBJECTIVES[name].defaults
    with pytest.raises(ValueError, match=r"objective_params.*bogus"):
        get_objective(name, {"bogus": 1})


@pytest.mark.parametrize(
    ("name", "params", "field"),
    [
        ("beta_vae", {"beta": 0}, "beta"),
        ("beta_vae", {"beta": -1.0}, "beta"),
        ("beta_vae", {"beta": "4"}, "beta"),
        ("beta_vae", {"beta": True}, "beta"),
        ("beta_vae", {"beta": float("nan")}, "beta"),
        ("lvae", {"lambda": -0.01}, "lambda"),
        ("lvae", {"lambda": float("inf")}, "lambda"),
        ("lvae", {"init_s_kl": None}, "init_s_kl"),
        ("controlvae", {"kp": -0.01}, "kp"),
        ("controlvae", {"ki": -0.001}, "ki"),
        ("controlvae", {"beta_min": 0.0}, "beta_min"),
        ("controlvae", {"c_step_every": 0}, "c_step_every"),
        ("controlvae", {"c_step_every": 10.5}, "c_step_every"),
        ("controlvae", {"c_max": 0.1}, "c_max"),
        ("dynamicvae", {"ki": -0.005}, "ki"),
        ("dynamicvae", {"beta_init": 0}, "beta_init"),
        ("dynamicvae", {"window": 0}, "window"),
        ("dynamicvae", {"c_ramp_steps": 7000}, "c_ramp_steps"),
        ("dynamicvae", {"c_ramp_steps": 0}, "c_ramp_steps"),
        ("sigma_vae", {"min_log_sigma": float("-inf")}, "min_log_sigma"),
    ],
)
def test_invalid_numbers_name_the_field(name: str, params: dict, field: str) -> None:
    with pytest.raises(ValueError, match=rf"objective_params\.{field}\b"):
        get_objective(name, params)


def test_negative_integral_gain_explains_the_sign_convention() -> None:
    with pytest.raises(ValueError, match=r"Ki = -0\.005 is ki = 0\.005"):
        get_objective("dynamicvae", {"ki": -0.005})


@pytest.mark.parametrize(
    ("field", "bad"), [("parameterisation", "cholesky"), ("regulariser", "l1")]
)
def test_lvae_unknown_choice_lists_valid_choices(field: str, bad: str) -> None:
    with pytest.raises(ValueError, match=rf"objective_params\.{field}") as err:
        get_objective("lvae", {field: bad})
    valid = (
        ("log_variance", "softmax")
        if field == "parameterisation"
        else ("log_ratio_sq", "weight_diff_sq")
    )
    for choice in valid:
        assert choice in str(err.value)


def test_unknown_likelihood_rejected_up_front() -> None:
    with pytest.raises(ValueError, match="likelihood"):
        get_objective("vae", likelihood="poisson")


# --- the defining property of beta_eff, for every objective ---------------------------

RATIO_CASES = [
    ("vae", {}),
    ("beta_vae", {"beta": 6.0}),
    ("lvae", {"init_s_recon": 0.7, "init_s_kl": -0.4}),
    ("lvae", {"init_s_recon": 0.7, "init_s_kl": -0.4, "parameterisation": "softmax"}),
    ("lvae", {"init_s_recon": -0.2, "init_s_kl": 0.5, "regulariser": "weight_diff_sq"}),
    (
        "lvae",
        {
            "init_s_recon": 0.3,
            "init_s_kl": 0.1,
            "parameterisation": "softmax",
            "regulariser": "weight_diff_sq",
            "lambda": 2.0,
        },
    ),
    ("controlvae", {"ki": 0.05}),
    ("dynamicvae", {"beta_init": 7.0}),
    ("sigma_vae", {}),
]


# beta_tcvae has no single weight on K: its beta_eff is tested in
# tests/lvae/objectives/test_beta_tcvae.py
@pytest.mark.parametrize(("name", "params"), RATIO_CASES)
def test_gradient_ratio_equals_beta_eff(name: str, params: dict) -> None:
    """d total/dK / d total/dR == beta_eff: the weight the network's gradient puts on K."""
    obj = get_objective(name, params).double()
    kwargs = {"num_pixels": 4096} if name == "sigma_vae" else {}
    # move controllers off their starting beta first
    for step, k in enumerate([25.0, 30.0, 2.0]):
        obj.combine(leaf(300.0), leaf(k), step, **kwargs)
    recon, kl = leaf(300.0), leaf(12.0)
    terms = obj.combine(recon, kl, 3, **kwargs)
    terms.total.backward()
    ratio = kl.grad.item() / recon.grad.item()
    beta = float(terms.beta_eff)
    assert beta == pytest.approx(ratio, rel=1e-9)
    assert math.isfinite(beta) and beta > 0
    if name not in ("vae",):
        assert beta != pytest.approx(1.0, abs=1e-3)
    # logged numbers carry no graph (the trainer reads them back only at log steps)
    for value in [terms.beta_eff, *terms.state.values()]:
        assert isinstance(value, float) or (value.dim() == 0 and not value.requires_grad)
    assert torch.equal(terms.kl, kl)


def test_vae_and_beta_vae_totals() -> None:
    torch.manual_seed(0)
    x = (torch.rand(6, 1, 64, 64) > 0.7).float()
    logits = torch.randn(6, 1, 64, 64)
    kl = torch.tensor(9.0)
    bce = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3)).mean()
    t = get_objective("vae")(record(x, logits, kl))
    torch.testing.assert_close(t.recon, bce)
    torch.testing.assert_close(t.total, bce + 9.0)
    assert t.beta_eff == 1.0 and t.state == {}
    t = get_objective("beta_vae", {"beta": 8})(record(x, logits, kl))
    torch.testing.assert_close(t.total, bce + 72.0)
    assert t.beta_eff == 8.0
    xr = torch.rand(6, 3, 64, 64)
    sse = (torch.sigmoid(logits.repeat(1, 3, 1, 1)) - xr).square().sum((1, 2, 3)).mean()
    t = get_objective("vae", likelihood="gaussian")(record(xr, logits.repeat(1, 3, 1, 1), kl))
    torch.testing.assert_close(t.recon, sse)


@pytest.mark.parametrize("name", ["vae", "beta_vae", "lvae", "controlvae", "dynamicvae"])
def test_forward_is_combine_of_the_records_r_and_k(name: str) -> None:
    """The trainer's call (a ForwardOutput) is ``combine`` of R from the batch and logits and
    K = the per-dimension KL summed, bit for bit."""
    torch.manual_seed(3)
    x = (torch.rand(5, 1, 64, 64) > 0.6).float()
    logits, mu, logvar = torch.randn(5, 1, 64, 64), torch.randn(5, 3), torch.randn(5, 3)
    kl_dims = torch.tensor([0.5, 2.0, 7.25])
    out = ForwardOutput(x=x, logits=logits, mu=mu, logvar=logvar, z=mu, kl_per_dim=kl_dims, step=0)
    via_record, via_combine = get_objective(name)(out), get_objective(name)
    expected = via_combine.combine(via_combine.reconstruction(x, logits), kl_dims.sum(), 0)
    assert torch.equal(via_record.total, expected.total)
    assert torch.equal(via_record.kl, kl_dims.sum())
    assert float(via_record.beta_eff) == float(expected.beta_eff)


# --- a trainer-like step for every objective -------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_one_optimiser_over_network_and_objective(name: str) -> None:
    torch.manual_seed(0)
    model = get_model("conv", 1, 4)
    obj = get_objective(name)
    opt = torch.optim.Adam([*model.parameters(), *obj.parameters()], lr=1e-3)
    x = (torch.rand(8, 1, 64, 64) > 0.8).float()
    before = {k: v.clone() for k, v in obj.state_dict().items()}
    for step in range(2):
        mu, logvar = model.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        terms = obj(forward_output(x, (mu, logvar, z, model.decode(z)), step))
        opt.zero_grad()
        terms.total.backward()
        opt.step()
        assert torch.isfinite(terms.total) and math.isfinite(float(terms.beta_eff))
    after = obj.state_dict()
    changed = any(not torch.equal(before[k], after[k]) for k in before)
    # objectives with parameters or controller state must have moved; the others hold none
    assert changed == (name in ("lvae", "controlvae", "dynamicvae"))
