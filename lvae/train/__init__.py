"""Train a VAE under any objective; log the effective beta as it evolves.

    python -m lvae.train --objective lvae --dataset dsprites_procedural --steps 300 --out runs/a

:func:`train` reads top to bottom: the :class:`Trainer` checks the request and builds
the run (:mod:`lvae.train.run`), resumes from ``checkpoint.pt`` if the output folder has
one, and loops (:mod:`lvae.train.loop`: each step from :mod:`lvae.train.step`, records
from :mod:`lvae.train.records`, TensorBoard, atomic checkpoints); then the end-of-run
metrics (``config.evaluate``: ``metrics.json``) and ``result.json``. The command line is
:mod:`lvae.train_cli` (its help reads the registries).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from lvae.atomic import write_json_atomic
from lvae.config import TrainConfig
from lvae.contract import RESULT_FILE
from lvae.train.loop import Trainer
from lvae.train.records import Hook, NonFiniteLossError, first_non_finite, log_betas
from lvae.train.run import (
    BASELINE_IMAGES,
    Check,
    ConfigMismatchError,
    Run,
    build_optimizer,
    build_run,
    check_request,
    check_same_run,
    checkpoint_state,
    open_dataset,
    recon_baseline,
    restore,
)
from lvae.train.step import (
    NetworkOutputs,
    build_forward,
    forward_output,
    kl_per_dim,
    network_forward,
    train_step,
)

__all__ = [
    "BASELINE_IMAGES", "Check", "ConfigMismatchError", "Hook", "NetworkOutputs",
    "NonFiniteLossError", "Run", "Trainer", "build_forward", "build_optimizer", "build_run",
    "check_request", "check_same_run", "checkpoint_state", "evaluate_at_end",
    "first_non_finite", "forward_output", "kl_per_dim", "log_betas", "network_forward",
    "open_dataset", "recon_baseline", "restore", "train", "train_step",
]


def train(config: TrainConfig, hook: Hook | None = None, check_paths: Check | None = None,
          checkpoint_path: Path | None = None) -> dict[str, Any]:
    """Train (or resume) the run described by ``config``; returns what result.json holds.

    ``check_paths(config)`` (the command line's) runs after the checks that need no data
    and before the dataset is opened. ``checkpoint_path`` (default ``out/checkpoint.pt``)
    is where the run resumes from and checkpoints to."""
    trainer = Trainer(config, hook=hook, check_paths=check_paths, checkpoint_path=checkpoint_path)
    result = trainer.fit()
    if config.evaluate:
        result.update(evaluate_at_end(trainer.out, trainer.run))
    write_json_atomic(trainer.out / RESULT_FILE, result)
    return result


def evaluate_at_end(out: Path, run: Run) -> dict[str, Any]:
    """``config.evaluate``'s metrics of the trained model (written to metrics.json too)."""
    from lvae.evaluate import evaluate_loaded

    cfg, t_eval = run.config, time.perf_counter()
    metrics = evaluate_loaded(
        out, run.model, run.dataset, metrics=cfg.evaluate, num_train=cfg.eval_num_train,
        num_test=cfg.eval_num_test, seed=cfg.eval_seed, representation=cfg.eval_representation,
        step=run.step, **cfg.eval_options,
    )
    return {"metrics": metrics, "eval_time_s": time.perf_counter() - t_eval}
