"""Synthetic experiment folders in the sweep's format, with answers known by construction.

``write_experiment`` lays out EXP/results.csv and EXP/<trial_dir>/run/{config.json,
result.json, metrics.json, tb/, checkpoint.pt} exactly as the contract describes;
``ToyModel``/``fake_load_run``/``fake_evaluate`` stand in for lvae's models so the
model-based analysis runs without training anything.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from torch import nn

from lvae.data.base import GroundTruthDataset

ALL_METRICS = (
    "mig", "dci.disentanglement", "dci.completeness", "dci.informativeness_train",
    "dci.informativeness_test", "sap", "modularity", "modularity.explicitness",
    "factor_vae.train_accuracy", "factor_vae.eval_accuracy", "factor_vae.num_active_dims",
    "beta_vae.train_accuracy", "beta_vae.eval_accuracy",
)


@dataclass
class TrialSpec:
    objective: str
    hps: dict[str, float]
    seed: int
    metrics: dict[str, float] = field(default_factory=dict)  # keys without "metric."
    architecture: str = "conv"
    dataset: str = "toy"
    status: str = "TERMINATED"
    error: str = ""
    beta_final: float = 1.0
    #: (step, beta_eff) written to TensorBoard; None: no tb folder.
    trajectory: list[tuple[int, float]] | None = None
    checkpoint: bool = True
    loss_recon: float = 50.0
    loss_kl: float = 5.0
    #: final KL per latent (results.csv's kl.dim_XX); all below 0.01 nats: collapsed
    kl_dims: tuple[float, ...] = (2.0, 1.5, 0.003, 0.001)
    #: L-VAE only: objective/beta_stationary = beta_eff * this at every logged step (None: not
    #: logged)
    stationary_ratio: float | None = 1.0
    #: metrics along training, {key: [(step, value), ...]} logged as metric/<key> (None: none)
    metric_curves: dict[str, list[tuple[int, float]]] | None = None


#: metric settings written as eval.* (what the sweep records)
EVAL_SETTINGS = {"probe": "hgb", "num_train": 100, "num_test": 50, "num_bins": 20,
                 "representation": "mean", "seed": 0}


def trial_table(rows: list[dict]) -> pd.DataFrame:
    """A trial table as load_experiments returns it (the columns the summaries use)."""
    df = pd.DataFrame(rows)
    for k, v in {"status": "TERMINATED", "dataset": "toy", "architecture": "conv"}.items():
        df[k] = df[k].fillna(v) if k in df.columns else v
    df["trial"] = [f"t{i}" for i in range(len(df))]
    df["run_dir"] = [f"/nonexistent/t{i}/run" for i in range(len(df))]
    for c in ("hp.lambda", "hp.beta"):
        if c not in df.columns:
            df[c] = np.nan
    return df


def linear_trajectory(start: float, end: float, steps: int = 100,
                      every: int = 20) -> list[tuple[int, float]]:
    return [(s, start + (end - start) * s / steps) for s in range(0, steps + 1, every)]


def write_tb(tb_dir: Path, trajectory: Sequence[tuple[int, float]],
             extra: dict[str, float] | None = None,
             stationary_ratio: float | None = None,
             metric_curves: dict[str, list[tuple[int, float]]] | None = None) -> None:
    """Scalars under the contract's tags (what the trainer's SummaryWriter writes)."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tb_dir))
    for step, beta in trajectory:
        writer.add_scalar("beta/effective", beta, step)
        writer.add_scalar("loss/recon", 100.0 - step / 10, step)
        writer.add_scalar("loss/kl", 5.0 + step / 100, step)
        writer.add_scalar("loss/total", 100.0 - step / 10 + beta * (5.0 + step / 100), step)
        writer.add_scalar("kl/dim_00", 0.5, step)
        for key, value in (extra or {}).items():
            writer.add_scalar(f"objective/{key}", value, step)
        if stationary_ratio is not None:
            writer.add_scalar("objective/beta_stationary", beta * stationary_ratio, step)
    for key, curve in (metric_curves or {}).items():
        for step, value in curve:
            writer.add_scalar(f"metric/{key}", value, step)
            writer.add_scalar("perf/track_seconds", 0.5, step)
    writer.close()


def _write_run(run: Path, t: TrialSpec, config: dict, done: bool) -> None:
    """A trial's run folder: config, result and metrics, checkpoint, TensorBoard events."""
    (run / "config.json").write_text(json.dumps(config))
    if done:
        final = {"beta/effective": t.beta_final}
        (run / "result.json").write_text(json.dumps({"config": config, "steps": 100,
                                                     "final": final}))
        (run / "metrics.json").write_text(json.dumps({"seed": 0, "num_train": 100,
                                                      "num_test": 50, "metrics": t.metrics}))
    if t.checkpoint and done:
        torch.save({"config": config, "step": 100, "model": {}}, run / "checkpoint.pt")
    if t.trajectory is not None or t.metric_curves:
        lvae = t.objective == "lvae"
        write_tb(run / "tb", t.trajectory or [], {"w_kl": 1.0} if lvae else None,
                 t.stationary_ratio if lvae else None, t.metric_curves)


def write_experiment(root: Path, name: str, trials: Iterable[TrialSpec], preset: str = "tiny",
                     eval_settings: dict | None = EVAL_SETTINGS) -> Path:
    """An experiment folder in the contract's layout; returns EXP (``eval_settings=None``:
    a results.csv from before the eval.* and kl.dim_* columns)."""
    exp = Path(root) / name
    exp.mkdir(parents=True)
    rows = []
    for i, t in enumerate(trials):
        trial_id = f"{name[:6]}_{i:05d}"
        trial_dir = f"trainable_{trial_id}"
        run = exp / trial_dir / "run"
        run.mkdir(parents=True)
        config = {"dataset": t.dataset, "architecture": t.architecture, "objective": t.objective,
                  "objective_params": {k: v for k, v in t.hps.items() if k in ("lambda", "beta")},
                  "latent_dim": 4, "seed": t.seed, "steps": 100}
        done = t.status == "TERMINATED"
        _write_run(run, t, config, done)
        row = {"trial_id": trial_id, "status": t.status, "error": t.error, "experiment": name,
               "space": name, "preset": preset, "dataset": t.dataset,
               "architecture": t.architecture,
               "objective": t.objective, "seed": t.seed,
               **{f"hp.{k}": v for k, v in t.hps.items()},
               "steps": 100 if done else 40, "loss_total": t.loss_recon + 5 * t.beta_final,
               "loss_recon": t.loss_recon, "loss_kl": t.loss_kl, "beta_eff": t.beta_final,
               **{f"metric.{k}": t.metrics.get(k, math.nan) if done else math.nan
                  for k in ALL_METRICS},
               "node": "127.0.0.1", "wall_time_s": 12.5, "trial_dir": trial_dir}
        if eval_settings is not None:
            row.update({f"eval.{k}": v for k, v in eval_settings.items()})
            row.update({f"kl.dim_{j:02d}": v for j, v in enumerate(t.kl_dims)} if done else {})
        rows.append(row)
    df = pd.DataFrame(rows)
    hp = sorted(c for c in df.columns if c.startswith("hp."))
    extra = sorted(c for c in df.columns if c.startswith(("eval.", "kl.dim_")))
    order = (["trial_id", "status", "error", "experiment", "space", "preset", "dataset",
              "architecture", "objective", "seed"] + hp
             + ["steps", "loss_total", "loss_recon", "loss_kl", "beta_eff"]
             + [f"metric.{k}" for k in ALL_METRICS] + extra + ["node", "wall_time_s", "trial_dir"])
    df[order].to_csv(exp / "results.csv", index=False)
    return exp


def grid(
    cells: Sequence[tuple[str, dict[str, float]]], seeds: Sequence[int],
    metrics: Callable[[str, dict[str, float], int], dict[str, float]], **spec,
) -> list[TrialSpec]:
    return [TrialSpec(obj, dict(hps), s, metrics=metrics(obj, hps, s), **spec)
            for obj, hps in cells for s in seeds]


LAMBDAS = (0.001, 0.01, 0.1, 1.0)
BETAS = (1.0, 2.0, 4.0, 8.0)


def standard_metrics(objective: str, hps: dict[str, float], seed: int) -> dict[str, float]:
    """DCI rises with log lambda / beta plus a small seed effect; every metric present."""
    x = math.log10(hps["lambda"]) + 3 if "lambda" in hps else math.log2(hps.get("beta", 1.0))
    dci = 0.2 + 0.15 * x + 0.01 * seed
    values = {k: 0.5 for k in ALL_METRICS}
    values.update({"dci.disentanglement": dci, "mig": 0.5 * dci + 0.002 * seed,
                   "sap": 0.1 + 0.05 * x, "factor_vae.num_active_dims": 4})
    return values


def standard_trials(seeds: Sequence[int] = (0, 1, 2), trajectories: bool = True,
                    curves: bool = False) -> dict[str, list[TrialSpec]]:
    """An lvae_reg experiment (lambda grid) and a baselines one (beta grid + ControlVAE);
    ``curves``: metrics along training too (MIG and DCI rising to their final values)."""
    def beta_of(obj: str, hps: dict[str, float]) -> float:
        return 1.0 / hps["lambda"] ** 0.2 if obj == "lvae" else hps.get("beta", 3.0)

    out: dict[str, list[TrialSpec]] = {}
    for name, cells in (("lvae_reg", [("lvae", {"lambda": lam}) for lam in LAMBDAS]),
                        ("baselines",
                         [("beta_vae", {"beta": b}) for b in BETAS] + [("controlvae", {})])):
        trials = grid(cells, seeds, standard_metrics)
        for t in trials:
            t.beta_final = beta_of(t.objective, t.hps)
            # the positive controls' effects: KL falls and reconstruction rises with beta
            t.loss_kl = 20.0 / t.beta_final + 0.1 * t.seed
            t.loss_recon = 50.0 + 5.0 * math.log(t.beta_final) + 0.1 * t.seed
            if trajectories:
                start = 1.0 if t.objective != "controlvae" else 50.0
                t.trajectory = linear_trajectory(start, t.beta_final * (1 + 0.01 * t.seed))
            if curves:
                t.metric_curves = {k: [(s, t.metrics[k] * s / 100) for s in (50, 100)]
                                   for k in ("mig", "dci.disentanglement")}
        out[name] = trials
    return out


# ------------------------------------------------------------------ fake models
class ToyDataset(GroundTruthDataset):
    """Two factors drawn as the position of a bright 8x8 square (so codes carry factors)."""

    name = "toy"
    factor_names = ("x", "y")
    factor_sizes = (7, 7)
    observation_shape = (1, 64, 64)

    def observations(self, indices: np.ndarray) -> np.ndarray:
        f = self.factors_of(indices)
        out = np.zeros((len(f), 1, 64, 64), np.float32)
        for i, (x, y) in enumerate(f):
            out[i, 0, 8 * y : 8 * y + 8, 8 * x : 8 * x + 8] = 1.0
        return out


class ToyModel(nn.Module):
    """encode: codes are the square's (x, y) centre plus 2 dead latents, permuted per seed."""

    def __init__(self, seed: int, latent_dim: int = 4):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.perm = torch.randperm(latent_dim, generator=g)
        self.scale = nn.Parameter(torch.ones(latent_dim))
        self.out = nn.Linear(latent_dim, 64 * 64)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grid = torch.arange(64, dtype=x.dtype)
        mass = x.sum(dim=(1, 2, 3)).clamp_min(1e-6)
        cx = (x.sum(dim=(1, 2)) * grid).sum(-1) / mass / 32 - 1
        cy = (x.sum(dim=(1, 3)) * grid).sum(-1) / mass / 32 - 1
        zeros = torch.zeros_like(cx)
        mu = torch.stack([cx, cy, zeros, zeros], dim=1)[:, self.perm] * self.scale
        logvar = torch.stack([zeros - 4, zeros - 4, zeros, zeros], dim=1)[:, self.perm]
        return mu, logvar

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.out(z).view(-1, 1, 64, 64)


def fake_load_run(run_dir: str | Path) -> SimpleNamespace:
    config = json.loads((Path(run_dir) / "config.json").read_text())
    if not (Path(run_dir) / "checkpoint.pt").is_file():
        raise FileNotFoundError(f"{run_dir}: no checkpoint")
    model = ToyModel(int(config["seed"])).eval()
    return SimpleNamespace(model=model, config=SimpleNamespace(**config), dataset=ToyDataset(),
                           step=100)


def fake_evaluate(run_dir: str | Path, **settings) -> dict[str, float]:
    """Scores = the trial's stored DCI/MIG, shifted by num_bins (a rank-preserving change)."""
    stored = json.loads((Path(run_dir) / "metrics.json").read_text())["metrics"]
    shift = 0.001 * settings.get("num_bins", 20)
    return {"mig": stored["mig"] + shift, "dci.disentanglement": stored["dci.disentanglement"]}


def space_table(space: str, preset: str = "local", seeds: Sequence[int] = (0, 1, 2, 3, 4, 5),
                metric: Callable[[str, dict, int], float] | None = None,
                canonical: bool = True) -> pd.DataFrame:
    """A trial table with the cells a sweep space builds, hyperparameters as results.csv holds
    them: every effective parameter (``canonical``) or, as before, only those the space set."""
    from sweeps.presets import get_preset
    from sweeps.provenance import effective_objective_params
    from sweeps.spaces import get_space

    rows = []
    for c in get_space(space).cells(get_preset(preset)):
        params = (effective_objective_params(c["objective"], c["objective_params"]) if canonical
                  else dict(c["objective_params"]))
        for s in seeds:
            value = metric(c["objective"], params, s) if metric else 0.1 * s
            rows.append({"objective": c["objective"], "architecture": c["architecture"], "seed": s,
                         "space": space, "preset": preset, "metric.m": value,
                         **{f"hp.{k}": v for k, v in params.items()}})
    return trial_table(rows)
