"""The metrics' floor and ceiling scored by the sweep as Ray tasks (sweeps/floor.py): the
numbers the report would compute itself, cached where the report reads them, and a group
that cannot be scored named without voiding the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from helpers.analysis_fixtures import TrialSpec, write_experiment
from helpers.paths import REPO

from analysis.studies.reference import INIT_SEEDS, cache_path, read_cache


def test_the_sweep_scores_the_floor_that_the_report_uses(smoke_experiment):
    from lvae.metrics.reference import floor_scores

    exp, proc = smoke_experiment
    assert "floor:       1 of 1 group(s) cached" in proc.stdout, proc.stdout[-2000:]
    cache = read_cache(exp)
    assert set(cache["n_init_seeds"]) == {len(INIT_SEEDS)}
    results = pd.read_csv(exp / "results.csv")
    assert set(cache["family"]) == set(results["eval.metrics"].iloc[0].split(","))
    # seed 0's untrained encoder scored here gives what the Ray task cached
    row = cache.iloc[0]
    settings = {**json.loads(row["settings"]), "metrics": [row["family"]]}
    here = floor_scores(row["dataset"], row["architecture"], int(row["latent_dim"]), settings,
                        [0], n_jobs=1)[0]
    for _, r in cache[cache["family"] == row["family"]].iterrows():
        assert json.loads(r["floor_values"])[0] == pytest.approx(here[r["metric"]], abs=1e-9)
    # and the report's floor table is the cache's
    table = pd.read_csv(exp / "report" / "floor_and_ceiling.csv").set_index("metric")
    for _, r in cache.iterrows():
        assert table.loc[r["metric"], "floor_mean"] == pytest.approx(r["floor_mean"])


SCRIPT = """
import argparse, sys
from pathlib import Path
import ray
ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
from sweeps.floor import compute_reference
args = argparse.Namespace(cpus_per_trial=1, gpus_per_trial=0.0, data_root=None, device="cpu")
errors = compute_reference(Path(sys.argv[2]), args)
print("errors:", sorted(g.dataset for g in errors))
"""


def test_a_dataset_the_cluster_lacks_fails_only_its_group(cluster, tmp_path):
    evals = {"metrics": "mig", "probe": "hgb", "num_train": 100, "num_test": 50, "num_bins": 20,
             "representation": "mean", "seed": 0}
    trials = [TrialSpec("beta_vae", {"beta": 4.0, "latent_dim": 4}, seed, dataset=dataset,
                        metrics={"mig": 0.1})
              for dataset in ("dsprites_procedural", "nosuch") for seed in (0, 1)]
    exp = write_experiment(tmp_path, "exp", trials, eval_settings=evals)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, cluster.address, str(exp)], env=env,
                          capture_output=True, text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "1 of 2 group(s) cached" in proc.stdout and "errors: ['nosuch']" in proc.stdout
    assert "FAILED nosuch/conv/4 latents:" in proc.stdout and "Traceback" not in proc.stdout
    cached = read_cache(exp)
    assert set(cached["dataset"]) == {"dsprites_procedural"} and cache_path(exp).exists()
