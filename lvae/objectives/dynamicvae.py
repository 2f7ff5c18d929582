"""DynamicVAE (Shao et al., CVPR 2022): incremental PI control of beta on a smoothed KL.

L = R + beta(t) K, no gradient through beta, beta_eff = beta(t). At training step t
(iteration i = t + 1, as the official code counts from 1), with K(t) this batch's KL::

    Kbar(t) = mean of the last ``window`` batch KLs (K(t) included; before ``window``
              steps have passed the missing ones count as 0, as the code's zero-filled
              deque does)
    e(t)    = C(t) - Kbar(t),  f(e) = 1 / (1 + exp(e))
    dP(t)   = kp (f(e(t)) - f(e(t-1)))
    dI(t)   = -ki e(t),  but 0 if W(t-1) < beta_min           (anti-windup)
    W(t)    = W(t-1) + dP(t) + dI(t)
    beta(t) = max(W(t), beta_min)

starting from W = beta_init = 50 and e = 0 before the first step. Set point: C starts
at c_start and, once every c_step_every iterations, rises by c_step spread evenly over
c_ramp_steps iterations (defaults: iterations k*6000 .. k*6000 + 999 each add 0.15/1000
for k >= 1), capped at c_max. ``c_ramp_steps = None`` (default) means c_step_every / 6
rounded, at least 1 (the official 1000 of 6000), so shortening c_step_every alone, as
short sweeps do, keeps the ramp's proportion.

This follows HuajieShao/DynamicVAE-CVPR2022 ``2D-sprites/I_PID.py`` and
``solver_dynamic.py`` (dSprites run: ``--Ki -0.005 --past_T 5 --C_max 20 --step_val 0.15``,
ramp 1000 over windows of 6000, W_k1 = 50, W_min = 0.1) step for step. Choices the code
makes implicitly, written down:

- Sign: the code stores Ki = -0.005 and adds Ki * e; here ki = 0.005 >= 0 and the
  integral moves by -ki * e, the same convention as ``controlvae``.
- Anti-windup tests the previous *unclipped* W (the code keeps W_k1 unclipped and clips
  only the returned value).
- The set point is a closed form of the step (the code accumulates
  C += step_val / ramp_steps), so a resumed run gets the same C; the KL window, W and
  e(t-1) are buffers.

``time_scale = s >= 1`` runs the controller in compressed time (step t stands for
official iterations (t s, (t + 1) s]): the set point is read at official iteration
floor((t + 1) s), the integral gain is s ki, the KL window spans max(1, round(window / s))
steps, and the incremental P term, a telescoping sum, needs no change
(docs/objectives.md, "Compressed time").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from lvae.objectives.controller import ControlledObjective, kp_curve_tensor, official_step
from lvae.objectives.params import (
    check_gain,
    check_int,
    check_number,
    check_positive,
    check_set_point,
    check_time_scale,
)


def ramp_set_point(
    step: int, c_start: float, c_step: float, every: int, ramp: int, c_max: float
) -> float:
    """C after ``step`` completed updates: iterations i >= every with i % every < ramp
    each add c_step / ramp."""
    i = step + 1
    k = i // every
    increments = 0 if k == 0 else (k - 1) * ramp + min(i - k * every + 1, ramp)
    return min(c_start + c_step * increments / ramp, c_max)


class DynamicVAE(ControlledObjective):
    name = "dynamicvae"
    defaults = {
        "kp": 0.01,
        "ki": 0.005,
        "beta_init": 50.0,
        "beta_min": 0.1,
        "window": 5,
        "c_start": 0.5,
        "c_step": 0.15,
        "c_step_every": 6000,
        "c_ramp_steps": None,
        "c_max": 20.0,
        "time_scale": 1.0,
    }

    def __init__(self, params: Mapping[str, Any] | None = None, likelihood: str = "bernoulli"):
        super().__init__(params, likelihood)
        self._scalar("w_prev", float(self.params["beta_init"]))
        self._scalar("e_prev", 0.0)
        self.register_buffer("kl_history", torch.zeros(self.window - 1, dtype=torch.float64))
        self._scalar("set_point", float(self.params["c_start"]))
        self._scalar("kl_avg", 0.0)
        self._scalar("delta_p", 0.0)
        self._scalar("delta_i", 0.0)

    def validate(self, params: dict[str, Any]) -> None:
        check_number(self.name, params, "kp", low=0.0)
        check_gain(self.name, params, "ki", "the official code's Ki = -0.005 is ki = 0.005")
        check_positive(self.name, params, "beta_init", "beta_min")
        check_int(self.name, params, "window")
        check_set_point(self.name, params)
        check_time_scale(self.name, params)
        if params["c_ramp_steps"] is None:
            return
        check_int(self.name, params, "c_ramp_steps")
        if params["c_ramp_steps"] > params["c_step_every"]:
            raise ValueError(
                f"objective_params.c_ramp_steps for {self.name!r} must be <= "
                f"objective_params.c_step_every ({params['c_step_every']!r}), "
                f"got {params['c_ramp_steps']!r}"
            )

    @property
    def ramp_steps(self) -> int:
        """c_ramp_steps, or the official 1/6 of the step period when it is None."""
        if self.params["c_ramp_steps"] is not None:
            return int(self.params["c_ramp_steps"])
        return max(1, round(self.params["c_step_every"] / 6))

    @property
    def window(self) -> int:
        """KL steps averaged: the official window in compressed steps, at least 1."""
        return max(1, round(self.params["window"] / float(self.params["time_scale"])))

    def initial_beta(self) -> float:
        return max(float(self.params["beta_init"]), float(self.params["beta_min"]))

    def update(self, kl: torch.Tensor, step: int) -> torch.Tensor:
        p = self.params
        beta_min = float(p["beta_min"])
        scale = float(p["time_scale"])
        c = ramp_set_point(
            official_step(step, scale),
            p["c_start"],
            p["c_step"],
            p["c_step_every"],
            self.ramp_steps,
            p["c_max"],
        )
        window = torch.cat([self.kl_history, kl.reshape(1)])  # zero-filled before `window` steps
        kl_avg = window.sum() / self.window
        self.kl_history.copy_(window[1:])
        e = c - kl_avg
        delta_p = p["kp"] * (kp_curve_tensor(e) - kp_curve_tensor(self.e_prev))
        # anti-windup: no integral step while the previous unclipped W is below beta_min
        delta_i = torch.where(self.w_prev >= beta_min, -scale * p["ki"] * e, torch.zeros_like(e))
        w = self.w_prev + delta_p + delta_i
        self._set(set_point=c, kl_avg=kl_avg, delta_p=delta_p, delta_i=delta_i, w_prev=w, e_prev=e)
        return w.clamp_min(beta_min)

    def controller_state(self) -> dict[str, torch.Tensor]:
        names = {"set_point": "set_point", "kl_avg": "kl_avg", "error": "e_prev",
                 "delta_p": "delta_p", "delta_i": "delta_i", "beta": "beta"}
        return {key: getattr(self, name).clone() for key, name in names.items()}
