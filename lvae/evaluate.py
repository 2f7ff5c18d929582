"""Score a trained run with the disentanglement metrics.

    python -m lvae.evaluate RUN_DIR --metrics mig,dci --num-train 10000 --num-test 5000 --seed 0

Loads the final checkpoint (weights only), encodes observations in large batches and
writes ``metrics.json`` atomically into RUN_DIR. The array-level metrics (MIG, DCI, SAP,
modularity) share one sampled train/test set, so adding a metric costs no extra encoding.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lvae.atomic import read_json, write_json_atomic
from lvae.checkpoint import CHECKPOINT_NAME, load_checkpoint
from lvae.cli import run_cli
from lvae.config import TrainConfig
from lvae.contract import CONFIG_FILE, METRICS_FILE
from lvae.data import GroundTruthDataset, get_dataset
from lvae.device import resolve_device
from lvae.models import get_model

Encoder = Callable[[np.ndarray], np.ndarray]
#: codes a model is scored on: the posterior means, or one sample of the posterior
REPRESENTATIONS = ("mean", "sampled")


@dataclass
class LoadedRun:
    model: torch.nn.Module
    config: TrainConfig
    dataset: GroundTruthDataset
    step: int


def load_run(
    run_dir: str | Path, device: str = "cpu", data_root: str | None = None,
             open_dataset: bool = True
) -> LoadedRun:
    """Rebuild a run's model from ``config.json`` + ``checkpoint.pt`` (weights only)."""
    run_dir = Path(run_dir)
    config_path, ckpt_path = run_dir / CONFIG_FILE, run_dir / CHECKPOINT_NAME
    if not run_dir.exists():
        raise FileNotFoundError(f"{run_dir} does not exist; expected a folder written by python -m "
                                "lvae.train")
    if not run_dir.is_dir():
        raise NotADirectoryError(f"{run_dir} is a file; expected a folder written by python -m "
                                 "lvae.train")
    if not config_path.exists():
        raise FileNotFoundError(f"{run_dir} is not a training run: {config_path.name} is missing")
    if not ckpt_path.exists():
        raise FileNotFoundError(
            f"{run_dir} has no checkpoint ({CHECKPOINT_NAME}); train it first with python -m "
            f"lvae.train --out {run_dir}"
        )
    config = TrainConfig.from_dict(read_json(config_path, "the run's TrainConfig fields"),
                                   source=str(config_path))
    state = load_checkpoint(ckpt_path, map_location=device)
    saved = TrainConfig.from_dict(state["config"], source=str(ckpt_path))
    if saved.identity() != config.identity():
        diff = sorted(k for k, v in config.identity().items() if saved.identity().get(k) != v)
        raise ValueError(f"{ckpt_path} does not match {config_path} (fields differ: "
                         f"{', '.join(diff)})")
    if data_root is not None:
        config.data_root = data_root
    dataset = get_dataset(config.dataset, config.data_root) if open_dataset else None
    channels = (dataset.observation_shape[0] if dataset is not None
                else _channels_from_state(state["model"]))
    model = get_model(config.architecture, num_channels=channels, latent_dim=config.latent_dim)
    try:
        model.load_state_dict(state["model"])
    except RuntimeError as exc:
        raise ValueError(f"{ckpt_path}: weights do not fit architecture {config.architecture!r}: "
                         f"{exc}") from exc
    model.to(device).eval()
    return LoadedRun(model=model, config=config, dataset=dataset, step=int(state["step"]))


def _channels_from_state(state: dict[str, torch.Tensor]) -> int:
    first = next(v for v in state.values() if v.ndim >= 2)
    return int(first.shape[1]) if first.ndim == 4 else int(first.shape[1] // 4096)


def make_encoder(
    model: torch.nn.Module, representation: str = "mean", seed: int = 0, batch_size: int = 1000
) -> Encoder:
    """observations (N, C, 64, 64) float32 -> codes (N, D): the mean, or a posterior sample."""
    if representation not in REPRESENTATIONS:
        raise ValueError(f"representation must be 'mean' or 'sampled', got {representation!r}")
    device = next(model.parameters()).device
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)

    @torch.no_grad()
    def encode(obs: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(obs), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(obs[i : i + batch_size])).to(device)
            mu, logvar = model.encode(x)
            if representation == "sampled":
                mu = mu + torch.randn(mu.shape, generator=gen,
                                      device=device) * torch.exp(0.5 * logvar)
            out.append(mu.float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 0), np.float32)

    return encode


def evaluate_loaded(
    run_dir: str | Path | None,
    model: torch.nn.Module,
    dataset: GroundTruthDataset,
    metrics: Sequence[str],
    num_train: int = 10_000,
    num_test: int = 5_000,
    seed: int = 0,
    representation: str = "mean",
    step: int | None = None,
    write: bool = True,
    **options: Any,
) -> dict[str, float]:
    """Compute ``metrics`` for an in-memory model; write metrics.json into run_dir if asked.

    ``options`` are representation choices shared by the metrics they concern, such as
    ``num_bins`` (MIG, modularity), ``dci_probe`` and ``n_jobs`` (DCI); see
    :func:`lvae.metrics.registry.metric_options`.
    """
    from lvae.metrics.registry import compute_many, metric_options

    per_metric = metric_options(metrics, **options)
    was_training = model.training
    model.eval()
    try:
        t0 = time.perf_counter()
        encode = make_encoder(model, representation=representation, seed=seed)
        values = compute_many(
            list(metrics), dataset, encode, seed=seed, num_train=num_train, num_test=num_test,
            options=per_metric,
        )
    finally:
        model.train(was_training)
    if write and run_dir is not None:
        write_json_atomic(
            Path(run_dir) / METRICS_FILE,
            {
                "metrics": values,
                "seed": seed,
                "num_train": num_train,
                "num_test": num_test,
                "representation": representation,
                "options": options,
                "step": step,
                "wall_time_s": time.perf_counter() - t0,
            },
        )
    return values


def evaluate_run(
    run_dir: str | Path,
    metrics: Sequence[str] = ("mig", "dci"),
    num_train: int = 10_000,
    num_test: int = 5_000,
    seed: int = 0,
    representation: str = "mean",
    device: str = "cpu",
    write: bool = False,
    data_root: str | None = None,
    **options: Any,
) -> dict[str, float]:
    """Load a run folder and score it (used by the CLI and by the analysis' stability study)."""
    from lvae.metrics.registry import check_metric_names

    check_metric_names(metrics)
    device = str(resolve_device(device))
    loaded = load_run(run_dir, device=device, data_root=data_root)
    return evaluate_loaded(
        run_dir,
        loaded.model,
        loaded.dataset,
        metrics,
        num_train=num_train,
        num_test=num_test,
        seed=seed,
        representation=representation,
        step=loaded.step,
        write=write,
        **options,
    )


def build_parser() -> argparse.ArgumentParser:
    """The CLI; metric names, settings and their defaults come from the metric registry."""
    from lvae.metrics.dci import PROBES
    from lvae.metrics.registry import METRICS, setting_default, setting_targets

    bins_for = "/".join(setting_targets()["num_bins"][0])
    p = argparse.ArgumentParser(prog="python -m "
                                     "lvae.evaluate", description=__doc__.split("\n\n")[0])
    p.add_argument("run_dir", help="folder written by python -m lvae.train")
    p.add_argument("--metrics", default=",".join(METRICS), help=
                   f"comma-separated subset of {','.join(METRICS)}")
    p.add_argument("--num-train", type=int, default=10_000, help=
                   "points for training probes / MIG (default 10000)")
    p.add_argument("--num-test", type=int, default=5_000, help="held-out points (default 5000)")
    p.add_argument("--seed", type=int, default=0, help="seed of every sample drawn (default 0)")
    p.add_argument("--representation", choices=REPRESENTATIONS, default=REPRESENTATIONS[0])
    p.add_argument("--num-bins", type=int, default=setting_default("num_bins"),
                   help=f"bins for {bins_for} (default {setting_default('num_bins')})")
    p.add_argument("--dci-probe", default=setting_default("dci_probe"), choices=sorted(PROBES),
                   help="DCI probe: gbt (disentanglement_lib's GradientBoostingClassifier), hgb "
                        "(faster, reads slightly higher; docs/metrics.md, 'DCI probes') or "
                        "logistic (linear baseline)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--data-root", default=None)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _evaluate_cli(args))


def _evaluate_cli(args: argparse.Namespace) -> int:
    names = [m.strip() for m in args.metrics.split(",") if m.strip()]
    values = evaluate_run(
        args.run_dir, names, num_train=args.num_train, num_test=args.num_test, seed=args.seed,
        representation=args.representation, device=args.device, write=True,
                          data_root=args.data_root,
        num_bins=args.num_bins, dci_probe=args.dci_probe,
    )
    width = max(len(k) for k in values) if values else 10
    print(f"{'metric':{width}s}  value")
    for key, value in values.items():
        print(f"{key:{width}s}  {value:.4f}")
    print(f"wrote {Path(args.run_dir) / METRICS_FILE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
