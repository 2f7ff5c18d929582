"""The feedback-controller base of ControlVAE and DynamicVAE: beta set each training step
by a controller on the batch KL, and the compressed-time mapping of their schedules."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

from lvae.objectives.base import ForwardOutput, LossTerms, Objective


def kp_curve(error: float) -> float:
    """f(e) = 1 / (1 + exp(e)), computed without overflow for any finite e."""
    if error >= 0:
        t = math.exp(-error)
        return t / (1.0 + t)
    return 1.0 / (1.0 + math.exp(error))


def kp_curve_tensor(error: torch.Tensor) -> torch.Tensor:
    """:func:`kp_curve` on a (float64) tensor, on its device: sigmoid(-e) = 1 / (1 + exp(e))
    without overflow, and without reading the value back to the host."""
    return torch.sigmoid(-error)


class ControlledObjective(Objective):
    """L = R + beta K, beta set each training step by a controller on the batch KL.

    beta is a plain number (no gradient flows through it), so beta_eff = beta. The
    controller moves once per training step: a second call with the same ``step`` (a
    logging pass, say) or any call in eval mode reuses the current beta. Its state lives
    in float64 buffers (the official controllers run in Python floats), so a checkpoint
    resumes the exact sequence. The arithmetic runs as float64 tensor operations on the
    objective's device: a training step never reads the KL back to the host (on a GPU
    that would be a synchronisation per step); only the set point, a function of the
    step number, is computed in Python.
    """

    def __init__(self, params: Mapping[str, Any] | None = None, likelihood: str = "bernoulli"):
        super().__init__(params, likelihood)
        self.register_buffer("last_step", torch.tensor(-1, dtype=torch.long))
        self._scalar("beta", self.initial_beta())
        self._last_step: int | None = None  # host copy of ``last_step`` (read once, then kept)

    def initial_beta(self) -> float:
        """beta before the first update (what eval mode returns on a fresh objective)."""
        raise NotImplementedError

    def _scalar(self, name: str, value: float = 0.0) -> None:
        self.register_buffer(name, torch.tensor(float(value), dtype=torch.float64))

    def _set(self, **values: torch.Tensor | float) -> None:
        """Copy new values into the float64 state buffers (in place: no host round trip)."""
        for name, value in values.items():
            getattr(self, name).copy_(value)

    def update(self, kl: torch.Tensor, step: int) -> torch.Tensor:
        """Advance the controller with this step's batch KL (0-d float64 tensor on the
        objective's device); return the new beta as such a tensor."""
        raise NotImplementedError

    def controller_state(self) -> dict[str, torch.Tensor]:
        """Diagnostics logged as ``objective/<key>`` (beta included): 0-d tensors, copies
        (the buffers move on at the next step), read back by the trainer at log steps."""
        raise NotImplementedError

    def _load_from_state_dict(self, *args: Any, **kwargs: Any) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._last_step = None  # re-read ``last_step`` from the loaded buffer

    def _stepped(self, step: int) -> bool:
        """Whether the controller has already moved at ``step`` (one host read per process)."""
        if self._last_step is None:
            self._last_step = int(self.last_step)
        return step == self._last_step

    def forward(self, out: ForwardOutput) -> LossTerms:
        """The trainer's path: numbers stay 0-d tensors on the device (no host read)."""
        return self.combine_on_device(self.reconstruction(out.x, out.logits), out.kl, out.step)

    def combine_on_device(self, recon: torch.Tensor, kl: torch.Tensor, step: int) -> LossTerms:
        """:meth:`combine` with ``beta_eff`` and ``state`` left as 0-d float64 tensors."""
        if self.training and not self._stepped(step):
            self.beta.copy_(self.update(kl.detach().to(torch.float64), step))
            self.last_step.fill_(step)
            self._last_step = step
        beta = self.beta.clone()
        return LossTerms(
            total=recon + beta.to(kl.dtype) * kl,
            recon=recon,
            kl=kl,
            beta_eff=beta,
            state=self.controller_state(),
        )

    def combine(self, recon: torch.Tensor, kl: torch.Tensor, step: int) -> LossTerms:
        """The same step, with ``beta_eff`` and ``state`` read back as Python floats (one
        host read: for callers outside the training loop, which uses :meth:`forward`)."""
        terms = self.combine_on_device(recon, kl, step)
        terms.beta_eff = float(terms.beta_eff)
        terms.state = {key: float(value) for key, value in terms.state.items()}
        return terms


def official_step(step: int, time_scale: float) -> int:
    """The official run's step that compressed step ``step`` ends at: compressed step t
    stands for official iterations (t s, (t + 1) s] (docs/objectives.md, "Compressed time")."""
    return math.floor((step + 1) * time_scale + 1e-9) - 1
