"""Objectives: registry and parameter errors, the defining property of beta_eff for every
objective that has one weight on K, L-VAE's learned balance, sigma-VAE's optimal sigma,
and a trainer-like step (beta-TCVAE's own tests: tests/lvae/objectives/test_beta_tcvae.py)."""

from __future__ import annotations

import io
import math

import pytest
import torch
import torch.nn.functional as F

from lvae.config import TrainConfig
from lvae.models import get_model
from lvae.objectives import OBJECTIVES, ForwardOutput, get_objective
from lvae.objectives.lvae import stationary_log_beta
from lvae.train import build_optimizer, forward_output

ALL = sorted(OBJECTIVES)


def _leaf(value: float) -> torch.Tensor:
    return torch.tensor(value, dtype=torch.float64, requires_grad=True)


def record(x: torch.Tensor, logits: torch.Tensor, kl: torch.Tensor, step: int = 0) -> ForwardOutput:
    """A forward record whose K is ``kl`` (one latent dimension; the objectives tested with
    it read only the batch, the logits and K)."""
    latent = torch.zeros(x.shape[0], 1, dtype=x.dtype)
    return ForwardOutput(x=x, logits=logits, mu=latent, logvar=latent, z=latent,
                         kl_per_dim=kl.reshape(1), step=step)


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


# beta_tcvae has no single weight on K: its beta_eff is tested in tests/lvae/objectives/test_beta_tcvae.py
@pytest.mark.parametrize(("name", "params"), RATIO_CASES)
def test_gradient_ratio_equals_beta_eff(name: str, params: dict) -> None:
    """d total/dK / d total/dR == beta_eff: the weight the network's gradient puts on K."""
    obj = get_objective(name, params).double()
    kwargs = {"num_pixels": 4096} if name == "sigma_vae" else {}
    # move controllers off their starting beta first
    for step, k in enumerate([25.0, 30.0, 2.0]):
        obj.combine(_leaf(300.0), _leaf(k), step, **kwargs)
    recon, kl = _leaf(300.0), _leaf(12.0)
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
    assert torch.equal(via_record.total, expected.total) and torch.equal(via_record.kl, kl_dims.sum())
    assert float(via_record.beta_eff) == float(expected.beta_eff)


# --- L-VAE -----------------------------------------------------------------------------


def _optimise_lvae(
    params: dict, recon: float, kl: float, steps: int, objective_lr: float = 0.1
) -> list[float]:
    """The trainer's own optimiser (``build_optimizer``: its parameter group, betas and
    learning rate) on the loss weights alone, R and K held fixed; beta_eff per step."""
    obj = get_objective("lvae", params).double()
    config = TrainConfig(objective_lr=objective_lr)
    opt = build_optimizer(config, torch.nn.Linear(1, 1).double(), obj)
    betas = []
    r, k = torch.tensor(recon, dtype=torch.float64), torch.tensor(kl, dtype=torch.float64)
    for step in range(steps):
        terms = obj.combine(r, k, step)
        opt.zero_grad()
        terms.total.backward()
        opt.step()
        betas.append(float(terms.beta_eff))
    betas.append(float(obj.combine(r, k, steps).beta_eff))
    return betas


COLD = {"warm_start": False}


def test_lvae_weights_get_gradients_and_move_under_adam() -> None:
    obj = get_objective("lvae")
    assert {n for n, _ in obj.named_parameters()} == {"s_recon", "s_kl"}
    start = [p.detach().clone() for p in obj.parameters()]
    opt = torch.optim.Adam(obj.parameters(), lr=0.01)
    for step in range(5):
        terms = obj.combine(torch.tensor(80.0), torch.tensor(8.0), step)
        opt.zero_grad()
        terms.total.backward()
        assert obj.s_recon.grad is not None and obj.s_recon.grad.abs() > 0
        assert obj.s_kl.grad is not None and obj.s_kl.grad.abs() > 0
        opt.step()
    for p, p0 in zip(obj.parameters(), start, strict=True):
        assert not torch.equal(p.detach(), p0)
    # R > K: the reconstruction weight falls faster, so beta_eff has risen above 1
    assert obj.combine(torch.tensor(80.0), torch.tensor(8.0), 5).beta_eff > 1.0


def test_lvae_beta_eff_is_weight_ratio_from_parameters() -> None:
    obj = get_objective("lvae", {"init_s_recon": 1.2, "init_s_kl": -0.3, **COLD})
    terms = obj.combine(torch.tensor(50.0), torch.tensor(5.0), 0)
    expected = math.exp(0.3) / math.exp(-1.2)  # exp(-s_K) / exp(-s_R)
    assert terms.beta_eff == pytest.approx(expected, rel=1e-6)
    assert terms.state["w_recon"] == pytest.approx(math.exp(-1.2), rel=1e-6)
    assert terms.state["w_kl"] == pytest.approx(math.exp(0.3), rel=1e-6)
    assert terms.state["s_recon"] == pytest.approx(1.2) and terms.state["s_kl"] == pytest.approx(
        -0.3
    )
    assert terms.state["reg"] == pytest.approx(1.5**2, rel=1e-6)
    # L = 0.5 w_R R + 0.5 w_K K + 0.5 (s_R + s_K) + lambda (s_R - s_K)^2, by hand
    hand = 0.5 * math.exp(-1.2) * 50 + 0.5 * math.exp(0.3) * 5 + 0.5 * 0.9 + 0.1 * 1.5**2
    assert terms.total.item() == pytest.approx(hand, rel=1e-6)

    soft = get_objective(
        "lvae",
        {
            "init_s_recon": 1.2,
            "init_s_kl": -0.3,
            "warm_start": False,
            "parameterisation": "softmax",
            "regulariser": "weight_diff_sq",
            "lambda": 0.5,
        },
    )
    terms = soft.combine(torch.tensor(50.0), torch.tensor(5.0), 0)
    z = math.exp(-1.2) + math.exp(0.3)
    w_r, w_k = 2 * math.exp(-1.2) / z, 2 * math.exp(0.3) / z
    assert w_r + w_k == pytest.approx(2.0)
    assert terms.beta_eff == pytest.approx(w_k / w_r, rel=1e-6)
    hand = 0.5 * w_r * 50 + 0.5 * w_k * 5 + 0.5 * (w_r - w_k) ** 2
    assert terms.total.item() == pytest.approx(hand, rel=1e-6)


def test_lvae_without_regulariser_drifts_to_r_over_k() -> None:
    """lambda = 0: the optimal weights are 1/R and 1/K, so beta_eff -> R/K (docs/objectives.md)."""
    betas = _optimise_lvae({"lambda": 0.0, **COLD}, recon=100.0, kl=5.0, steps=300)
    assert betas[0] == pytest.approx(1.0)
    assert betas[50] > betas[10] > betas[0]  # drifts upward
    assert math.log(betas[-1] / 20.0) == pytest.approx(0.0, abs=0.1)


def test_lvae_huge_lambda_pins_beta_eff_near_one() -> None:
    betas = _optimise_lvae({"lambda": 1000.0, **COLD}, recon=100.0, kl=5.0, steps=300)
    # Adam moves s_R and s_K by about lr (0.1) each per step, so u jitters by up to 2 lr
    assert max(abs(math.log(b)) for b in betas) < 0.25
    # settled at the analytic cap |log beta| < 1/(4 lambda), up to the optimiser's jitter
    assert abs(sum(math.log(b) for b in betas[-50:]) / 50) < 1.0 / (4 * 1000.0) + 0.01


@pytest.mark.parametrize("lam", [0.0, 0.1, 1.0])
@pytest.mark.parametrize(("recon", "kl"), [(100.0, 5.0), (2800.0, 15.0), (120.0, 30.0)])
def test_lvae_cold_start_reaches_the_stationary_point(lam: float, recon: float, kl: float) -> None:
    """From beta = 1 the trainer's optimiser settles on the stationary point (mean log error
    of the last 50 steps within 0.05) within 300 steps, for R/K from 4 to 190 (the R = 2800, K = 15 case stalled at the old
    Adam betas (0.9, 0.999))."""
    u = stationary_log_beta(recon, kl, lam)
    betas = _optimise_lvae({"lambda": lam, **COLD}, recon=recon, kl=kl, steps=300)
    errors = [math.log(b) - u for b in betas[-50:]]
    assert abs(sum(errors) / len(errors)) <= 0.05  # settled on the balance ...
    assert max(abs(e) for e in errors) <= 0.2  # ... up to Adam's jitter of about 2 lr
    if lam > 0:
        assert abs(u) < 1 / (4 * lam)  # the regulariser's cap holds


@pytest.mark.parametrize("lam", [0.0, 0.1, 1.0])
def test_lvae_warm_start_begins_at_the_stationary_point(lam: float) -> None:
    betas = _optimise_lvae({"lambda": lam}, recon=700.0, kl=9.0, steps=3)
    u = stationary_log_beta(700.0, 9.0, lam)
    assert math.log(betas[0]) == pytest.approx(u, abs=1e-9)
    assert all(abs(math.log(b) - u) < 0.25 for b in betas)


def test_stationary_point_solves_its_equation() -> None:
    for lam, ratio in [(0.1, 20.0), (1.0, 200.0), (0.01, 0.3), (0.5, 1.0)]:
        u = stationary_log_beta(ratio, 1.0, lam)
        assert u == pytest.approx(math.log(ratio) + math.log((1 - 4 * lam * u) / (1 + 4 * lam * u)), abs=1e-9)
    assert stationary_log_beta(20.0, 1.0, 0.0) == pytest.approx(math.log(20.0))
    assert stationary_log_beta(20.0, 1.0, 0.1) < math.log(20.0)  # the regulariser holds it below R/K


def test_beta_stationary_is_logged_from_smoothed_terms() -> None:
    obj = get_objective("lvae", {"lambda": 0.1})
    assert obj.log_state() == {}  # nothing seen yet
    for step, (r, k) in enumerate([(300.0, 10.0), (200.0, 20.0)]):
        obj.combine(torch.tensor(r), torch.tensor(k), step)
    state = obj.log_state()
    # bias-corrected moving averages: weights (1 - a) a and a over the two steps
    a = 0.02
    w1, w2 = (1 - a) * a, a
    assert state["recon_smoothed"] == pytest.approx((300 * w1 + 200 * w2) / (w1 + w2), rel=1e-9)
    assert state["kl_smoothed"] == pytest.approx((10 * w1 + 20 * w2) / (w1 + w2), rel=1e-9)
    u = stationary_log_beta(state["recon_smoothed"], state["kl_smoothed"], 0.1)
    assert state["beta_stationary"] == pytest.approx(math.exp(u), rel=1e-9)
    soft = get_objective("lvae", {"parameterisation": "softmax"})
    soft.combine(torch.tensor(300.0), torch.tensor(10.0), 0)
    assert "beta_stationary" not in soft.log_state()  # the formula is for the default form


@pytest.mark.parametrize("parameterisation", ["log_variance", "softmax"])
@pytest.mark.parametrize("regulariser", ["log_ratio_sq", "weight_diff_sq"])
def test_lvae_variants_run_and_learn(parameterisation: str, regulariser: str) -> None:
    params = {"parameterisation": parameterisation, "regulariser": regulariser, "lambda": 0.01}
    betas = _optimise_lvae({**params, **COLD}, recon=100.0, kl=5.0, steps=30)
    assert all(math.isfinite(b) for b in betas)
    assert betas[-1] > betas[0]  # R > K pushes weight from R to K in every variant


def test_lvae_state_dict_round_trip() -> None:
    a = get_objective("lvae", {"init_s_recon": 0.25})
    buf = io.BytesIO()
    torch.save(a.state_dict(), buf)
    buf.seek(0)
    b = get_objective("lvae")
    b.load_state_dict(torch.load(buf, weights_only=True))
    assert b.s_recon.item() == pytest.approx(0.25)
    assert set(a.state_dict()) == {"s_recon", "s_kl", "ema"}


# --- sigma-VAE -------------------------------------------------------------------------


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
    kl = _leaf(4.0)
    terms = get_objective("sigma_vae")(record(x, torch.logit(x_hat), kl))
    terms.total.backward()
    sigma2 = float(terms.state["sigma"]) ** 2
    expected = (x_hat.detach() - x) / (sigma2 * n)
    torch.testing.assert_close(x_hat.grad, expected, rtol=1e-7, atol=1e-12)
    # relative to d SSE / d x_hat = 2 (x_hat - x) / N, K's weight is 2 sigma^2
    assert kl.grad.item() / (1 / (2 * sigma2)) == pytest.approx(float(terms.state["beta_sse"]), rel=1e-9)


def test_sigma_combine_requires_pixel_count() -> None:
    with pytest.raises(ValueError, match="num_pixels"):
        get_objective("sigma_vae").combine(torch.tensor(1.0), torch.tensor(1.0), 0)


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
