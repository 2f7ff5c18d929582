"""L-VAE's learned balance: its loss weights, beta_eff, the stationary point the
trainer's optimiser settles on, and its variants and state."""

from __future__ import annotations

import io
import math

import pytest
import torch

from lvae.config import TrainConfig
from lvae.objectives import get_objective
from lvae.objectives.lvae import stationary_log_beta
from lvae.train import build_optimizer


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
    of the last 50 steps within 0.05) within 300 steps, for R/K from 4 to 190 (the R = 2800,
    K = 15 case stalled at the old Adam betas (0.9, 0.999))."""
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
        expected = math.log(ratio) + math.log((1 - 4 * lam * u) / (1 + 4 * lam * u))
        assert u == pytest.approx(expected, abs=1e-9)
    assert stationary_log_beta(20.0, 1.0, 0.0) == pytest.approx(math.log(20.0))
    # the regulariser holds it below R/K
    assert stationary_log_beta(20.0, 1.0, 0.1) < math.log(20.0)


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
