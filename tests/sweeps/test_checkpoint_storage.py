"""Each checkpoint is stored once (issue "cluster", A): Tune keeps a trial's latest
checkpoint only, the final weights live in ``run/checkpoint.pt`` where the analysis loads
them, and a restart after the final checkpoint takes them from the storage."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from helpers.storage_helpers import checkpoint_files, folder_bytes, trial_dirs
from helpers.sweep_helpers import run_sweep, smoke_args

from analysis.io.model_io import default_load_run, has_checkpoint
from lvae.checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from sweeps.presets import get_preset

#: what a trial stores besides its weights at the smoke preset: TensorBoard events
#: (losses, images), Tune's logs, JSON files (measured ~0.2 MB)
SMOKE_EXTRA_BYTES = 1_000_000
#: a smoke trial's folder before checkpoints were stored once (issue "cluster")
TRIAL_BYTES_BEFORE = 18_600_000


@pytest.fixture(scope="module")
def stored_sweep(cluster, tmp_path_factory):
    """A smoke sweep of the seeds space (two trials, three checkpoints each)."""
    storage = tmp_path_factory.mktemp("once")
    args = smoke_args(storage, "once", cluster, "--seeds", "1")
    args[1] = "seeds"
    proc = run_sweep(args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return storage / "once"


def test_each_trial_stores_its_final_weights_once(stored_sweep):
    trials = trial_dirs(stored_sweep)
    assert len(trials) == 2
    for trial in trials:
        assert checkpoint_files(trial) == [trial / "run" / CHECKPOINT_NAME]
        tune_checkpoints = sorted(trial.glob("checkpoint_*"))
        assert len(tune_checkpoints) == 1, tune_checkpoints  # Tune keeps the latest only
        meta = json.loads((tune_checkpoints[0] / "meta.json").read_text())
        assert meta == {"step": get_preset("smoke").steps, "weights": f"run/{CHECKPOINT_NAME}"}
        weights = (trial / "run" / CHECKPOINT_NAME).stat().st_size
        assert folder_bytes(trial) <= weights + SMOKE_EXTRA_BYTES
        # the final weights without Adam's moments: at most half of the 18.6 MB a smoke
        # trial stored before (two copies of a checkpoint with them; docs/cluster.md)
        assert "optimizer" not in load_checkpoint(trial / "run" / CHECKPOINT_NAME)
        assert folder_bytes(trial) <= TRIAL_BYTES_BEFORE / 2


def test_the_analysis_loads_the_final_weights(stored_sweep):
    load_run = default_load_run()
    for trial in trial_dirs(stored_sweep):
        assert has_checkpoint(trial / "run")
        assert load_run(trial / "run").step == get_preset("smoke").steps


def test_nodes_keep_no_checkpoint_after_a_trial(stored_sweep):
    leftover = list(Path(os.environ["RAY_TMPDIR"]).glob("**/once/working_dirs/**/*.pt"))
    assert leftover == []


def test_a_final_checkpoint_restores_from_the_stored_run_folder(tmp_path, monkeypatch):
    """A trial killed after its final checkpoint (while computing its metrics) restarts
    from the weights its run folder stored, wherever it restarts."""
    from ray import tune

    from sweeps import trainable

    trial = tmp_path / "trial"
    (trial / "run").mkdir(parents=True)
    save_checkpoint(trial / "run" / CHECKPOINT_NAME, {"config": {}, "step": 60, "model": {}})
    marker = trial / "checkpoint_000002"
    marker.mkdir()
    (marker / "meta.json").write_text(json.dumps({"step": 60, "weights": "run/checkpoint.pt"}))
    monkeypatch.setattr(tune, "get_checkpoint", lambda: tune.Checkpoint.from_directory(marker))
    scratch = tmp_path / "node" / CHECKPOINT_NAME
    assert trainable._restore_from_tune(scratch) == 60
    assert scratch.read_bytes() == (trial / "run" / CHECKPOINT_NAME).read_bytes()


def test_the_storage_estimate_matches_what_a_trial_stores(stored_sweep):
    """sweeps/footprint.py's per-trial bytes, which the preflight check uses, within 10%."""
    from sweeps.footprint import trial_bytes
    from sweeps.tuner import LATENT_DIM

    estimate = trial_bytes(get_preset("smoke"), "conv", 1, LATENT_DIM)
    for trial in trial_dirs(stored_sweep):
        assert abs(folder_bytes(trial) - estimate) <= 0.1 * folder_bytes(trial), (
            folder_bytes(trial), estimate)
