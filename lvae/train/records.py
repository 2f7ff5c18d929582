"""What a run logs: the log window's losses read back and checked, the record built from
them (the names are :mod:`lvae.contract`'s), TensorBoard scalars and images, the hook,
and the metrics along training."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from lvae.contract import (
    BETA_STATIONARY_TAG,
    BETA_TAG,
    KL_DIM_TAG,
    LOG_BETA_STATIONARY_TAG,
    LOG_BETA_TAG,
    LOSS_TAGS,
    METRIC_TAG,
    OBJECTIVE_PREFIX,
    RECON_BASELINE_TAG,
    STEPS_PER_S_TAG,
    TOTAL_TAG,
    TRACK_SECONDS_TAG,
)
from lvae.objectives.base import LossTerms
from lvae.visualise import reconstruction_grid, traversal_grid

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

    from lvae.train.run import Run

#: A hook receives every logged record: {"step": int, "loss/total": float, ...,
#: "checkpoint": path or None}. The sweep trainable reports through it.
Hook = Callable[[dict[str, Any]], None]


class NonFiniteLossError(RuntimeError):
    """Training produced NaN/inf; the last good checkpoint on disk is left untouched."""


def first_non_finite(window: torch.Tensor, first_step: int) -> str | None:
    """Describe the first step/term in a (steps, 3) loss window that is NaN/inf."""
    bad = ~torch.isfinite(window)
    if not bool(bad.any()):
        return None
    row, col = (int(i) for i in torch.nonzero(bad)[0])
    # total is non-finite whenever a term is: name the underlying term when there is one
    terms = [LOSS_TAGS[c] for c in range(3) if bad[row, c]]
    named = [t for t in terms if t != TOTAL_TAG] or terms
    return f"step {first_step + row}: {', '.join(named)} is {float(window[row, col])}"


def read_window(window: list[torch.Tensor], first_step: int, out: Path) -> torch.Tensor:
    """The window's stacked losses on the host (the one read-back per window); a NaN/inf
    stops training before anything of the window is logged or checkpointed."""
    stacked = torch.stack(window).cpu()
    problem = first_non_finite(stacked, first_step)
    if problem:
        raise NonFiniteLossError(
            f"non-finite loss at {problem}; training stopped, the last good checkpoint "
            f"in {out} is left intact"
        )
    return stacked


def _float(value: Any) -> float:
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)


def log_betas(record: dict[str, Any]) -> dict[str, float]:
    """Natural log of the effective beta and (L-VAE) of its stationary value: a runaway
    beta (lambda = 0 reaches 1e9) flattens every other run on the linear beta/effective
    axis, not on this one. A value that is not positive and finite is left out."""
    pairs = ((LOG_BETA_TAG, record.get(BETA_TAG)),
             (LOG_BETA_STATIONARY_TAG, record.get(BETA_STATIONARY_TAG)))
    return {tag: math.log(v) for tag, v in pairs if v is not None and 0 < v < math.inf}


def make_record(run: Run, window: torch.Tensor, kld: torch.Tensor, terms: LossTerms,
                rate: float) -> dict[str, Any]:
    """The window's mean losses, the last step's beta, objective state and per-dim KL."""
    means = window.double().mean(0).tolist()
    record: dict[str, Any] = {"step": run.step, **dict(zip(LOSS_TAGS, means, strict=True))}
    record[BETA_TAG] = _float(terms.beta_eff)
    for key, value in {**terms.state, **run.objective.log_state()}.items():
        record[f"{OBJECTIVE_PREFIX}{key}"] = _float(value)
    record.update(log_betas(record))
    for i, v in enumerate(kld.cpu().tolist()):
        record[f"{KL_DIM_TAG}{i:02d}"] = v
    record[STEPS_PER_S_TAG] = rate
    record[RECON_BASELINE_TAG] = run.recon_baseline
    return record


def log_record(writer: SummaryWriter, record: dict[str, Any], hook: Hook | None) -> None:
    """Every number of the record under its own tag, then the record to the hook."""
    step = record["step"]
    for key, value in record.items():
        if key not in ("step", "checkpoint"):
            writer.add_scalar(key, value, step)
    if hook is not None:
        hook(dict(record))


def log_images(writer: SummaryWriter, model: torch.nn.Module, display: torch.Tensor,
               step: int) -> None:
    """Reconstructions and latent traversals of the fixed display batch."""
    model.eval()
    try:
        writer.add_image("images/reconstructions", reconstruction_grid(model, display), step)
        writer.add_image("images/traversals", traversal_grid(model, display), step)
    finally:
        model.train()
    writer.flush()


def track_metrics(writer: SummaryWriter, run: Run) -> float:
    """Cheap metrics now, logged as ``metric/<key>``; returns the seconds it took.

    Its own evaluation sample (``eval_seed``), eval mode and no gradient: the training
    streams are not touched, so the losses are the same with or without it."""
    from lvae.evaluate import evaluate_loaded

    cfg, t0 = run.config, time.perf_counter()
    values = evaluate_loaded(
        None, run.model, run.dataset, metrics=cfg.track_metrics,
        num_train=cfg.track_num_train, num_test=cfg.track_num_test, seed=cfg.eval_seed,
        write=False, **{"n_jobs": cfg.threads, **cfg.track_options},
    )
    for key, value in values.items():
        writer.add_scalar(f"{METRIC_TAG}{key}", value, run.step)
    elapsed = time.perf_counter() - t0
    writer.add_scalar(TRACK_SECONDS_TAG, elapsed, run.step)
    return elapsed
