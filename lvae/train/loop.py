"""The training loop: random batches (no epochs) until ``steps``; each step, then on
schedule the metrics along training, the log window, the checkpoint and the images.

Between log steps nothing is read back to the host (tests/lvae/test_train.py counts
it): the window's losses stay on the device until :func:`~lvae.train.records.read_window`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lvae.atomic import write_json_atomic
from lvae.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from lvae.config import TrainConfig
from lvae.contract import CONFIG_FILE, RESULT_FILE, TB_DIR
from lvae.scalar_table import write_scalar_table
from lvae.seeding import stream_seeds
from lvae.train.records import (
    Hook,
    log_images,
    log_record,
    make_record,
    read_window,
    track_metrics,
)
from lvae.train.run import Check, build_run, check_same_run, checkpoint_state, restore
from lvae.train.step import train_step

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

log = logging.getLogger("lvae.train")


class Trainer:
    """The loop plus its side effects (TensorBoard, checkpoints, hook)."""

    def __init__(self, config: TrainConfig, hook: Hook | None = None,
                 check_paths: Check | None = None, checkpoint_path: Path | None = None):
        self.out = Path(config.out)
        self.hook = hook
        self.run = build_run(config, check_paths)
        self.out.mkdir(parents=True, exist_ok=True)
        #: resumed from and saved to; outside ``out`` when a sweep keeps the one stored
        #: copy in Tune's checkpoint (sweeps/trainable.py)
        self.checkpoint_path = Path(checkpoint_path or self.out / CHECKPOINT_NAME)
        ckpt = self.checkpoint_path
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
        display = self.run.dataset.random_batch(8, display_rng)
        self.display = torch.from_numpy(display).to(self.run.device)

    def fit(self) -> dict[str, Any]:
        """Train to ``steps``; returns what result.json holds but the end-of-run metrics
        (:func:`lvae.train.train` adds them and writes the file)."""
        from torch.utils.tensorboard import SummaryWriter

        run = self.run
        # purge_step drops events a crashed run logged after its last checkpoint; the record
        # of the checkpoint's own step is logged just after it and stays
        purge = run.step + 1 if run.step else None
        writer = SummaryWriter(str(self.out / TB_DIR), purge_step=purge)
        t_start, steps_at_start = time.perf_counter(), run.step
        try:
            last, track_time = self.loop(writer)
            if not last:  # resumed a finished run: nothing new to log
                last = self._final_from_disk()
            log_images(writer, run.model, self.display, run.step)
        finally:
            writer.close()
        wall = time.perf_counter() - t_start
        rate = (run.step - steps_at_start) / (wall - track_time) if wall > 0 else float("nan")
        write_scalar_table(self.out)  # what the analysis reads, not the events (lvae.scalar_table)
        return {
            "config": run.config.to_dict(),
            "steps": run.step,
            "final": {k: v for k, v in last.items() if k != "checkpoint"},
            "wall_time_s": wall,
            "steps_per_s": rate,
            "track_time_s": track_time,
        }

    def loop(self, writer: SummaryWriter) -> tuple[dict[str, Any], float]:
        """Random batches until ``steps``. Returns the last record logged and the seconds
        the metrics along training took (kept out of the steps/s)."""
        run, cfg, ckpt = self.run, self.run.config, self.checkpoint_path
        window: list[torch.Tensor] = []
        window_start, t_window, track_time = run.step, time.perf_counter(), 0.0
        last: dict[str, Any] = {}
        while run.step < cfg.steps:
            # the step: queued on the device, nothing read back
            losses, kld, terms = train_step(run, run.sampler.batch(cfg.batch_size))
            run.step += 1
            window.append(losses)
            # metrics along training: not counted as training time
            if cfg.eval_every and run.step % cfg.eval_every == 0:
                elapsed = track_metrics(writer, run)
                t_window, track_time = t_window + elapsed, track_time + elapsed
            at_end = run.step == cfg.steps
            at_ckpt = run.step % cfg.checkpoint_every == 0 or at_end
            if not (at_ckpt or run.step % cfg.log_every == 0):
                continue
            # the log window: read back once, checked, averaged into a record
            stacked = read_window(window, window_start + 1, self.out)
            now = time.perf_counter()
            last = make_record(run, stacked, kld, terms, len(window) / (now - t_window))
            window, window_start, t_window = [], run.step, now
            # the checkpoint, with its record: a run stopped after it resumes to it
            if at_ckpt:
                state = checkpoint_state(run, optimizer=not at_end or cfg.final_optimizer_state)
                save_checkpoint(ckpt, {**state, "record": dict(last)})
            last["checkpoint"] = str(ckpt) if at_ckpt else None
            log_record(writer, last, self.hook)
            # images
            if cfg.image_every and run.step % cfg.image_every == 0:
                log_images(writer, run.model, self.display, run.step)
        return last, track_time

    def _final_from_disk(self) -> dict[str, Any]:
        path = self.out / RESULT_FILE
        if path.exists():
            from lvae.atomic import read_json  # a truncated file is named, not a bare JSON error

            return read_json(path, "the result of a finished run").get("final", {})
        # stopped between its last checkpoint and result.json (e.g. while computing metrics)
        record = self.resumed_record or {}
        return dict(record) if record.get("step") == self.run.step else {"step": self.run.step}
