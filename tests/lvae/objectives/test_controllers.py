"""ControlVAE and DynamicVAE controllers against the official algorithms, step by step.

The references below transcribe the official code's loops literally (a running C that
is incremented inside the loop, a 1-based iteration counter, a zero-filled deque) so
they share nothing with the implementation's closed-form set points and buffers.
"""

from __future__ import annotations

import io
import math
from collections import deque

import pytest
import torch

from lvae.objectives import get_objective
from lvae.objectives.controller import kp_curve
from lvae.objectives.controlvae import step_set_point
from lvae.objectives.dynamicvae import ramp_set_point


def _run(obj, kls: list[float], first_step: int = 0) -> list[float]:
    out = []
    for i, k in enumerate(kls):
        terms = obj.combine(
            torch.tensor(100.0), torch.tensor(k, dtype=torch.float64), first_step + i
        )
        out.append(terms.beta_eff)
    return out


# --- ControlVAE ------------------------------------------------------------------------


def controlvae_reference(kls, kp, ki, beta_min, c_start, c_step, period, c_max):
    """HuajieShao/ControlVAE-ICML2020 Disentangling/P_PID.py + solver loop (Ki as stored
    there, i.e. negative)."""
    ki_code = -ki
    i_k1, w_k1 = 0.0, 1.0 * beta_min
    c = c_start
    global_iter = 0
    betas, held = [], []
    for kl in kls:
        global_iter += 1
        if global_iter % period == 0:
            c += c_step
        if c > c_max:
            c = c_max
        error_k = c - kl
        pk = kp * (1.0 / (1.0 + math.exp(error_k))) + beta_min
        ik = i_k1 + ki_code * error_k
        held.append(w_k1 < beta_min)
        if w_k1 < beta_min:
            ik = i_k1
        wk = pk + ik
        w_k1, i_k1 = wk, ik
        betas.append(max(wk, beta_min))
    return betas, held


CTRL = {
    "kp": 0.5,
    "ki": 0.5,
    "beta_min": 1.0,
    "c_start": 0.5,
    "c_step": 0.15,
    "c_step_every": 3,
    "c_max": 0.9,
}
# KL above C (beta rises), below (W < beta_min: clipped, then the integral is held),
# a jump (P alone lifts W over beta_min, integration resumes), then below again.
CTRL_KLS = [2.0, 0.0, 0.0, 0.0, 0.0, 8.0, 8.0] + [0.0] * 9


def test_controlvae_first_steps_by_hand() -> None:
    obj = get_objective("controlvae")  # kp 0.01, ki 0.001, beta_min 1, C 0.5
    b0, b1 = _run(obj, [3.0, 0.2])
    # step 0: e = 0.5 - 3 = -2.5; P = 0.01/(1+e^-2.5); I = 0.001*2.5
    assert b0 == pytest.approx(0.01 / (1 + math.exp(-2.5)) + 0.0025 + 1.0, rel=1e-12)
    # step 1: e = 0.3; P = 0.01/(1+e^0.3); I = 0.0025 - 0.0003
    assert b1 == pytest.approx(0.01 / (1 + math.exp(0.3)) + 0.0022 + 1.0, rel=1e-12)


def test_controlvae_matches_official_sequence_with_clip_windup_and_set_point_steps() -> None:
    obj = get_objective("controlvae", CTRL)
    expected, held = controlvae_reference(CTRL_KLS, 0.5, 0.5, 1.0, 0.5, 0.15, 3, 0.9)
    kls = CTRL_KLS
    got, i_terms, set_points = [], [], []
    for step, kl in enumerate(kls):
        got.append(
            obj.combine(torch.tensor(50.0), torch.tensor(kl, dtype=torch.float64), step).beta_eff
        )
        i_terms.append(float(obj.i_term))
        set_points.append(float(obj.set_point))
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    # the sequence exercised what it was built to exercise
    assert got.count(1.0) >= 2, got  # clipped at beta_min more than once
    assert max(got[got.index(1.0) :]) > 1.5, got  # and recovered in between
    held_steps = [s for s, h in enumerate(held) if h]
    assert held_steps, "anti-windup never engaged"
    for s in held_steps:
        assert i_terms[s] == i_terms[s - 1]
    # C: 0.5, steps at iterations 3, 6 (steps 2, 5), capped at 0.9 from iteration 9
    assert set_points[:9] == pytest.approx([0.5, 0.5, 0.65, 0.65, 0.65, 0.8, 0.8, 0.8, 0.9])
    assert set_points[9:] == pytest.approx([0.9] * 7)


def test_controlvae_state_and_no_gradient_through_beta() -> None:
    obj = get_objective("controlvae")
    recon = torch.tensor(80.0, requires_grad=True)
    kl = torch.tensor(7.0, requires_grad=True)
    terms = obj.combine(recon, kl, 0)
    terms.total.backward()
    assert kl.grad.item() == pytest.approx(terms.beta_eff) and recon.grad.item() == 1.0
    assert set(terms.state) == {"set_point", "error", "p_term", "i_term", "beta"}
    assert terms.state["beta"] == terms.beta_eff
    assert terms.state["error"] == pytest.approx(0.5 - 7.0)


# --- DynamicVAE ------------------------------------------------------------------------


def dynamicvae_reference(
    kls, kp, ki, beta_init, beta_min, window, c_start, c_step, period, ramp, c_max
):
    """HuajieShao/DynamicVAE-CVPR2022 2D-sprites/I_PID.py + solver_dynamic.py loop."""
    ki_code = -ki
    w_k1, e_k1 = beta_init, 0.0
    c = c_start
    queue = deque([0.0] * (window - 1))
    global_iter = 0
    betas, held = [], []
    for kl in kls:
        global_iter += 1
        if global_iter % period < ramp and global_iter >= period:
            c += c_step / ramp
        if c > c_max:
            c = c_max
        queue.append(kl)
        avg_kl = sum(queue) / len(queue)
        error_k = c - avg_kl
        dp = kp * (1.0 / (1.0 + math.exp(error_k)) - 1.0 / (1.0 + math.exp(e_k1)))
        di = ki_code * error_k
        held.append(w_k1 < beta_min)
        if w_k1 < beta_min:
            di = 0
        wk = dp + di + w_k1
        w_k1, e_k1 = wk, error_k
        betas.append(max(wk, beta_min))
        queue.popleft()
    return betas, held


DYN = {
    "kp": 0.5,
    "ki": 0.5,
    "beta_init": 0.6,
    "beta_min": 0.1,
    "window": 3,
    "c_start": 0.5,
    "c_step": 0.15,
    "c_step_every": 4,
    "c_ramp_steps": 2,
    "c_max": 0.9,
}
# KL below C (W falls under beta_min: clipped, integral held), a jump (the P increment
# lifts W back, integration resumes), then mixed values.
DYN_KLS = [0.0, 0.0, 0.5, 0.0, 0.0, 9.0, 9.0, 9.0, 4.0, 0.0, 0.0, 0.0, 0.5, 1.5, 0.2, 0.8]


def test_dynamicvae_first_steps_by_hand() -> None:
    obj = get_objective("dynamicvae")  # kp 0.01, ki 0.005, beta 50, window 5, C 0.5
    b0, b1 = _run(obj, [20.0, 10.0])
    # step 0: mean of (0, 0, 0, 0, 20) = 4; e = -3.5; f(0) = 0.5
    e0 = 0.5 - 4.0
    assert b0 == pytest.approx(50 + 0.01 * (1 / (1 + math.exp(e0)) - 0.5) - 0.005 * e0, rel=1e-12)
    # step 1: mean of (0, 0, 0, 20, 10) = 6; e = -5.5
    e1 = 0.5 - 6.0
    step1 = 0.01 * (1 / (1 + math.exp(e1)) - 1 / (1 + math.exp(e0))) - 0.005 * e1
    assert b1 == pytest.approx(b0 + step1, rel=1e-12)


def test_dynamicvae_matches_official_sequence_with_clip_windup_and_ramp() -> None:
    expected, held = dynamicvae_reference(DYN_KLS, 0.5, 0.5, 0.6, 0.1, 3, 0.5, 0.15, 4, 2, 0.9)
    obj = get_objective("dynamicvae", DYN)
    got, w, delta_i, set_points = [], [], [], []
    for step, kl in enumerate(DYN_KLS):
        got.append(
            obj.combine(torch.tensor(50.0), torch.tensor(kl, dtype=torch.float64), step).beta_eff
        )
        w.append(float(obj.w_prev))
        delta_i.append(float(obj.delta_i))
        set_points.append(float(obj.set_point))
    assert got == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert got.count(0.1) >= 2, got  # clipped at beta_min
    assert max(got[got.index(0.1) :]) > 1.0, got  # and recovered
    held_steps = [s for s, h in enumerate(held) if h]
    assert held_steps, "anti-windup never engaged"
    for s in held_steps:
        assert delta_i[s] == 0.0 and w[s - 1] < 0.1
    # ramp: +0.075 at iterations 4, 5 (steps 3, 4) and 8, 9 (steps 7, 8); cap 0.9 after
    assert set_points[:10] == pytest.approx(
        [0.5, 0.5, 0.5, 0.575, 0.65, 0.65, 0.65, 0.725, 0.8, 0.8]
    )
    assert set_points[11] == pytest.approx(0.875) and set_points[12:] == pytest.approx([0.9] * 4)


def test_dynamicvae_default_ramp_is_a_sixth_of_the_period() -> None:
    assert get_objective("dynamicvae").ramp_steps == 1000  # official: 1000 of 6000
    assert get_objective("dynamicvae", {"c_step_every": 5}).ramp_steps == 1
    assert get_objective("dynamicvae", {"c_step_every": 60}).ramp_steps == 10
    assert get_objective("dynamicvae", {"c_ramp_steps": 7, "c_step_every": 60}).ramp_steps == 7


def test_dynamicvae_window_averages_last_kls() -> None:
    obj = get_objective("dynamicvae", {"window": 3})
    for step, kl in enumerate([3.0, 6.0, 9.0, 12.0]):
        terms = obj.combine(torch.tensor(1.0), torch.tensor(kl), step)
    assert terms.state["kl_avg"] == pytest.approx((6.0 + 9.0 + 12.0) / 3)
    assert obj.kl_history.tolist() == [9.0, 12.0]
    assert set(terms.state) == {"set_point", "kl_avg", "error", "delta_p", "delta_i", "beta"}


# --- set points over long horizons -----------------------------------------------------


def test_set_point_closed_forms_match_the_running_sums() -> None:
    c_ctrl, c_dyn = 0.5, 0.5
    for it in range(1, 130_001):
        if it % 5000 == 0:
            c_ctrl = min(c_ctrl + 0.15, 18.0)
        if it % 6000 < 1000 and it >= 6000:
            c_dyn = min(c_dyn + 0.15 / 1000, 20.0)
        if it % 997 == 0 or it in (4999, 5000, 5999, 6000, 6999, 7000, 130_000):
            step = it - 1
            assert step_set_point(step, 0.5, 0.15, 5000, 18.0) == pytest.approx(c_ctrl, abs=1e-9)
            assert ramp_set_point(step, 0.5, 0.15, 6000, 1000, 20.0) == pytest.approx(
                c_dyn, abs=1e-9
            )
    assert step_set_point(10**7, 0.5, 0.15, 5000, 18.0) == 18.0
    assert ramp_set_point(10**7, 0.5, 0.15, 6000, 1000, 20.0) == 20.0


# --- resume, repeated steps, eval mode, overflow ---------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "kls"),
    [
        ("controlvae", CTRL, CTRL_KLS),
        ("dynamicvae", DYN, DYN_KLS),
    ],
)
def test_resume_from_state_dict_is_exact(name: str, params: dict, kls: list[float]) -> None:
    straight = _run(get_objective(name, params), kls)
    first = get_objective(name, params)
    half = len(kls) // 2
    head = _run(first, kls[:half])
    buf = io.BytesIO()
    torch.save(first.state_dict(), buf)
    buf.seek(0)
    resumed = get_objective(name, params)
    resumed.load_state_dict(torch.load(buf, weights_only=True))
    tail = _run(resumed, kls[half:], first_step=half)
    assert head + tail == straight  # bit for bit


@pytest.mark.parametrize("name", ["controlvae", "dynamicvae"])
def test_one_update_per_step_and_none_in_eval(name: str) -> None:
    obj = get_objective(name)
    b0 = _run(obj, [5.0])[0]
    again = obj.combine(torch.tensor(1.0), torch.tensor(40.0), 0)  # same step: no update
    assert again.beta_eff == b0
    obj.eval()
    assert obj.combine(torch.tensor(1.0), torch.tensor(40.0), 1).beta_eff == b0
    obj.train()
    assert obj.combine(torch.tensor(1.0), torch.tensor(40.0), 1).beta_eff != b0


def test_fresh_controller_beta_before_any_update() -> None:
    assert (
        get_objective("dynamicvae").eval().combine(torch.tensor(1.0), torch.tensor(1.0), 0).beta_eff
        == 50.0
    )
    assert (
        get_objective("controlvae").eval().combine(torch.tensor(1.0), torch.tensor(1.0), 0).beta_eff
        == 1.0
    )


def test_kp_curve_is_overflow_safe() -> None:
    assert kp_curve(0.0) == 0.5
    assert kp_curve(2000.0) == 0.0 and kp_curve(-2000.0) == 1.0
    assert kp_curve(1.3) == pytest.approx(1 / (1 + math.exp(1.3)), rel=1e-15)
    assert kp_curve(-1.3) == pytest.approx(1 / (1 + math.exp(-1.3)), rel=1e-15)
    obj = get_objective("controlvae")
    assert math.isfinite(_run(obj, [-5000.0, 5000.0])[-1])


# --- compressed time ---------------------------------------------------------------------


def _synthetic_kl(tau: float) -> float:
    """A KL trajectory in normalised time tau in [0, 1]: falls from 20 nats, then a bump."""
    return 2.0 + 18.0 * math.exp(-8.0 * tau) + 3.0 * math.exp(-(((tau - 0.6) / 0.1) ** 2))


@pytest.mark.parametrize(
    ("name", "params", "tolerance"),
    [
        ("controlvae", {"c_step_every": 500, "c_max": 5.0}, 0.05),
        ("dynamicvae", {"c_step_every": 600, "c_max": 5.0, "ki": 0.0005}, 0.05),
    ],
)
def test_compressed_trajectory_follows_the_official_one(name: str, params: dict,
                                                        tolerance: float) -> None:
    """Same KL in normalised time, run 20,000 official steps and 100x compressed (200 steps):
    compressed beta at step t equals official beta at step (t + 1) 100 - 1 within
    ``tolerance`` (relative to the official beta's range), and the set point exactly."""
    official_n, scale = 20_000, 100
    official = get_objective(name, params).double()
    compressed = get_objective(name, {**params, "time_scale": float(scale)}).double()
    full = _run(official, [_synthetic_kl((t + 1) / official_n) for t in range(official_n)])
    short_kls = [_synthetic_kl((t + 1) * scale / official_n) for t in range(official_n // scale)]
    short, set_points = [], []
    for t, k in enumerate(short_kls):
        short.append(compressed.combine(torch.tensor(100.0), torch.tensor(k, dtype=torch.float64),
                                        t).beta_eff)
        set_points.append(compressed.controller_state()["set_point"])
    matched = [full[(t + 1) * scale - 1] for t in range(len(short))]
    spread = max(full) - min(full)
    assert spread > 0.5  # the controller did something worth following
    worst = max(abs(a - b) for a, b in zip(short, matched, strict=True)) / spread
    assert worst <= tolerance, f"compressed beta departs by {worst:.3f} of the range"
    assert set_points[-1] == pytest.approx(official.controller_state()["set_point"])


def test_uncompressed_dynamicvae_at_local_length_stays_a_beta_50_model() -> None:
    """Why compression rescales the gains: 400 official-gain steps barely move beta from 50,
    while the local preset's time scale (750) lets the controller act as over 300k steps."""
    for kl in (0.5, 2.0):
        stuck = _run(get_objective("dynamicvae").double(), [kl] * 400)
        assert stuck[-1] > 40.0
        acting = _run(get_objective("dynamicvae", {"time_scale": 750.0}).double(), [kl] * 400)
        # the set point climbs above this KL, so the integral drives beta down to its floor
        assert acting[-1] == pytest.approx(0.1)


def test_time_scale_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="time_scale"):
        get_objective("controlvae", {"time_scale": 0.5})
