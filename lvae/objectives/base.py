"""Contract every objective follows, so the trainer treats all of them alike.

An objective is an ``nn.Module``: learnable loss weights are parameters (the trainer
optimises them with the network) and controller state lives in buffers (so it is in
the checkpoint and a resumed run continues exactly).

The trainer calls an objective with one :class:`ForwardOutput` (the batch, the decoder's
logits, the posterior, the sample and the per-dimension KL): an objective that needs more
than R and K reads it from the record, and the trainer's call never changes when one does
(docs/objectives.md, "What an objective receives").

``step`` is the number of optimiser updates completed before this batch (0 for the
first batch of a run); schedules are pure functions of it, so resuming from a
checkpoint at step t reproduces them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from lvae.objectives.likelihood import LIKELIHOODS, reconstruction_nll


@dataclass(frozen=True)
class ForwardOutput:
    """One training batch as the network saw it: everything an objective may read.

    Tensors are the losses' dtype (fp32 under bf16 autocast). ``z`` is the reparameterised
    sample the decoder decoded (``mu + eps * exp(0.5 logvar)``); ``kl_per_dim`` is
    KL(q(z|x) || N(0, I)) per latent dimension, averaged over the batch, shape
    ``(latent_dim,)``; ``step`` as in the module docstring.
    """

    x: torch.Tensor
    logits: torch.Tensor
    mu: torch.Tensor
    logvar: torch.Tensor
    z: torch.Tensor
    kl_per_dim: torch.Tensor
    step: int

    @property
    def kl(self) -> torch.Tensor:
        """K: the KL summed over latent dimensions (batch mean)."""
        return self.kl_per_dim.sum()


@dataclass
class LossTerms:
    """What one step of an objective produces.

    ``total`` is what is back-propagated; ``recon`` (R) and ``kl`` (K) are the plain
    terms (batch means); ``beta_eff`` is the weight the gradient puts on K relative to
    the dataset's reconstruction log-likelihood, comparable across objectives
    (docs/objectives.md); ``state`` is the objective's own diagnostics, logged under
    ``objective/<key>``. Numbers may be 0-d tensors: the trainer reads them back only
    at log steps, so a GPU step needs no host synchronisation for them.
    """

    total: torch.Tensor
    recon: torch.Tensor
    kl: torch.Tensor
    beta_eff: float | torch.Tensor
    state: dict[str, float | torch.Tensor] = field(default_factory=dict)


class Objective(nn.Module):
    """Base class. Subclasses set ``name`` and ``defaults`` and implement ``combine``;
    those that need more of the record than R and K implement ``combine_inputs``."""

    name: ClassVar[str] = ""
    #: parameter name -> default value; the only keys ``params`` may contain.
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, params: Mapping[str, Any] | None = None, likelihood: str = "bernoulli"):
        super().__init__()
        if params is not None and not isinstance(params, Mapping):
            raise ValueError(f"objective_params must be a mapping, got {type(params).__name__}")
        params = dict(params or {})
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            valid = ", ".join(sorted(self.defaults)) or "(none)"
            raise ValueError(
                f"objective_params: unknown parameter(s) {unknown} for objective "
                f"{self.name!r}; valid parameters: {valid}"
            )
        if likelihood not in LIKELIHOODS:
            raise ValueError(
                f"likelihood must be one of {', '.join(LIKELIHOODS)}, got {likelihood!r}"
            )
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.likelihood = likelihood
        self.validate(self.params)

    def validate(self, params: dict[str, Any]) -> None:
        """Raise ValueError naming ``objective_params.<field>`` for invalid values."""

    def reconstruction(self, x: torch.Tensor, decoder_out: torch.Tensor) -> torch.Tensor:
        """R: negative log-likelihood summed over pixels, averaged over the batch."""
        return reconstruction_nll(x, decoder_out, self.likelihood)

    def combine(self, recon: torch.Tensor, kl: torch.Tensor, step: int) -> LossTerms:
        """Turn R and K (scalars) into the loss; d total/dK / d total/dR == beta_eff."""
        raise NotImplementedError

    def combine_inputs(self, out: ForwardOutput) -> dict[str, Any]:
        """Keyword arguments of ``combine`` beyond R, K and step, read from the record (so
        an objective needing more, e.g. sigma-VAE's pixel count, keeps the one entry point)."""
        return {}

    def forward(self, out: ForwardOutput) -> LossTerms:
        """The trainer's call: R from the batch and logits, K = the per-dimension KL summed."""
        recon = self.reconstruction(out.x, out.logits)
        return self.combine(recon, out.kl, out.step, **self.combine_inputs(out))

    def log_state(self) -> dict[str, float]:
        """Diagnostics too costly for every step, computed at log steps only."""
        return {}


# --- parameter validation helpers (shared by the objectives) ---------------------------


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def check_number(
    obj: str, params: Mapping[str, Any], *names: str, low: float | None = None, strict: bool = False
) -> None:
    """Finite number, optionally ``> low`` (strict) or ``>= low``."""
    for n in names:
        v = params[n]
        ok = _is_number(v) and (low is None or (v > low if strict else v >= low))
        if not ok:
            bound = "" if low is None else f" {'>' if strict else '>='} {low:g}"
            raise ValueError(
                f"objective_params.{n} for {obj!r} must be a finite number{bound}, got {v!r}"
            )


def check_positive(obj: str, params: Mapping[str, Any], *names: str) -> None:
    check_number(obj, params, *names, low=0.0, strict=True)


def check_int(obj: str, params: Mapping[str, Any], *names: str, low: int = 1) -> None:
    for n in names:
        v = params[n]
        if not isinstance(v, int) or isinstance(v, bool) or v < low:
            raise ValueError(
                f"objective_params.{n} for {obj!r} must be an integer >= {low}, got {v!r}"
            )


def check_choice(obj: str, params: Mapping[str, Any], name: str, choices: Sequence[str]) -> None:
    v = params[name]
    if v not in choices:
        raise ValueError(
            f"objective_params.{name} for {obj!r} must be one of {', '.join(choices)}, got {v!r}"
        )


# --- feedback-controlled beta (ControlVAE, DynamicVAE) ---------------------------------


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


def check_time_scale(obj: str, params: Mapping[str, Any]) -> None:
    check_number(obj, params, "time_scale", low=1.0)


def check_set_point(obj: str, params: Mapping[str, Any]) -> None:
    """Set-point schedule: c_start, c_step >= 0, c_step_every >= 1, c_max >= c_start."""
    check_number(obj, params, "c_start", "c_step", low=0.0)
    check_int(obj, params, "c_step_every")
    check_number(obj, params, "c_max")
    if params["c_max"] < params["c_start"]:
        raise ValueError(
            f"objective_params.c_max for {obj!r} must be >= objective_params.c_start "
            f"({params['c_start']!r}), got {params['c_max']!r}"
        )


def check_gain(obj: str, params: Mapping[str, Any], name: str, official: str) -> None:
    """Gains are >= 0 in this project's sign convention; say how to convert if not."""
    v = params[name]
    if not _is_number(v) or v < 0:
        raise ValueError(
            f"objective_params.{name} for {obj!r} must be a finite number >= 0, got {v!r} "
            f"(sign convention here: the integral term moves by -{name} * (set_point - KL); "
            f"{official})"
        )
