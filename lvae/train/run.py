"""Everything a run needs, checked and built from its config, and its checkpoint state.

All the checks of a request live here, in the order they cost: :func:`check_request`
(numbers, registry names, device, objective parameters, metric settings; no data), then
the caller's own checks (the command line's paths), then :func:`open_dataset` (which
may have to generate or index files) and what the run asks of the data.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lvae.config import TrainConfig
from lvae.data import GroundTruthDataset, get_dataset
from lvae.data.sampling import BatchSampler, make_sampler
from lvae.device import default_channels_last, resolve_device, set_determinism
from lvae.models import get_model
from lvae.objectives import get_objective
from lvae.objectives.base import Objective
from lvae.objectives.likelihood import mean_image_nll
from lvae.seeding import stream_seeds
from lvae.train.step import NetworkOutputs, build_forward

log = logging.getLogger("lvae.train")

#: a check of the caller's between the data-free checks and opening the dataset
Check = Callable[[TrainConfig], None]
#: images in the mean-image baseline's sample
BASELINE_IMAGES = 1024


class ConfigMismatchError(ValueError):
    """The output folder holds a checkpoint of a different run."""


@dataclass
class Run:
    """Everything the loop needs, built (and validated) from a config."""

    config: TrainConfig
    dataset: GroundTruthDataset
    model: torch.nn.Module
    objective: Objective
    optimizer: torch.optim.Optimizer
    device: torch.device
    #: draws training batches (host numpy stream, or resident on the device)
    sampler: BatchSampler
    noise: torch.Generator
    #: layout of the model's conv weights; batches are moved to it too
    memory_format: torch.memory_format = torch.contiguous_format
    #: the network's forward (encode, reparameterise, decode), compiled or not
    forward: Callable[..., NetworkOutputs] | None = None
    step: int = 0
    #: the mean image's reconstruction NLL on a seeded sample (logged for the collapse rule)
    recon_baseline: float = math.nan


def check_request(config: TrainConfig) -> torch.device:
    """Every check that needs no data: numbers, registry names, device, objective
    parameters and metric settings (end of run and along training). Returns the device."""
    from lvae.metrics.registry import check_metric_names, metric_options
    from lvae.models import MODELS
    from lvae.objectives import OBJECTIVES

    config.validate()
    for field, name, registry in (("architecture", config.architecture, MODELS),
                                  ("objective", config.objective, OBJECTIVES)):
        if name not in registry:
            raise KeyError(f"unknown {field} {name!r}; valid: {', '.join(sorted(registry))}")
    device = resolve_device(config.device)
    if config.compile == "reduce-overhead" and device.type != "cuda":
        raise ValueError("config.compile 'reduce-overhead' captures CUDA graphs and needs a "
                         f"CUDA device, not {device.type!r}")
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    get_objective(config.objective, config.objective_params)  # validates parameters early
    # end-of-run metrics and metrics along training: names and settings checked up front
    for wanted, names, options in (
        (config.evaluate, config.evaluate, config.eval_options),
        (config.eval_every, config.track_metrics, config.track_options),
    ):
        if wanted:
            check_metric_names(names)
            metric_options(names, **options)
    return device


def open_dataset(config: TrainConfig) -> GroundTruthDataset:
    """Open the dataset and check what the run asks of it (factors, enough images)."""
    dataset = get_dataset(config.dataset, config.data_root)
    if not dataset.has_factors and (config.evaluate or config.eval_every):
        raise ValueError(f"config.evaluate asks for {config.evaluate} but dataset "
                         f"{config.dataset!r} has no factors")
    if config.batch_size > len(dataset):
        raise ValueError(f"config.batch_size {config.batch_size} is larger than dataset "
                         f"{config.dataset!r} ({len(dataset)} images)")
    return dataset


def build_optimizer(config: TrainConfig, model: torch.nn.Module,
                    objective: torch.nn.Module) -> torch.optim.Adam:
    """Adam over the network, with the objective's own parameters (L-VAE's loss weights)
    in a group of their own: their gradients shrink by orders of magnitude as they settle,
    so they need a short second-moment memory (``objective_betas``) to keep moving
    (measured: docs/objectives.md, "Optimising the loss weights")."""
    groups = [{"params": list(model.parameters())}]
    if list(objective.parameters()):
        groups.append(
            {
                "params": list(objective.parameters()),
                "lr": config.objective_lr or config.lr,
                "betas": tuple(config.objective_betas),
            }
        )
    return torch.optim.Adam(groups, lr=config.lr)


def build_run(config: TrainConfig, check_paths: Check | None = None) -> Run:
    """Check the request (:func:`check_request`, then ``check_paths``), open the dataset,
    and build model, objective and optimiser from the run's seeded streams."""
    device = check_request(config)
    if check_paths is not None:
        check_paths(config)
    dataset = open_dataset(config)
    likelihood = config.likelihood or dataset.likelihood
    seeds = stream_seeds(config.seed)
    set_determinism(config.deterministic)
    torch.manual_seed(seeds["init"])  # model initialisation
    channels_last = config.channels_last
    if channels_last is None:
        channels_last = default_channels_last(device)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = get_model(
        config.architecture, num_channels=dataset.observation_shape[0], latent_dim=config.latent_dim
    ).to(device, memory_format=memory_format)
    objective = get_objective(config.objective, config.objective_params, likelihood=likelihood)
    objective = objective.to(device)
    optimizer = build_optimizer(config, model, objective)
    noise = torch.Generator(device=device)
    noise.manual_seed(seeds["noise"])
    return Run(
        config=config,
        dataset=dataset,
        model=model,
        objective=objective,
        optimizer=optimizer,
        device=device,
        sampler=make_sampler(dataset, device, seeds["data"], config.data_on_device, memory_format),
        noise=noise,
        memory_format=memory_format,
        forward=build_forward(config.compile),
        recon_baseline=recon_baseline(dataset, likelihood, seeds["data"]),
    )


def recon_baseline(dataset: GroundTruthDataset, likelihood: str, seed: int) -> float:
    """The mean image's reconstruction NLL over a seeded sample of the dataset (its own
    generator: the training batches are untouched)."""
    rng = np.random.default_rng([seed, 1])
    size = min(BASELINE_IMAGES, len(dataset))
    idx = np.sort(rng.choice(len(dataset), size=size, replace=False))
    return mean_image_nll(torch.as_tensor(dataset.observations(idx)), likelihood)


# ---------------------------------------------------------------- checkpoints
def checkpoint_state(run: Run, optimizer: bool = True) -> dict[str, Any]:
    """What a checkpoint holds; without ``optimizer`` (a finished run's, when
    ``final_optimizer_state`` is off) it is a third of the size for ``conv``."""
    state = {
        "config": run.config.to_dict(),
        "step": run.step,
        "model": run.model.state_dict(),
        "objective": run.objective.state_dict(),
        run.sampler.state_key: run.sampler.get_state(),
        "noise": run.noise.get_state(),
    }
    if optimizer:
        state["optimizer"] = run.optimizer.state_dict()
    return state


def restore(run: Run, state: dict[str, Any]) -> None:
    run.model.load_state_dict(state["model"])
    run.objective.load_state_dict(state["objective"])
    if "optimizer" in state:
        run.optimizer.load_state_dict(state["optimizer"])
    elif int(state["step"]) < run.config.steps:  # a finished run trained further
        log.warning("the checkpoint at step %d holds no optimiser state (final_optimizer_state "
                    "was off): Adam's moments restart from zero", int(state["step"]))
    key = run.sampler.state_key
    if key not in state:
        where = {"batch_rng": "the host", "batch_generator": "the device"}
        other = next((where[k] for k in where if k in state), "an unknown sampler")
        raise ConfigMismatchError(
            f"the checkpoint drew its batches on {other}, this run draws them on {where[key]}; "
            f"set data_on_device (--data-on-device / --no-data-on-device) as the run had it"
        )
    run.sampler.set_state(state[key])
    run.noise.set_state(state["noise"].cpu())
    run.step = int(state["step"])


def check_same_run(config: TrainConfig, saved: dict[str, Any], path: Path) -> None:
    """Refuse to resume a checkpoint trained under a different configuration."""
    mine = config.identity()
    theirs = TrainConfig.from_dict(saved, source=str(path)).identity()
    diff = {k: (theirs[k], mine[k]) for k in mine if theirs.get(k) != mine[k]}
    if diff:
        detail = "; ".join(f"{k}: checkpoint {a!r} vs config {b!r}" for k, (a, b) in diff.items())
        raise ConfigMismatchError(
            f"{path} holds a checkpoint of a different run ({detail}); "
            "use another output folder or delete the checkpoint"
        )
