"""lvae's trainer as a Ray Tune function trainable.

The trainer writes its run folder (TensorBoard events, result/metrics JSON) into ``run/``
under the trial's working directory; Tune syncs that folder into the trial's folder in the
experiment storage (``sync_artifacts=True``), so local and multi-node runs end up with
the same layout.

Each checkpoint is stored once. The trainer checkpoints into a scratch folder next to the
working directory (Tune uploads the working directory whole, so a checkpoint inside it
would be stored twice); a checkpoint during training goes to Tune, which keeps only the
latest (``num_to_keep=1``) and restarts a dead trial from it. The final one goes to
``run/checkpoint.pt``, where the analysis loads it, and Tune's last checkpoint only names
it (``meta.json``: ``weights``): Tune syncs ``run/`` in the same report, so the name never
points at weights that are not stored yet.
"""

from __future__ import annotations

import json
import logging
import os
import posixpath
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


def train_config_from_trial(config: dict[str, Any], run_dir: Path, device: str,
                            threads: int) -> TrainConfig:
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


#: meta.json's key in a final Tune checkpoint: where its weights are, relative to the trial
WEIGHTS_KEY = "weights"
#: the Ray logger that says "Checkpoint successfully created" at every checkpoint
TUNE_STORAGE_LOGGER = "ray.train._internal.storage"


def scratch_dir() -> Path:
    """Where the trainer checkpoints: beside the trial's working directory, not in it, so
    Tune's artifact sync never uploads a checkpoint that Tune's checkpoint holds already."""
    cwd = Path.cwd()
    return cwd.with_name(f".{cwd.name}.checkpoint")


def _link_or_copy(src: str | os.PathLike, dest: Path) -> None:
    """``dest`` as a hard link to ``src`` (a checkpoint never changes once renamed into
    place), or a copy where the file system cannot link."""
    with atomic_path(dest) as tmp:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)


def _fetch_stored(checkpoint: tune.Checkpoint, relative: str, dest: Path) -> None:
    """Download ``relative`` (to the trial's folder in the storage) to ``dest``."""
    import pyarrow.fs

    source = posixpath.join(posixpath.dirname(checkpoint.path), relative)
    pyarrow.fs.copy_files(source, str(dest), source_filesystem=checkpoint.filesystem,
                          destination_filesystem=pyarrow.fs.LocalFileSystem())


def _restore_from_tune(ckpt_path: Path) -> int | None:
    """Put Tune's latest checkpoint where the trainer resumes from; returns its step
    (None if none). A final checkpoint's weights come from the stored run folder."""
    checkpoint = tune.get_checkpoint()
    if checkpoint is None:
        return None
    ckpt_path.parent.mkdir(parents=True, exist_ok=True)
    with checkpoint.as_directory() as d:
        meta = json.loads((Path(d) / "meta.json").read_text())
        with atomic_path(ckpt_path) as tmp:
            if WEIGHTS_KEY in meta:
                _fetch_stored(checkpoint, meta[WEIGHTS_KEY], tmp)
            else:
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


def _report_hook(extra: dict[str, Any], steps: int, run_dir: Path,
                 scratch: Path) -> Callable[[dict[str, Any]], None]:
    """The trainer's hook: every record to Tune (with ``extra``), with its checkpoint if
    any: the weights during training, a pointer to ``run/checkpoint.pt`` at the end."""

    def hook(record: dict[str, Any]) -> None:
        metrics = {**_report_record(record), **extra}
        ckpt_path = record.get("checkpoint")
        if not ckpt_path:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="tune-", dir=scratch) as d:
            meta: dict[str, Any] = {"step": record["step"]}
            if record["step"] >= steps:
                _link_or_copy(ckpt_path, run_dir / CHECKPOINT_NAME)
                meta[WEIGHTS_KEY] = f"{RUN_DIR}/{CHECKPOINT_NAME}"
            else:
                _link_or_copy(ckpt_path, Path(d) / CHECKPOINT_NAME)
            (Path(d) / "meta.json").write_text(json.dumps(meta))
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(d))

    return hook


def lvae_trainable(config: dict[str, Any], device: str = "auto") -> None:
    """Train one cell/seed on ``device`` (``--device``: auto, cpu or cuda, see pick_device);
    report through Tune at every log step, metrics at the end. The node keeps no
    checkpoint once the trial ends: the storage holds it."""
    import ray

    logging.getLogger(TUNE_STORAGE_LOGGER).setLevel(logging.WARNING)
    resources = tune.get_context().get_trial_resources().required_resources
    context = ray.get_runtime_context()
    # gpu_ids: the logical GPUs Ray gave the trial, so trials per GPU can be counted
    node = {"node_ip": ray.util.get_node_ip_address(), "node_id": context.get_node_id(),
            "gpu_ids": ",".join(context.get_accelerator_ids().get("GPU", []))}
    run_dir, scratch = Path.cwd() / RUN_DIR, scratch_dir()
    try:
        _train_trial(config, device, resources, run_dir, scratch, node)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _train_trial(config: dict[str, Any], device: str, resources: dict[str, float],
                 run_dir: Path, scratch: Path, node: dict[str, Any]) -> None:
    num_gpus = float(resources.get("GPU", 0))
    threads = max(1, int(resources.get("CPU", 1)))
    ckpt_path = scratch / CHECKPOINT_NAME
    resumed_from = _restore_from_tune(ckpt_path)
    run_dir.mkdir(parents=True, exist_ok=True)
    scratch.mkdir(parents=True, exist_ok=True)
    (run_dir / "worker.json").write_text(json.dumps({"pid": os.getpid(), **node}))
    t0 = time.perf_counter()
    try:
        node["device"] = pick_device(num_gpus, device)
        train_cfg = train_config_from_trial(config, run_dir, node["device"], threads)
        hook = _report_hook({**node, "resumed_from": resumed_from}, train_cfg.steps, run_dir,
                            scratch)
        result = train(train_cfg, hook=hook, checkpoint_path=ckpt_path)
    except DETERMINISTIC_ERRORS as exc:
        # Recorded as the trial's error without burning retries (it would fail the same way).
        log.error("trial failed deterministically: %s", exc)
        tune.report({"trial_error": f"{type(exc).__name__}: {exc}", **node,
                     "done_training": False})
        return
    # stored with the final checkpoint's report; no later sync uploads it again
    (run_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
    tune.report({**_final_report(result, time.perf_counter() - t0),
                 "resumed_from": resumed_from, **node})
