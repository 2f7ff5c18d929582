"""Train a VAE under any objective; log the effective beta as it evolves.

Read top to bottom: build everything from the config (validating first), resume from
``checkpoint.pt`` if the output folder has one, then loop over random batches (no
epochs), logging to TensorBoard, checkpointing atomically, and finally writing
``result.json`` (and ``metrics.json`` when ``config.evaluate`` names metrics).

    python -m lvae.train --objective lvae --dataset dsprites_procedural --steps 300 --out runs/a

The command line itself is :mod:`lvae.train_cli` (its help reads the registries).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lvae.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from lvae.config import TrainConfig, write_json_atomic
from lvae.contract import (
    BETA_STATIONARY_TAG,
    BETA_TAG,
    CONFIG_FILE,
    KL_DIM_TAG,
    LOG_BETA_STATIONARY_TAG,
    LOG_BETA_TAG,
    LOSS_TAGS,
    METRIC_TAG,
    OBJECTIVE_PREFIX,
    RECON_BASELINE_TAG,
    RESULT_FILE,
    STEPS_PER_S_TAG,
    TB_DIR,
    TOTAL_TAG,
    TRACK_SECONDS_TAG,
)
from lvae.data import GroundTruthDataset, get_dataset
from lvae.data.sampling import BatchSampler, make_sampler
from lvae.device import default_channels_last, resolve_device, set_determinism
from lvae.models import get_model
from lvae.objectives import get_objective
from lvae.objectives.base import ForwardOutput
from lvae.objectives.likelihood import mean_image_nll
from lvae.seeding import stream_seeds
from lvae.visualise import reconstruction_grid, traversal_grid

log = logging.getLogger("lvae.train")

#: what the network's forward returns: (mu, logvar, z, logits), z the decoded sample
NetworkOutputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]

#: A hook receives every logged record: {"step": int, "loss/total": float, ...,
#: "checkpoint": path or None}. The sweep trainable reports through it.
Hook = Callable[[dict[str, Any]], None]


class NonFiniteLossError(RuntimeError):
    """Training produced NaN/inf; the last good checkpoint on disk is left untouched."""


class ConfigMismatchError(ValueError):
    """The output folder holds a checkpoint of a different run."""


@dataclass
class Run:
    """Everything the loop needs, built (and validated) from a config."""

    config: TrainConfig
    dataset: GroundTruthDataset
    model: torch.nn.Module
    objective: torch.nn.Module
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


def build_optimizer(config: TrainConfig, model: torch.nn.Module, objective: torch.nn.Module) -> torch.optim.Adam:
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


def check_request(config: TrainConfig) -> torch.device:
    """Every check that needs no data: numbers, registry names, device, objective
    parameters and metric settings (end of run and along training). Returns the device."""
    config.validate()
    from lvae.models import MODELS
    from lvae.objectives import OBJECTIVES

    if config.architecture not in MODELS:
        raise KeyError(f"unknown architecture {config.architecture!r}; valid: {', '.join(sorted(MODELS))}")
    if config.objective not in OBJECTIVES:
        raise KeyError(f"unknown objective {config.objective!r}; valid: {', '.join(sorted(OBJECTIVES))}")
    device = resolve_device(config.device)
    if config.compile == "reduce-overhead" and device.type != "cuda":
        raise ValueError(
            f"config.compile 'reduce-overhead' captures CUDA graphs and needs a CUDA device, not {device.type!r}"
        )
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    get_objective(config.objective, config.objective_params)  # validates parameters early
    from lvae.metrics.registry import check_metric_names, metric_options

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
        raise ValueError(
            f"config.evaluate asks for {config.evaluate} but dataset {config.dataset!r} has no factors"
        )
    if config.batch_size > len(dataset):
        raise ValueError(
            f"config.batch_size {config.batch_size} is larger than dataset {config.dataset!r} ({len(dataset)} images)"
        )
    return dataset


def build_run(config: TrainConfig) -> Run:
    """Validate the config and build dataset, model, objective and optimiser.

    Cheap checks (numbers, names, objective parameters) come before opening the dataset,
    which may have to generate or index files.
    """
    device = check_request(config)
    dataset = open_dataset(config)
    likelihood = config.likelihood or dataset.likelihood
    seeds = stream_seeds(config.seed)
    set_determinism(config.deterministic)
    torch.manual_seed(seeds["init"])  # model initialisation
    channels_last = default_channels_last(device) if config.channels_last is None else config.channels_last
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = get_model(
        config.architecture, num_channels=dataset.observation_shape[0], latent_dim=config.latent_dim
    ).to(device, memory_format=memory_format)
    objective = get_objective(config.objective, config.objective_params, likelihood=likelihood).to(device)
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


#: images in the mean-image baseline's sample
BASELINE_IMAGES = 1024


def recon_baseline(dataset: GroundTruthDataset, likelihood: str, seed: int) -> float:
    """The mean image's reconstruction NLL over a seeded sample of the dataset (its own
    generator: the training batches are untouched)."""
    rng = np.random.default_rng([seed, 1])
    idx = np.sort(rng.choice(len(dataset), size=min(BASELINE_IMAGES, len(dataset)), replace=False))
    return mean_image_nll(torch.as_tensor(dataset.observations(idx)), likelihood)


def network_forward(model: torch.nn.Module, x: torch.Tensor, eps: torch.Tensor) -> NetworkOutputs:
    """Encode, reparameterise with the given noise, decode: (mu, logvar, z, logits). z is
    returned because objectives that estimate q(z) (beta-TCVAE) need the decoded sample."""
    mu, logvar = model.encode(x)
    z = mu + eps * torch.exp(0.5 * logvar)
    return mu, logvar, z, model.decode(z)


def build_forward(mode: str) -> Callable[..., NetworkOutputs]:
    """:func:`network_forward`, compiled unless ``mode`` is "none". The function is compiled,
    not the modules, so state_dict keys (and checkpoints) stay as in eager runs."""
    if mode == "none":
        return network_forward
    return torch.compile(network_forward, mode=None if mode == "default" else mode)


# ---------------------------------------------------------------- checkpoints
def checkpoint_state(run: Run) -> dict[str, Any]:
    return {
        "config": run.config.to_dict(),
        "step": run.step,
        "model": run.model.state_dict(),
        "objective": run.objective.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        run.sampler.state_key: run.sampler.get_state(),
        "noise": run.noise.get_state(),
    }


def restore(run: Run, state: dict[str, Any]) -> None:
    run.model.load_state_dict(state["model"])
    run.objective.load_state_dict(state["objective"])
    run.optimizer.load_state_dict(state["optimizer"])
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


# ---------------------------------------------------------------------- loop
def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per latent dimension, averaged over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(0)


def forward_output(x: torch.Tensor, outputs: NetworkOutputs, step: int) -> ForwardOutput:
    """The record an objective receives for one batch; the network's outputs in fp32
    (under bf16 autocast the losses are still computed in fp32)."""
    mu, logvar, z, logits = (t.float() for t in outputs)
    return ForwardOutput(
        x=x, logits=logits, mu=mu, logvar=logvar, z=z, kl_per_dim=kl_per_dim(mu, logvar), step=step
    )


def autocast(run: Run) -> contextlib.AbstractContextManager:
    """bf16 autocast of the forward pass when ``precision`` is "bf16" (else nothing)."""
    if run.config.precision == "bf16":
        return torch.autocast(run.device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(run: Run, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """One optimiser step; returns (stacked [total, recon, kl], per-dim KL, LossTerms).

    Nothing here reads a value back to the host: on a GPU the step only queues work."""
    # the noise is drawn before the forward pass (the encoder draws nothing, so the
    # stream is as before) so that the forward pass can be one compiled function
    eps = torch.randn((x.shape[0], run.config.latent_dim), generator=run.noise, device=x.device)
    if run.config.compile == "reduce-overhead":
        torch.compiler.cudagraph_mark_step_begin()
    with autocast(run):
        outputs = (run.forward or network_forward)(run.model, x, eps)
    out = forward_output(x, outputs, run.step)
    terms = run.objective(out)
    run.optimizer.zero_grad(set_to_none=True)
    terms.total.backward()
    run.optimizer.step()
    losses = torch.stack([terms.total.detach(), terms.recon.detach(), terms.kl.detach()])
    return losses, out.kl_per_dim.detach(), terms


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


def _float(value: Any) -> float:
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)


def log_betas(record: dict[str, Any]) -> dict[str, float]:
    """Natural log of the effective beta and (L-VAE) of its stationary value: a runaway
    beta (lambda = 0 reaches 1e9) flattens every other run on the linear beta/effective
    axis, not on this one. A value that is not positive and finite is left out."""
    pairs = ((LOG_BETA_TAG, record.get(BETA_TAG)),
             (LOG_BETA_STATIONARY_TAG, record.get(BETA_STATIONARY_TAG)))
    return {tag: math.log(v) for tag, v in pairs if v is not None and 0 < v < math.inf}


class Trainer:
    """The loop plus its side effects (TensorBoard, checkpoints, hook)."""

    def __init__(self, config: TrainConfig, hook: Hook | None = None):
        self.out = Path(config.out)
        self.hook = hook
        self.run = build_run(config)
        self.out.mkdir(parents=True, exist_ok=True)
        ckpt = self.out / CHECKPOINT_NAME
        #: the record logged with the checkpoint resumed from (what a finished run reports)
        self.resumed_record: dict[str, Any] | None = None
        if ckpt.exists():
            state = load_checkpoint(ckpt, map_location=self.run.device)
            check_same_run(config, state["config"], ckpt)
            restore(self.run, state)
            self.resumed_record = state.get("record")
            log.info("resumed %s at step %d", ckpt, self.run.step)
        write_json_atomic(self.out / CONFIG_FILE, config.to_dict())
        # a fixed display batch, independent of the training stream
        display_rng = np.random.default_rng(stream_seeds(config.seed)["display"])
        self.display = torch.from_numpy(self.run.dataset.random_batch(8, display_rng)).to(self.run.device)

    def _writer(self):
        from torch.utils.tensorboard import SummaryWriter

        # purge_step drops events a crashed run logged after its last checkpoint
        return SummaryWriter(str(self.out / TB_DIR), purge_step=self.run.step or None)

    def fit(self) -> dict[str, Any]:
        run, cfg = self.run, self.run.config
        writer = self._writer()
        t_start, steps_at_start = time.perf_counter(), run.step
        self.track_time = 0.0
        try:
            last = self._loop(writer)
            if not last:  # resumed a finished run: nothing new to log
                last = self._final_from_disk()
            self._log_images(writer)
        finally:
            writer.close()
        wall = time.perf_counter() - t_start
        result = {
            "config": cfg.to_dict(),
            "steps": run.step,
            "final": {k: v for k, v in last.items() if k != "checkpoint"},
            "wall_time_s": wall,
            "steps_per_s": (run.step - steps_at_start) / (wall - self.track_time) if wall > 0 else float("nan"),
            "track_time_s": self.track_time,
        }
        if cfg.evaluate:
            from lvae.evaluate import evaluate_loaded

            t_eval = time.perf_counter()
            result["metrics"] = evaluate_loaded(
                self.out,
                run.model,
                run.dataset,
                metrics=cfg.evaluate,
                num_train=cfg.eval_num_train,
                num_test=cfg.eval_num_test,
                seed=cfg.eval_seed,
                representation=cfg.eval_representation,
                step=run.step,
                **cfg.eval_options,
            )
            result["eval_time_s"] = time.perf_counter() - t_eval
        write_json_atomic(self.out / RESULT_FILE, result)
        return result

    def _loop(self, writer) -> dict[str, Any]:
        """Random batches until ``steps``; log, checkpoint and track metrics on schedule.

        Between log steps nothing is read back to the host (tests/test_train.py counts
        it): losses stay on the device and are read once per window in :meth:`_at_log`."""
        run, cfg = self.run, self.run.config
        window: list[torch.Tensor] = []
        self._window_start, self._t_window, last = run.step, time.perf_counter(), {}
        while run.step < cfg.steps:
            losses, kld, terms = train_step(run, run.sampler.batch(cfg.batch_size))
            run.step += 1
            window.append(losses)
            at_log = run.step % cfg.log_every == 0 or run.step == cfg.steps
            at_ckpt = run.step % cfg.checkpoint_every == 0 or run.step == cfg.steps
            if cfg.eval_every and run.step % cfg.eval_every == 0:
                self._t_window += self._track_metrics(writer)  # not counted as training time
            if at_log or at_ckpt:
                last = self._at_log(writer, window, kld, terms, at_ckpt)
                window = []
        return last

    def _at_log(self, writer, window: list[torch.Tensor], kld: torch.Tensor, terms: Any,
                at_ckpt: bool) -> dict[str, Any]:
        """Read the window's losses back, check them, record, checkpoint and log."""
        run, cfg = self.run, self.run.config
        stacked = torch.stack(window).cpu()
        problem = first_non_finite(stacked, self._window_start + 1)
        if problem:
            raise NonFiniteLossError(
                f"non-finite loss at {problem}; training stopped, the last good checkpoint "
                f"in {self.out} is left intact"
            )
        now = time.perf_counter()
        last = self._record(run, stacked, kld, terms, len(window) / (now - self._t_window))
        self._window_start, self._t_window = run.step, now
        last["checkpoint"] = None
        if at_ckpt:  # with its record: a run stopped after its last checkpoint resumes to it
            record = {k: v for k, v in last.items() if k != "checkpoint"}
            save_checkpoint(self.out / CHECKPOINT_NAME, {**checkpoint_state(run), "record": record})
            last["checkpoint"] = str(self.out / CHECKPOINT_NAME)
        self._log(writer, last)
        if cfg.image_every and run.step % cfg.image_every == 0:
            self._log_images(writer)
        return last

    def _track_metrics(self, writer) -> float:
        """Cheap metrics now, logged as ``metric/<key>``; returns the seconds it took.

        Its own evaluation sample (``eval_seed``), eval mode and no gradient: the training
        streams are not touched, so the losses are the same with or without it."""
        from lvae.evaluate import evaluate_loaded

        cfg, t0 = self.run.config, time.perf_counter()
        values = evaluate_loaded(
            None, self.run.model, self.run.dataset, metrics=cfg.track_metrics,
            num_train=cfg.track_num_train, num_test=cfg.track_num_test, seed=cfg.eval_seed,
            write=False, **{"n_jobs": cfg.threads, **cfg.track_options},
        )
        for key, value in values.items():
            writer.add_scalar(f"{METRIC_TAG}{key}", value, self.run.step)
        elapsed = time.perf_counter() - t0
        writer.add_scalar(TRACK_SECONDS_TAG, elapsed, self.run.step)
        self.track_time += elapsed
        return elapsed

    def _record(self, run: Run, window: torch.Tensor, kld: torch.Tensor, terms: Any, rate: float) -> dict[str, Any]:
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

    def _log(self, writer, record: dict[str, Any]) -> None:
        step = record["step"]
        for key, value in record.items():
            if key not in ("step", "checkpoint"):
                writer.add_scalar(key, value, step)
        if self.hook is not None:
            self.hook(dict(record))

    def _log_images(self, writer) -> None:
        model = self.run.model
        model.eval()
        try:
            writer.add_image("images/reconstructions", reconstruction_grid(model, self.display), self.run.step)
            writer.add_image("images/traversals", traversal_grid(model, self.display), self.run.step)
        finally:
            model.train()
        writer.flush()

    def _final_from_disk(self) -> dict[str, Any]:
        path = self.out / RESULT_FILE
        if path.exists():
            from lvae.cli import read_json  # a truncated file is named, not a bare JSON error

            return read_json(path, "the result of a finished run").get("final", {})
        # stopped between its last checkpoint and result.json (e.g. while computing metrics)
        record = self.resumed_record or {}
        return dict(record) if record.get("step") == self.run.step else {"step": self.run.step}


def train(config: TrainConfig, hook: Hook | None = None) -> dict[str, Any]:
    """Train (or resume) the run described by ``config``; returns what result.json holds."""
    return Trainer(config, hook=hook).fit()
