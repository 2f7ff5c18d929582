"""ControlVAE (Shao et al., ICML 2020): beta from a non-linear PI controller on the batch KL.

L = R + beta(t) K, no gradient through beta, beta_eff = beta(t). At training step t
(iteration i = t + 1, as the official code counts from 1), with K(t) this batch's KL::

    C(t)  = min(c_start + c_step * floor(i / c_step_every), c_max)   set point
    e(t)  = C(t) - K(t)
    P(t)  = kp / (1 + exp(e(t)))
    I(t)  = I(t-1) - ki * e(t),  but I(t) = I(t-1) if W(t-1) < beta_min   (anti-windup)
    W(t)  = P(t) + I(t) + beta_min
    beta(t) = max(W(t), beta_min)

starting from I = 0 and W = beta_min before the first step. This follows the controller the official
Disentangling solvers import (HuajieShao/ControlVAE-ICML2020, ``Disentangling/P_PID.py``
with Kp = 0.01, Ki = -0.001, C = 0.5, period = 5000 in ``solver_light.py``) step for
step, with the paper's sign for the integral gain (the code stores Ki = -0.001 and adds
Ki * e; here ki = 0.001 and the integral moves by -ki * e) and its hard-coded 1 written
as ``beta_min``. Choices documented here because the code makes them implicitly:

- Anti-windup tests the previous *unclipped* output W(t-1) (the code stores W before
  clipping), since the clipped beta is never below beta_min.
- The set point steps at iterations 5000, 10000, ... (``global_iter % period == 0`` after
  the increment), here a closed form of the step so a resumed run gets the same C.
- There is no ``beta_init``: beta(t) is computed from step t's KL before that step's loss,
  so no beta precedes the first update; the starting W = beta_min only matters to the first
  anti-windup test (as in the code).
- C_max = 18 is the dSprites run script's ``--C_max 18`` (the paper also uses 16).

``time_scale = s >= 1`` runs the controller in compressed time, for runs s times shorter
than the official one: step t stands for official iterations (t s, (t + 1) s], so the set
point is read at the official iteration floor((t + 1) s) and the integral gain is s ki
(the P term has no time in it). On a KL sequence given in official time the compressed
beta follows the official one (tests/lvae/objectives/test_controllers.py); docs/objectives.md says
what
compression cannot preserve.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from lvae.objectives.controller import ControlledObjective, kp_curve_tensor, official_step
from lvae.objectives.params import (
    check_gain,
    check_number,
    check_positive,
    check_set_point,
    check_time_scale,
)


def step_set_point(step: int, c_start: float, c_step: float, every: int, c_max: float) -> float:
    """C after ``step`` completed updates: +c_step at iterations every, 2 every, ..."""
    return min(c_start + c_step * ((step + 1) // every), c_max)


class ControlVAE(ControlledObjective):
    name = "controlvae"
    defaults = {
        "kp": 0.01,
        "ki": 0.001,
        "beta_min": 1.0,
        "c_start": 0.5,
        "c_step": 0.15,
        "c_step_every": 5000,
        "c_max": 18.0,
        "time_scale": 1.0,
    }

    def __init__(self, params: Mapping[str, Any] | None = None, likelihood: str = "bernoulli"):
        super().__init__(params, likelihood)
        self._scalar("i_term", 0.0)
        self._scalar("w_prev", float(self.params["beta_min"]))
        self._scalar("p_term", 0.0)
        self._scalar("set_point", float(self.params["c_start"]))
        self._scalar("error", 0.0)

    def validate(self, params: dict[str, Any]) -> None:
        check_number(self.name, params, "kp", low=0.0)
        check_gain(self.name, params, "ki", "the official code's Ki = -0.001 is ki = 0.001")
        check_positive(self.name, params, "beta_min")
        check_set_point(self.name, params)
        check_time_scale(self.name, params)

    def initial_beta(self) -> float:
        return float(self.params["beta_min"])

    def update(self, kl: torch.Tensor, step: int) -> torch.Tensor:
        p = self.params
        beta_min = float(p["beta_min"])
        scale = float(p["time_scale"])
        c = step_set_point(
            official_step(step, scale), p["c_start"], p["c_step"], p["c_step_every"], p["c_max"]
        )
        e = c - kl
        p_term = p["kp"] * kp_curve_tensor(e)
        # anti-windup: integrate only while the previous unclipped output is >= beta_min
        i_term = torch.where(self.w_prev >= beta_min, self.i_term - scale * p["ki"] * e,
                             self.i_term)
        w = p_term + i_term + beta_min
        self._set(set_point=c, error=e, p_term=p_term, i_term=i_term, w_prev=w)
        return w.clamp_min(beta_min)

    def controller_state(self) -> dict[str, torch.Tensor]:
        names = ("set_point", "error", "p_term", "i_term", "beta")
        return {name: getattr(self, name).clone() for name in names}
