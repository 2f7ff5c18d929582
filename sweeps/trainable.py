"""lvae's trainer as a Ray Tune function trainable.

The trainer writes its run folder (TensorBoard events, checkpoint, result/metrics JSON)
into ``run/`` under the trial's working directory; Tune syncs that folder into the
trial's folder in the experiment storage (``sync_artifacts=True``), so local and
multi-node runs end up with the same layout. Every trainer checkpoint is also handed
to Tune, which restarts a dead trial from it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray import tune

from lvae.atomic import atomic_path
from lvae.checkpoint import CHECKPOINT_NAME
from lvae.config import TrainConfig
from lvae.contract import (
    FINAL_TAGS,
    KL_DIM_TAG,
    KL_DIM_TUNE_PREFIX,
    METRIC_PREFIX,
    OBJECTIVE_PREFIX,
    OBJECTIVE_TUNE_PREFIX,
    RUN_DIR,
    TUNE_KEYS,
)
from lvae.train import NonFiniteLossError, train

log = logging.getLogger("sweeps.trainable")

#: Errors that would recur on every retry: recorded as the trial's error, not retried.
DETERMINISTIC_ERRORS = (NonFiniteLossError, ValueError, KeyError)


def train_config_from_trial(config: dict[str, Any], run_dir: Path, device: str, threads: int) -> TrainConfig:
    """Merge the sweep's fixed settings with this trial's cell and seed."""
    base = dict(config["train"])
    base.update(
        objective=config["cell"]["objective"],
        objective_params=dict(config["cell"]["objective_params"]),
        architecture=config["cell"]["architecture"],
        seed=int(config.get("seed", config.get("__trial_index__", 0))),
        out=str(run_dir),
        device=device,
        threads=threads,
    )
    # metric probes use the trial's CPUs, not every core of the node
    base["eval_options"] = {**base.get("eval_options", {}), "n_jobs": threads}
    return TrainConfig.from_dict(base, source="sweep trial config")


class DeviceUnavailableError(ValueError):
    """``--device cuda`` on a node without CUDA: fails the trial without retries."""


def pick_device(num_gpus: float, requested: str = "auto") -> str:
    """The torch device of a trial that Ray gave ``num_gpus`` GPUs, for ``--device requested``.

    ``cpu``: always CPU (Ray still schedules by GPU: a fake cluster's logical GPUs).
    ``cuda``: CUDA, or DeviceUnavailableError when the node has none.
    ``auto``: CUDA when the trial has a GPU and CUDA exists; a GPU trial on a node without
    CUDA trains on CPU with a WARNING naming ``--device`` (never silently).
    """
    if requested == "cpu" or (requested == "auto" and num_gpus <= 0):
        return "cpu"
    import torch

    node = os.uname().nodename
    if torch.cuda.is_available():
        return "cuda"
    if requested == "cuda":
        raise DeviceUnavailableError(f"--device cuda: CUDA is not available on node {node}")
    message = (f"WARNING: trial was assigned {num_gpus:g} GPU(s) by Ray but CUDA is not "
               f"available on node {node}; training on CPU (--device auto). Pass --device cpu "
               "to train on CPU on purpose, or --device cuda to fail such trials instead")
    log.warning(message)
    print(message, file=sys.stderr, flush=True)
    return "cpu"


def _restore_from_tune(run_dir: Path) -> int | None:
    """Copy Tune's latest checkpoint into the run folder; returns its step (None if none)."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    with checkpoint.as_directory() as d:
        meta = json.loads((Path(d) / "meta.json").read_text())
        with atomic_path(run_dir / CHECKPOINT_NAME) as tmp:
            shutil.copyfile(Path(d) / CHECKPOINT_NAME, tmp)
    return int(meta["step"])


def _report_record(record: dict[str, Any]) -> dict[str, Any]:
    """Trainer record -> Tune metrics (flat keys without slashes)."""
    out = {"step": record["step"], **{key: record.get(tag) for tag, key in TUNE_KEYS.items()}}
    for key, value in record.items():
        if key.startswith(OBJECTIVE_PREFIX):
            out[OBJECTIVE_TUNE_PREFIX + key[len(OBJECTIVE_PREFIX):]] = value
    return out


def _final_report(result: dict[str, Any], train_wall_time_s: float) -> dict[str, Any]:
    """The trainer's result -> the trial's last Tune report: final losses and beta, the
    end-of-run metrics and the last per-latent KL (collapse and active dims)."""
    final = result["final"]
    out = {
        "step": result["steps"],
        **{TUNE_KEYS[tag]: final.get(tag) for tag in FINAL_TAGS},
        # the whole trainer call: training, checkpoints, reporting and end-of-run metrics
        "train_wall_time_s": train_wall_time_s,
        "eval_time_s": result.get("eval_time_s", 0.0),
        "done_training": True,
    }
    for key, value in result.get("metrics", {}).items():
        out[METRIC_PREFIX + key] = value
    for key, value in final.items():
        if key.startswith(KL_DIM_TAG):
            out[KL_DIM_TUNE_PREFIX + key[len(KL_DIM_TAG):]] = value
    return out


def _report_hook(extra: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """The trainer's hook: every record to Tune (with ``extra``), with its checkpoint if any."""

    def hook(record: dict[str, Any]) -> None:
        metrics = {**_report_record(record), **extra}
        ckpt_path = record.get("checkpoint")
        if not ckpt_path:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="lvae-ckpt-") as d:
            # hard link when possible: the checkpoint is immutable once renamed into place
            try:
                os.link(ckpt_path, Path(d) / CHECKPOINT_NAME)
            except OSError:
                shutil.copyfile(ckpt_path, Path(d) / CHECKPOINT_NAME)
            (Path(d) / "meta.json").write_text(json.dumps({"step": record["step"]}))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    return hook


def lvae_trainable(config: dict[str, Any], device: str = "auto") -> None:
    """Train one cell/seed on ``device`` (``--device``: auto, cpu or cuda, see pick_device);
    report through Tune at every log step, metrics at the end."""
    import ray

    resources = tune.get_context().get_trial_resources().required_resources
    num_gpus = float(resources.get("GPU", 0))
    threads = max(1, int(resources.get("CPU", 1)))
    run_dir = Path.cwd() / RUN_DIR
    node = {"node_ip": ray.util.get_node_ip_address(), "node_id": ray.get_runtime_context().get_node_id()}
    resumed_from = _restore_from_tune(run_dir)
    (run_dir).mkdir(parents=True, exist_ok=True)
    (run_dir / "worker.json").write_text(json.dumps({"pid": os.getpid(), **node}))
    t0 = time.perf_counter()
    try:
        node["device"] = pick_device(num_gpus, device)
        train_cfg = train_config_from_trial(config, run_dir, node["device"], threads)
        result = train(train_cfg, hook=_report_hook({**node, "resumed_from": resumed_from}))
    except DETERMINISTIC_ERRORS as exc:
        # Recorded as the trial's error without burning retries (it would fail the same way).
        log.error("trial failed deterministically: %s", exc)
        tune.report({"trial_error": f"{type(exc).__name__}: {exc}", **node, "done_training": False})
        return
    tune.report({**_final_report(result, time.perf_counter() - t0), "resumed_from": resumed_from, **node})
