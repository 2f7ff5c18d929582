"""Loading experiment folders and TensorBoard trajectories."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from helpers.analysis_fixtures import (
    EVAL_SETTINGS,
    TrialSpec,
    linear_trajectory,
    standard_trials,
    write_experiment,
    write_tb,
)
from helpers.paths import REPO

from analysis import ExperimentError, load_beta_trajectories, load_experiments, read_trajectories
from analysis.io.events import trials_without_events
from analysis.io.pooling import PoolingError
from analysis.report import main as report_main


@pytest.fixture(scope="module")
def two_experiments(tmp_path_factory):
    root = tmp_path_factory.mktemp("exps")
    trials = standard_trials(seeds=(0, 1))
    return [write_experiment(root, name, ts) for name, ts in trials.items()]


def test_concatenates_experiments_tidy(two_experiments):
    df = load_experiments(*two_experiments)
    assert len(df) == 4 * 2 + 5 * 2
    assert set(df["exp_name"]) == {"lvae_reg", "baselines"}
    assert df["trial"].is_unique
    # hp columns are the union; NaN where a hyperparameter does not apply
    lv = df[df["objective"] == "lvae"]
    assert lv["hp.beta"].isna().all() and lv["hp.lambda"].notna().all()
    assert df.loc[df["objective"] == "beta_vae", "hp.lambda"].isna().all()
    assert sorted(lv["hp.lambda"].unique()) == [0.001, 0.01, 0.1, 1.0]
    for col in ("status", "seed", "architecture", "dataset", "preset", "beta_eff", "metric.mig",
                "metric.dci.disentanglement", "run_dir", "exp_dir"):
        assert col in df.columns
    assert pd.api.types.is_float_dtype(df["metric.mig"])
    first = df.iloc[0]
    assert first["run_dir"].endswith(f"{first['trial_dir']}/run")
    assert (df["error"] == "").all()


def test_no_ray_or_sweeps_imported(two_experiments):
    """A results folder copied from a cluster must be readable without Ray or the sweeps."""
    code = ("import sys, analysis, analysis.report; analysis.load_experiments(*sys.argv[1:]); "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'sweeps')); "
            "assert not bad, bad")
    proc = subprocess.run([sys.executable, "-c", code, *map(str, two_experiments)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_missing_results_csv_names_the_file(tmp_path):
    (tmp_path / "exp").mkdir()
    with pytest.raises(ExperimentError, match=r"exp/results.csv: missing"):
        load_experiments(tmp_path / "exp")
    with pytest.raises(ExperimentError, match="does not exist"):
        load_experiments(tmp_path / "nope")


def test_missing_column_and_bad_values_are_named(tmp_path):
    exp = write_experiment(tmp_path, "e", [TrialSpec("lvae", {"lambda": 0.1}, 0, {"mig": 0.1})])
    df = pd.read_csv(exp / "results.csv")
    df.drop(columns=["objective"]).to_csv(exp / "results.csv", index=False)
    with pytest.raises(ExperimentError, match=r"results.csv: missing column\(s\) \['objective'\]"):
        load_experiments(exp)
    df.assign(**{"metric.mig": "high"}).to_csv(exp / "results.csv", index=False)
    with pytest.raises(ExperimentError, match="column 'metric.mig' must be numeric"):
        load_experiments(exp)
    pd.concat([df, df]).to_csv(exp / "results.csv", index=False)
    with pytest.raises(ExperimentError, match="trial_id must be unique"):
        load_experiments(exp)


def test_same_folder_name_twice_is_rejected(tmp_path):
    a = write_experiment(tmp_path / "a", "exp", [TrialSpec("lvae", {"lambda": 0.1}, 0)])
    b = write_experiment(tmp_path / "b", "exp", [TrialSpec("lvae", {"lambda": 0.1}, 0)])
    with pytest.raises(ExperimentError, match="distinct names"):
        load_experiments(a, b)


def test_trajectories_read_back_what_was_written(tmp_path):
    trials = [
        TrialSpec("lvae", {"lambda": 0.1}, 0, trajectory=linear_trajectory(1.0, 3.0)),
        TrialSpec("beta_vae", {"beta": 4.0}, 0, trajectory=[(0, 4.0), (50, 4.0)]),
        TrialSpec("beta_vae", {"beta": 4.0}, 1, trajectory=None),  # no tb folder
    ]
    exp = write_experiment(tmp_path, "exp", trials)
    traj = load_beta_trajectories(exp)
    assert list(traj.columns[:6]) == ["trial", "step", "beta_eff",
                                      "loss_total", "loss_recon", "loss_kl"]
    lv = traj[traj["trial"] == "exp/exp_00000"]
    np.testing.assert_array_equal(lv["step"], [0, 20, 40, 60, 80, 100])
    np.testing.assert_allclose(lv["beta_eff"], [1.0, 1.4, 1.8, 2.2, 2.6, 3.0], rtol=1e-6)
    np.testing.assert_allclose(lv["loss_recon"], 100 - lv["step"] / 10, rtol=1e-6)
    assert "objective.w_kl" in traj.columns
    assert "kl.dim_00" not in traj.columns
    assert "kl.dim_00" in load_beta_trajectories(exp, include_kl_dims=True).columns
    df = load_experiments(exp)
    assert trials_without_events(df, traj) == ["exp/exp_00002"]


def test_resumed_run_with_two_event_files(tmp_path):
    exp = write_experiment(tmp_path, "exp", [TrialSpec("lvae", {"lambda": 0.1}, 0,
                                                       trajectory=[(0, 1.0), (10, 2.0)])])
    tb = exp / "trainable_exp_00000" / "run" / "tb"
    write_tb(tb, [(20, 3.0), (30, 4.0)])  # a second writer, as after a resume
    traj = read_trajectories(load_experiments(exp))
    np.testing.assert_array_equal(traj["step"], [0, 10, 20, 30])
    np.testing.assert_allclose(traj["beta_eff"], [1, 2, 3, 4])


def test_empty_trajectories_have_the_columns(tmp_path):
    exp = write_experiment(tmp_path, "exp", [TrialSpec("lvae", {"lambda": 0.1}, 0)])
    traj = load_beta_trajectories(exp)
    assert traj.empty and {"trial", "step", "beta_eff"} <= set(traj.columns)


def test_categorical_hyperparameter_stays_text(tmp_path):
    trials = [TrialSpec("lvae", {"lambda": 0.1, "regulariser": r},
                        0) for r in ("log_ratio_sq", "weight_diff_sq")]
    trials.append(TrialSpec("beta_vae", {"beta": 4.0}, 0))
    df = load_experiments(write_experiment(tmp_path, "exp", trials))
    assert list(df["hp.regulariser"][:2]) == ["log_ratio_sq", "weight_diff_sq"]
    assert pd.isna(df["hp.regulariser"][2])
    assert pd.api.types.is_float_dtype(df["hp.lambda"])


def test_minimal_results_csv_gets_the_optional_columns(tmp_path):
    exp = tmp_path / "mini"
    exp.mkdir()
    pd.DataFrame({"trial_id": ["a"], "status": ["TERMINATED"], "objective": ["vae"], "seed": [0],
                  "dataset": ["toy"], "architecture": ["conv"], "trial_dir": ["a"]}).to_csv(
        exp / "results.csv", index=False)
    df = load_experiments(exp)
    assert df.loc[0,
                  "error"] == "" and np.isnan(df.loc[0,
                                                     "beta_eff"]) and df.loc[0, "trial"] == "mini/a"


def test_pooling_different_metric_settings_is_refused(tmp_path):
    trials = standard_trials(seeds=(0, 1), trajectories=False)
    fast = write_experiment(tmp_path, "fast", trials["lvae_reg"], preset="local")
    slow = write_experiment(tmp_path, "slow", trials["baselines"], preset="paper",
                            eval_settings={**EVAL_SETTINGS, "probe": "gbt", "num_train": 10000})
    with pytest.raises(PoolingError) as err:
        load_experiments(fast, slow)
    message = str(err.value)
    assert "differ in probe, num_train" in message
    assert "fast (probe=hgb,num_train=100)" in message
    assert "slow (probe=gbt,num_train=10000)" in message
    assert "keep_apart=True" in message and "--keep-apart" in message
    df = load_experiments(fast, slow, keep_apart=True)
    assert "metric.mig" not in df.columns
    hgb, gbt = "metric.mig[probe=hgb,num_train=100]", "metric.mig[probe=gbt,num_train=10000]"
    assert (
        df.loc[df["exp_name"] == "fast", hgb].notna().all()
        and df.loc[df["exp_name"] == "fast", gbt].isna().all()
    )
    assert (
        df.loc[df["exp_name"] == "slow", gbt].notna().all()
        and df.loc[df["exp_name"] == "slow", hgb].isna().all()
    )
    assert set(df["metric_settings"]) == {"probe=hgb,num_train=100", "probe=gbt,num_train=10000"}
    # the same settings pool without complaint
    same = write_experiment(tmp_path, "same", trials["baselines"], preset="local")
    assert "metric.mig" in load_experiments(fast, same).columns


def test_report_keeps_settings_apart_when_asked(tmp_path, capsys):
    trials = standard_trials(seeds=(0, 1), trajectories=False)
    a = write_experiment(tmp_path, "a", trials["lvae_reg"])
    b = write_experiment(
        tmp_path, "b", trials["baselines"], eval_settings={**EVAL_SETTINGS, "num_bins": 10}
    )
    assert (
        report_main([str(a), str(b), "--out", str(tmp_path / "r"), "--no-models", "--no-figures"])
        == 2
    )
    assert (
        "refusing to pool metrics computed with different settings (they differ in num_bins)"
        in capsys.readouterr().err
    )
    assert (
        report_main(
            [
                str(a),
                str(b),
                "--out",
                str(tmp_path / "r"),
                "--no-models",
                "--no-figures",
                "--keep-apart",
            ]
        )
        == 0
    )
    cells = pd.read_csv(tmp_path / "r" / "cell_summary.csv")
    assert {"metric.mig[num_bins=20]", "metric.mig[num_bins=10]"} <= set(cells["metric"])
    page = (tmp_path / "r" / "report.html").read_text()
    assert "kept apart: each metric appears once per setting" in page


def test_older_results_without_settings_are_keyed_by_preset(tmp_path):
    trials = standard_trials(seeds=(0,), trajectories=False)
    a = write_experiment(tmp_path, "a", trials["lvae_reg"], preset="local", eval_settings=None)
    b = write_experiment(tmp_path, "b", trials["baselines"], preset="paper", eval_settings=None)
    with pytest.raises(PoolingError, match="settings not recorded, preset local"):
        load_experiments(a, b)
    c = write_experiment(tmp_path, "c", trials["baselines"], preset="local", eval_settings=None)
    assert len(load_experiments(a, c)) == 9


def test_missing_objective_parameters_get_their_defaults(tmp_path):
    from lvae.objectives import OBJECTIVES

    trials = [
        TrialSpec("lvae", {}, 0),
        TrialSpec("lvae", {"lambda": 0.1}, 1),
        TrialSpec("beta_vae", {}, 0),
    ]
    df = load_experiments(write_experiment(tmp_path, "exp", trials))
    lv = df[df["objective"] == "lvae"]
    assert (lv["hp.lambda"] == OBJECTIVES["lvae"].defaults["lambda"]).all()
    assert (lv["hp.regulariser"] == OBJECTIVES["lvae"].defaults["regulariser"]).all()
    assert lv["cell"].nunique() == 1  # explicit and default lambda 0.1 are one cell
    assert (
        df.loc[df["objective"] == "beta_vae", "hp.beta"].item()
        == OBJECTIVES["beta_vae"].defaults["beta"]
    )
    assert df.loc[df["objective"] == "beta_vae", "hp.lambda"].isna().all()


def test_collapse_from_results_or_from_tensorboard(tmp_path):
    trials = [
        TrialSpec("lvae", {"lambda": 0.1}, 0, kl_dims=(1.5, 0.02, 0.001)),
        TrialSpec("lvae", {"lambda": 0.1}, 1, kl_dims=(0.5, 0.3, 0.0)),
        TrialSpec("lvae", {"lambda": 0.1}, 2, kl_dims=(0.009, 0.0)),
    ]
    df = load_experiments(write_experiment(tmp_path, "new", trials))
    # total KL below 1 nat collapses a trial whatever its per-latent count (lvae.collapse)
    assert df["active_dims"].tolist() == [2, 2, 0] and df["collapsed"].tolist() == [
        False,
        True,
        True,
    ]
    assert df["total_kl"].tolist() == pytest.approx([1.521, 0.8, 0.009])
    # an older results.csv without kl.dim_* columns: the last kl/dim_* in TensorBoard decides
    old = [
        TrialSpec("lvae", {"lambda": 0.1}, 0, trajectory=[(0, 1.0)]),
        TrialSpec("lvae", {"lambda": 0.1}, 1, loss_kl=0.001),
        TrialSpec("lvae", {"lambda": 0.1}, 2, loss_kl=3.0),
    ]
    df = load_experiments(write_experiment(tmp_path, "old", old, eval_settings=None))
    assert df["active_dims"].iloc[0] == 1  # write_tb logs kl/dim_00 = 0.5: one latent, 0.5 nats
    # no events either: the final KL term decides (0.001 and 3.0 nats)
    assert df["collapsed"].tolist() == [True, True, False] and np.isnan(df["active_dims"].iloc[2])
