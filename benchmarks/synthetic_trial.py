"""One synthetic paper-preset trial: its values (seeded) and its folder, for
benchmarks/synthetic_study.py, which documents the study's shape."""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from benchmarks import synthetic_events as se
from lvae import scalar_table
from lvae.contract import CONFIG_FILE, METRICS_FILE, RESULT_FILE, RUN_DIR, TB_DIR
from sweeps.presets import PRESETS
from sweeps.spaces import cell
from sweeps.trainable import train_config_from_trial
from sweeps.tuner import train_settings

PAPER = PRESETS["paper"]
#: the first needs no download: the trials with a checkpoint are on it
DATASETS = ("dsprites_procedural", "dsprites", "shapes3d", "mpi3d_toy", "mpi3d_realistic",
            "mpi3d_real", "falcor3d")
#: objective -> (the hyperparameter varied, its 6 values)
OBJECTIVES = {
    "beta_vae": ("beta", (1.0, 2.0, 4.0, 6.0, 8.0, 16.0)),
    "lvae": ("lambda", (0.001, 0.003, 0.01, 0.03, 0.1, 1.0)),
    "beta_tcvae": ("beta", (1.0, 2.0, 4.0, 6.0, 8.0, 10.0)),
    "controlvae": ("c_max", (5.0, 10.0, 15.0, 18.0, 20.0, 25.0)),
    "dynamicvae": ("c_max", (5.0, 10.0, 15.0, 20.0, 25.0, 30.0)),
    "sigma_vae": ("min_log_sigma", (-6.0, -5.0, -4.0, -3.0, -2.0, -1.0)),
}
#: objective/<key> tags each objective logs, as a 10-step run of lvae.train logged them
OBJECTIVE_KEYS = {
    "beta_vae": (),
    "lvae": ("w_recon", "w_kl", "s_recon", "s_kl", "reg", "recon_smoothed", "kl_smoothed",
             "beta_stationary"),
    "beta_tcvae": ("mi", "tc", "dimwise_kl", "kl_sampled"),
    "controlvae": ("set_point", "error", "p_term", "i_term", "beta"),
    "dynamicvae": ("set_point", "kl_avg", "error", "delta_p", "delta_i", "beta"),
    "sigma_vae": ("sigma", "mse", "beta_sse"),
}
LATENTS = 10
STEPS = np.arange(PAPER.log_every, PAPER.steps + 1, PAPER.log_every)
IMAGE_STEPS = range(PAPER.image_every, PAPER.steps + 1, PAPER.image_every)
START = 1.8e9  # the study's first wall time
WITH_CHECKPOINT = {"lvae", "beta_vae"}  # on DATASETS[0], seeds 0 and 1
METRIC_RANGES = {  # metric key -> (low, high) of its synthetic values
    "mig": (0.0, 0.5), "dci.disentanglement": (0.0, 0.9), "dci.completeness": (0.0, 0.9),
    "dci.informativeness_train": (0.5, 1.0), "dci.informativeness_test": (0.3, 0.95),
    "sap": (0.0, 0.15), "modularity": (0.6, 1.0), "modularity.explicitness": (0.6, 1.0),
    "modularity.explicitness_train": (0.6, 1.0), "factor_vae.train_accuracy": (0.3, 1.0),
    "factor_vae.eval_accuracy": (0.3, 1.0), "beta_vae.train_accuracy": (0.5, 1.0),
    "beta_vae.eval_accuracy": (0.5, 1.0),
}


def tags(objective: str) -> list[str]:
    """Every scalar tag the trainer logs for ``objective``, in its order (lvae.train.records)."""
    betas = ["beta/log_effective"] + (["beta/log_stationary"] if objective == "lvae" else [])
    return (["loss/total", "loss/recon", "loss/kl", "beta/effective"]
            + [f"objective/{k}" for k in OBJECTIVE_KEYS[objective]] + betas
            + [f"kl/dim_{i:02d}" for i in range(LATENTS)]
            + ["perf/steps_per_s", "baseline/recon_mean_image"])


def _rng(*keys: int) -> np.random.Generator:
    return np.random.default_rng([int(k) for k in keys])


def _final_beta(row: dict, rng: np.random.Generator) -> float:
    if row["param"] == "beta":
        return float(row["value"])
    if row["objective"] == "lvae":
        return float(np.exp(rng.normal(np.log(2.0) - 0.25 * np.log10(row["value"]), 0.3)))
    return float(np.exp(rng.normal(np.log(3.0), 0.4)))


def _metrics(row: dict, seed: int, beta: float) -> dict[str, float]:
    """A cell effect, a seed effect shared by the dataset's cells, per-trial noise."""
    cell_rng = _rng(seed, 1, row["cell_index"])
    seed_rng = _rng(seed, 2, DATASETS.index(row["dataset"]), row["seed"])
    trial_rng = _rng(seed, 3, row["index"])
    shared = seed_rng.normal(0.0, 0.5)
    out = {}
    for key, (lo, hi) in METRIC_RANGES.items():
        logit = cell_rng.normal(0.2 * np.log(beta), 0.7) + shared + trial_rng.normal(0.0, 0.3)
        out[key] = lo + (hi - lo) / (1.0 + np.exp(-logit))
    out["factor_vae.num_active_dims"] = int(trial_rng.integers(2, LATENTS + 1))
    out["active_units"] = out["factor_vae.num_active_dims"]
    return out


def _curve(start: float, end: float, rng: np.random.Generator, noise: float = 0.02) -> np.ndarray:
    """A run's values at STEPS: from ``start`` to ``end``, settling, with small noise."""
    t = STEPS / STEPS[-1]
    path = end + (start - end) * np.exp(-t / rng.uniform(0.05, 0.3))
    path = path * (1.0 + rng.normal(0.0, noise, len(t)))
    path[-1] = end
    return path


def _curves(row: dict, seed: int, beta: float, collapsed: bool) -> tuple[np.ndarray, dict]:
    """(n_steps, n_tags) float32 values of every tag, and the final record."""
    rng = _rng(seed, 4, row["index"])
    recon_image = 500.0 + 50.0 * DATASETS.index(row["dataset"])
    kl = (rng.uniform(0.001, 0.009, LATENTS) if collapsed
          else np.where(rng.random(LATENTS) < 0.6, rng.uniform(0.5, 4.0, LATENTS), 0.003))
    recon = recon_image * (0.9 if collapsed else rng.uniform(0.02, 0.15) * (1 + 0.05 * beta))
    finals = {"loss/recon": recon, "loss/kl": kl.sum(), "beta/effective": beta,
              "loss/total": recon + beta * kl.sum(), "beta/log_effective": np.log(beta),
              "beta/log_stationary": np.log(beta) + rng.normal(0.0, 0.05),
              "perf/steps_per_s": rng.normal(120.0, 5.0),
              "baseline/recon_mean_image": recon_image}
    finals.update({f"kl/dim_{i:02d}": kl[i] for i in range(LATENTS)})
    names = tags(row["objective"])
    cols = []
    for tag in names:
        end = finals.get(tag, rng.normal(1.0, 0.5))
        start = (recon_image if tag.startswith("loss/") else end if tag.startswith(
            ("baseline/", "perf/")) else end * rng.uniform(0.2, 5.0))
        cols.append(_curve(start, end, rng, 0.0 if tag.startswith("baseline/") else 0.02))
    values = np.stack(cols, axis=1).astype(np.float32)
    return values, dict(zip(names, values[-1].astype(float), strict=True))


def trial_spec(row: dict, seed: int) -> tuple[dict, np.ndarray]:
    """The trial's Tune config, last result and names (small: results.csv is built from
    them), and its values at every logged step."""
    rng = _rng(seed, 5, row["index"])
    beta = _final_beta(row, rng)
    collapsed = bool(beta > 8 and rng.random() < 0.3)
    values, final = _curves(row, seed, beta, collapsed)
    label = cell(row["objective"], **{row["param"]: float(row["value"])})["label"]
    train = train_settings(SimpleNamespace(dataset=row["dataset"], data_root=None), PAPER)
    config = {"train": train, "seed": int(row["seed"]),
              "cell": {"objective": row["objective"], "architecture": "conv", "label": label,
                       "objective_params": {row["param"]: float(row["value"])}}}
    metrics = _metrics(row, seed, beta)
    tid = hashlib.sha1(f"{seed}".encode()).hexdigest()[:5]
    wall = 300_000 / final["perf/steps_per_s"]
    last = {"step": PAPER.steps, "done_training": True, "device": "cuda",
            "node_ip": "192.0.2.2", "node_id": f"{row['index'] % 16:056x}", "resumed_from": None,
            "time_total_s": wall * 1.02, "train_wall_time_s": wall,
            **{k: final[t] for k, t in (("loss_total", "loss/total"), ("loss_recon", "loss/recon"),
                                         ("loss_kl", "loss/kl"), ("beta_eff", "beta/effective"),
                                         ("recon_mean_image", "baseline/recon_mean_image"))},
            **{f"metric.{k}": v for k, v in metrics.items()},
            **{f"kl_dim_{i:02d}": final[f"kl/dim_{i:02d}"] for i in range(LATENTS)}}
    spec = {"index": int(row["index"]), "trial_id": f"{tid}_{row['index']:05d}",
            "trial_dir": f"{label}_{row['dataset']}_seed={row['seed']}", "config": config,
            "last": last, "metrics": metrics, "objective": row["objective"],
            "checkpoint": (row["dataset"] == DATASETS[0] and row["seed"] < 2
                           and row["objective"] in WITH_CHECKPOINT)}
    return spec, values


def write_trial(exp_dir: Path, spec: dict, values: np.ndarray,
                templates: dict[str, se.Template], checkpoint: Path, history: bool) -> None:
    """The trial folder: Tune's files, the run folder, events, scalar table, checkpoint."""
    trial = exp_dir / spec["trial_dir"]
    run = trial / RUN_DIR
    (run / TB_DIR).mkdir(parents=True)
    config = train_config_from_trial(spec["config"], run, "cuda", 1).to_dict()
    begin = START + spec["index"] * 7.0
    wall = begin + STEPS * (spec["last"]["train_wall_time_s"] / PAPER.steps)
    _write_tune_files(trial, spec, wall, values, history)
    _json(run / CONFIG_FILE, config)
    _json(run / METRICS_FILE, {"metrics": spec["metrics"], "num_test": PAPER.eval_num_test,
                               "num_train": PAPER.eval_num_train, "representation": "mean",
                               "options": config["eval_options"], "seed": 0,
                               "step": PAPER.steps, "wall_time_s": 300.0})
    final = dict(zip(tags(spec["objective"]), values[-1].astype(float).tolist(), strict=True))
    _json(run / RESULT_FILE, {"config": config, "final": final, "steps": PAPER.steps,
                              "metrics": spec["metrics"], "wall_time_s": wall[-1] - begin})
    _json(run / "worker.json", {"pid": 1000 + spec["index"] % 1000, "node_ip": "192.0.2.2",
                                "node_id": spec["last"]["node_id"]})
    objective = spec["objective"]
    if objective not in templates:
        templates[objective] = se.build_template(tags(objective), STEPS.tolist(), START,
                                                 _images())
    events = run / TB_DIR / f"events.out.tfevents.{int(begin)}.synthetic.{spec['index']}.0"
    events.write_bytes(se.fill(templates[objective], wall, values))
    table = pd.DataFrame(values.astype(np.float64), columns=tags(objective))
    table.insert(0, "step", STEPS)
    table.insert(1, "wall_time", wall)
    (run / scalar_table.SCALARS_FILE).write_bytes(scalar_table.table_bytes(table))
    if spec["checkpoint"]:
        _write_checkpoint(trial, run, config, checkpoint)


def _json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, default=float))


def _write_tune_files(trial: Path, spec: dict, wall: np.ndarray, values: np.ndarray,
                      history: bool) -> None:
    """params.json/.pkl, result.json (one line per report) and progress.csv."""
    _json(trial / "params.json", spec["config"])
    (trial / "params.pkl").write_bytes(pickle.dumps(spec["config"]))
    names = tags(spec["objective"])
    rows = range(len(STEPS)) if history else [len(STEPS) - 1]
    reports = [{"step": int(STEPS[i]), **dict(zip(names, values[i].astype(float).tolist(),
                                                  strict=True)),
                "timestamp": int(wall[i]), "training_iteration": i + 1,
                "trial_id": spec["trial_id"]} for i in rows]
    reports[-1].update(spec["last"])
    (trial / "result.json").write_text(
        "".join(json.dumps({**r, "config": spec["config"]}, default=float) + "\n"
                for r in reports))
    pd.DataFrame(reports).to_csv(trial / "progress.csv", index=False)


def _images() -> list[tuple[str, int, bytes, int, int]]:
    """The two image tags at their steps, each a small PNG (the report never reads them)."""
    import io

    from PIL import Image

    grid = (np.indices((48, 96)).sum(0) % 32 * 8).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(grid).convert("RGB").save(buf, format="PNG")
    return [(tag, step, buf.getvalue(), 48, 96) for step in IMAGE_STEPS
            for tag in ("images/reconstructions", "images/traversals")]


def _write_checkpoint(trial: Path, run: Path, config: dict, source: Path) -> None:
    """The source checkpoint's weights under this trial's config and final step."""
    from lvae.checkpoint import load_checkpoint, save_checkpoint

    state = load_checkpoint(source, map_location="cpu")
    save_checkpoint(run / "checkpoint.pt", {**state, "config": config, "step": PAPER.steps})
    (trial / "checkpoint_000000").mkdir()
    _json(trial / "checkpoint_000000" / "meta.json",
          {"step": PAPER.steps, "weights": f"{RUN_DIR}/checkpoint.pt"})


def source_checkpoint(folder: Path) -> Path:
    """A freshly initialised conv model (10 latents, 1 channel) in the checkpoint format."""
    from lvae.checkpoint import save_checkpoint
    from lvae.models import get_model

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "checkpoint.pt"
    model = get_model("conv", num_channels=1, latent_dim=LATENTS)
    save_checkpoint(path, {"config": {}, "step": 0, "model": model.state_dict()})
    return path

