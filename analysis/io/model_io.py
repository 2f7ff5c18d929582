"""The few places analysis needs trained models, through lvae.evaluate (imported lazily).

Every function takes ``load_run`` (default: ``lvae.evaluate.load_run``) so tests can pass
a small fake; a loaded run has ``.model`` (``encode(x) -> (mu, logvar)``,
``decode(z) -> logits``), ``.config`` and ``.dataset``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

LoadRun = Callable[[str | os.PathLike], Any]


def default_load_run() -> LoadRun:
    from lvae.evaluate import load_run

    return load_run


def has_checkpoint(run_dir: str | os.PathLike) -> bool:
    """Whether the trainer left a checkpoint (the contract's name, without importing lvae)."""
    return (Path(run_dir) / "checkpoint.pt").is_file()


def encode_with_kl(model: Any, obs: np.ndarray,
                   batch_size: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Mean codes (N, D) and mean KL per latent (D,) of float32 observations."""
    import torch

    mus, kls = [], []
    device = next(model.parameters()).device
    with torch.no_grad():
        for i in range(0, len(obs), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(obs[i : i + batch_size])).to(device)
            mu, logvar = model.encode(x)
            mus.append(mu.double().cpu().numpy())
            kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1)
            kls.append(kl.double().sum(0).cpu().numpy())
    codes = np.concatenate(mus)
    return codes, np.sum(kls, axis=0) / len(codes)


def encode_runs(
    run_dirs: Sequence[str | os.PathLike], num_samples: int = 1000, seed: int = 0,
    load_run: LoadRun | None = None,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Codes and KL per latent of the same sampled observations under each run's model.

    The observations come from the first run's dataset; every run must name the same
    dataset (UDR compares representations of identical inputs).
    """
    if not run_dirs:
        raise ValueError("encode_runs needs at least one run folder")
    load_run = load_run or default_load_run()
    obs, dataset_name = None, None
    codes, kls = [], []
    for run_dir in run_dirs:
        loaded = load_run(run_dir)
        name = loaded.config.dataset
        if obs is None:
            dataset_name = name
            _, obs = loaded.dataset.sample(num_samples, np.random.default_rng(seed))
        elif name != dataset_name:
            raise ValueError(
                f"{run_dir}: config.dataset is {name!r} but {run_dirs[0]} used {dataset_name!r}; "
                "UDR needs models of one dataset"
            )
        c, k = encode_with_kl(loaded.model, obs)
        codes.append(c)
        kls.append(k)
    return codes, kls


def traversal_image(
    run_dir: str | os.PathLike, seed: int = 0, steps: int = 8, limit: float = 2.0,
    load_run: LoadRun | None = None,
) -> np.ndarray:
    """(C, H, W) grid in [0, 1]: one row per latent swept over [-limit, limit] around the
    mean code of one sampled image (lvae.visualise.traversal_grid, the trainer's own)."""
    import torch

    from lvae.visualise import traversal_grid

    loaded = (load_run or default_load_run())(run_dir)
    _, obs = loaded.dataset.sample(1, np.random.default_rng(seed))
    device = next(loaded.model.parameters()).device
    x = torch.from_numpy(np.ascontiguousarray(obs)).to(device)
    return traversal_grid(loaded.model, x, steps=steps, limit=limit)
