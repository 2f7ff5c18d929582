"""Analysis on a real ``smoke`` sweep, copied away from where it ran (as off a cluster):
loading with TensorBoard's reader, the report CLI, and both notebooks in a real kernel."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import nbformat
import numpy as np
import pandas as pd
import pytest
from helpers.paths import REPO
from nbclient import NotebookClient

from analysis import load_beta_trajectories, load_experiments
from analysis.report.make_notebooks import NOTEBOOK_DIR, NOTEBOOKS
from sweeps.presets import get_preset

#: the module shares one real smoke sweep (about two minutes on two cores)
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def copied(smoke_experiment, tmp_path_factory):
    exp, _ = smoke_experiment
    dest = tmp_path_factory.mktemp("copied") / exp.name
    shutil.copytree(exp, dest, ignore=shutil.ignore_patterns("report"))
    return dest


def test_load_real_experiment_and_trajectories(copied):
    df = load_experiments(copied)
    assert len(df) == 4 and set(df["objective"]) == {"lvae", "vae", "beta_vae"}
    # provenance and effective parameters, as the sweep recorded them
    from lvae.objectives import OBJECTIVES

    assert set(df["eval.probe"]) == {"hgb"} and set(df["eval.num_train"]) == {400}
    assert set(df["hp.train_steps"]) == {get_preset("smoke").steps} and set(df["preset"]) == {
        "smoke"
    }
    lv = df[df["objective"] == "lvae"]
    assert (lv["hp.regulariser"] == OBJECTIVES["lvae"].defaults["regulariser"]).all()
    kl = [c for c in df.columns if c.startswith("kl.dim_")]
    assert len(kl) == 10 and df[kl].notna().all().all()
    assert (df["active_dims"] == (df[kl] > 0.01).sum(axis=1)).all()
    # the one collapse rule (lvae.collapse), from the KL and the recorded mean-image baseline
    assert np.allclose(df["total_kl"], df[kl].sum(axis=1)) and (df["recon_mean_image"] > 0).all()
    gain = (df["recon_mean_image"] - df["loss_recon"]) / df["recon_mean_image"]
    assert np.allclose(df["recon_gain"], gain)
    assert (df["collapsed"] == ((df["total_kl"] < 1.0) | (df["recon_gain"] < 0.1))).all()
    traj = load_beta_trajectories(copied)
    smoke = get_preset("smoke")
    assert set(traj["step"]) == set(range(smoke.log_every, smoke.steps + 1, smoke.log_every))
    per_trial = traj.groupby("trial")["beta_eff"].count()
    assert len(per_trial) == 4 and (per_trial == smoke.steps // smoke.log_every).all()
    fixed = traj.merge(df[["trial", "objective"]], on="trial")
    assert (fixed.loc[fixed["objective"] == "beta_vae", "beta_eff"] == 4.0).all()


def test_report_cli_on_a_copied_folder(copied, tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run(
        [sys.executable, "-m", "analysis.report", str(copied), "--out", str(tmp_path / "report")],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = (tmp_path / "report" / "report.html").read_text()
    assert "data:image/png;base64," in html and "beta" in html.lower()
    assert "only one seed" in html.lower()  # smoke runs one seed per cell: the report says so
    assert (
        "This report demonstrates the pipeline; it is not evidence about L-VAE. Preset(s) smoke"
    ) in html
    steps = get_preset("smoke").steps
    assert (
        f"preset smoke, {steps} training steps" in html
        and "DCI probe hgb, 400 training / 200 test samples" in html
    )
    assert "Positive controls" in html and (tmp_path / "report" / "report_timings.csv").is_file()
    # a first build (no earlier report's stability table) takes the floor table's evaluation
    # noise from its own stability re-scoring
    floor = pd.read_csv(tmp_path / "report" / "floor_and_ceiling.csv").set_index("metric")
    assert floor.loc["mig", "eval_noise_sd"] >= 0 and floor.loc["mig", "eval_noise_models"] >= 1
    # one seed per cell: no conclusion, or (if the default L-VAE collapsed) why there is no
    # comparison
    df = load_experiments(copied)
    default = df[(df["objective"] == "lvae") & (df["hp.lambda"] == 0.1)].iloc[0]
    if default["collapsed"]:
        assert re.search(
            r"lvae lambda=0.1 vs fixed beta: no values to compare for any metric \(1 "
            r"of 1 L-VAE and "
            r"[0-2] of 2 fixed-beta trials collapsed and left out\)",
            html,
        )
    else:
        assert "no conclusion can be drawn: 1 paired seed(s)" in html
    assert list((tmp_path / "report").glob("*.csv"))


def test_sweep_wrote_its_report(smoke_experiment):
    exp, proc = smoke_experiment
    assert str(exp / "report" / "report.html") in proc.stdout


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_notebooks_run_on_the_real_experiment(name, copied, tmp_path):
    spec = tmp_path / "kernels" / "lvae-int"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "lvae",
                "language": "python",
            }
        )
    )
    old = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "LVAE_EXPERIMENT")}
    os.environ["JUPYTER_PATH"] = str(tmp_path)
    os.environ["LVAE_EXPERIMENT"] = str(copied)
    try:
        nb = nbformat.read(NOTEBOOK_DIR / name, as_version=4)
        NotebookClient(
            nb, kernel_name="lvae-int", timeout=600, resources={"metadata": {"path": str(REPO)}}
        ).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert not errors
    images = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "image/png" in o.get("data", {})
    ]
    assert images, "the notebook drew no figure"
