"""Beta-matched twins: a beta-VAE at each L-VAE cell's median learned beta, same seeds.

The planning is checked on tables; the runs on the session's real Ray cluster: twins
after the L-VAE cells, in the same folder and results.csv, through Ctrl-C in either
stage and --resume; an L-VAE cell that failed or whose beta ran away gets no twin.
"""

from __future__ import annotations

import json
import math
import signal
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers.sweep_helpers import run_sweep, smoke_args, start_sweep

from lvae.contract import MATCHED_TO
from sweeps.presets import get_preset
from sweeps.results import SWEEP_FILE, TWINS_DIR
from sweeps.spaces import SPACES, cell, twin_sources
from sweeps.twins import BETA_RANGE, TWINS_KEY, plan_twins, two_significant

NAN = math.nan


# ------------------------------------------------------------------ the plan
def test_twin_is_the_median_learned_beta_to_two_significant_figures():
    rounded = [two_significant(x) for x in (2.345, 9.116, 0.01234, 12345.0)]
    assert rounded == [2.3, 9.1, 0.012, 12000.0]
    lv, mlp = cell("lvae", **{"lambda": 0.1}), cell("lvae", "mlp")
    df = pd.DataFrame({"cell": [lv["label"]] * 4 + [mlp["label"]],
                       "status": ["TERMINATED", "TERMINATED", "ERROR", "TERMINATED", "TERMINATED"],
                       "beta_eff": [2.345, 2.5, NAN, 9.0, 0.5]})
    plan = plan_twins(df, [lv, mlp])
    assert plan.skipped == []
    (twin, twin_mlp) = plan.twins  # the errored trial has no say in the median
    assert twin["objective"] == "beta_vae" and twin["objective_params"] == {"beta": 2.5}
    assert twin[MATCHED_TO] == lv["label"] and twin["architecture"] == "conv"
    assert twin_mlp["architecture"] == "mlp" and twin_mlp["objective_params"] == {"beta": 0.5}
    recorded = plan.record()["trained"][0]
    assert recorded == {MATCHED_TO: lv["label"], "cell": twin["label"], "beta": 2.5}


@pytest.mark.parametrize(
    ("statuses", "betas", "reason"),
    [
        (["ERROR", "ERROR"], [NAN, NAN], "no finished trial of lvae (2 ERROR)"),
        (["TERMINATED", "TERMINATED"], [3e9, 1e9], "is 2e+09, outside [0.001, 1000]: the learned "
                                                   "beta ran away"),
        (["TERMINATED"], [1e-6], "vanished"),
        (["TERMINATED", "TERMINATED"], [2.0, NAN], "is nan, not a finite beta"),
        (["TERMINATED"], [math.inf], "is inf, not a finite beta"),
    ],
)
def test_no_twin_without_a_sane_learned_beta(statuses, betas, reason):
    lv = cell("lvae")
    plan = plan_twins(pd.DataFrame({"cell": "lvae", "status": statuses, "beta_eff": betas}), [lv])
    assert plan.twins == [] and plan.skipped[0][MATCHED_TO] == "lvae"
    assert reason in plan.skipped[0]["reason"], plan.skipped
    assert BETA_RANGE == (1e-3, 1e3)


def test_every_space_with_lvae_and_fixed_betas_gets_twins():
    smoke = get_preset("smoke")
    sources = {name: [c["label"] for c in twin_sources(space.cells(smoke))]
               for name, space in SPACES.items()}
    assert sources["lvae_reg"] == ["lvae_lambda=0.1", "lvae_lambda=1"]
    assert sources["baselines"] == sources["seeds"] == ["lvae"]
    assert sources["arch"] == ["lvae", "lvae_mlp"]  # each architecture next to its own beta-VAE
    assert sources["lvae_optuna"] == []
    assert twin_sources([cell("lvae"), cell("beta_vae", "mlp", beta=4.0)]) == []  # no conv one
    assert SPACES["lvae_reg"].num_twins(smoke, 3) == 6
    assert SPACES["lvae_optuna"].num_twins(smoke) == 0


def test_no_matched_plans_no_twin_and_is_repeated_on_resume():
    from sweeps.cli import build_parser, resume_command, validate
    from sweeps.plan import matched_sources

    for extra, expected in (([], 2), (["--no-matched"], 0)):
        args = build_parser().parse_args(["--space", "lvae_reg", "--preset", "smoke", *extra])
        assert len(matched_sources(*validate(args), args)) == expected
    assert resume_command(args, "x").endswith("--no-matched --resume")


def test_list_counts_the_twins():
    proc = run_sweep(["--list"], timeout=120)
    assert proc.returncode == 0 and "smoke: 4 trials + 2 twins" in proc.stdout, proc.stdout


# ------------------------------------------------------------------ real runs
def results(exp: Path) -> pd.DataFrame:
    return pd.read_csv(exp / "results.csv")


def reported(stage: Path) -> bool:
    """Whether Tune's driver has recorded a training report of a trial of this stage (its
    result.json, written by the driver, holds a result with a step)."""
    for path in stage.glob("*/result.json"):
        for line in path.read_text().splitlines():
            try:
                if "step" in json.loads(line):
                    return True
            except ValueError:  # a line the driver is still writing
                break
    return False


def interrupt_once(args: list[str], stage: Path, timeout: float = 400) -> str:
    """Start the sweep, Ctrl-C it once ``stage`` has a trial training; its output."""
    sweep = start_sweep(args)
    try:
        deadline = time.monotonic() + timeout
        while not reported(stage):
            assert sweep.poll() is None, sweep.stdout.read()[-3000:]
            assert time.monotonic() < deadline, f"no trial of {stage} reported in {timeout:.0f} s"
            time.sleep(0.5)
        sweep.send_signal(signal.SIGINT)
        out, _ = sweep.communicate(timeout=300)
    finally:
        sweep.kill()
    assert sweep.returncode == 130, out[-4000:]
    return out


def stamps(exp: Path) -> dict[str, int]:
    return {p.parent.name: p.stat().st_mtime_ns for p in exp.glob("*/result.json")}


@pytest.mark.slow
def test_ctrl_c_in_either_stage_then_resume_trains_every_trial_once(cluster, tmp_path):
    """seeds space, 2 seeds: L-VAE and beta-VAE(4), then L-VAE's twin on seeds 0 and 1.
    Ctrl-C while the L-VAE cells train (twins not yet planned), --resume, Ctrl-C while the
    twins train, --resume: six trials, each finished once."""
    args = smoke_args(tmp_path, "tw", cluster, "--seeds", "2", "--steps", "20",
                      "--max-concurrent", "2", twins=True)
    args[1] = "seeds"
    exp = tmp_path / "tw"
    out = interrupt_once(args, exp)
    assert "then up to 2 beta-matched twins" in out and "--resume trains them" in out, out[-3000:]
    partial = results(exp)  # the trials Tune had created (it creates them as slots free up)
    assert 1 <= len(partial) <= 4 and partial[MATCHED_TO].isna().all()
    assert TWINS_KEY not in json.loads((exp / SWEEP_FILE).read_text())

    out = interrupt_once([*args, "--resume"], exp / TWINS_DIR)
    assert "twin of lvae: beta-VAE at beta" in out, out[-3000:]
    partial = results(exp)
    stage_one = partial[partial[MATCHED_TO].isna()]
    assert len(stage_one) == 4 and (stage_one["status"] == "TERMINATED").all()
    assert 1 <= partial[MATCHED_TO].notna().sum() <= 2 and (partial["status"] != "TERMINATED").any()
    first_stage = stamps(exp)

    proc = run_sweep([*args, "--resume"])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = results(exp)
    assert len(df) == 6 and df["trial_id"].is_unique and set(df["status"]) == {"TERMINATED"}
    assert (df["steps"] == 20).all() and not df.duplicated(["cell", "seed"]).any()
    assert stamps(exp) == first_stage  # the first stage was not rerun
    assert len(stamps(exp)) == 4 and len(stamps(exp / TWINS_DIR)) == 2  # trial folders: once each
    lvae, twins = df[df["objective"] == "lvae"], df[df[MATCHED_TO].notna()]
    assert set(twins[MATCHED_TO]) == {"lvae"} and set(twins["objective"]) == {"beta_vae"}
    assert sorted(twins["seed"]) == sorted(lvae["seed"]) == [0, 1]
    beta = two_significant(lvae["beta_eff"].median())
    assert (twins["hp.beta"] == beta).all() and (twins["beta_eff"] == beta).all()
    assert all(d.startswith(TWINS_DIR + "/") for d in twins["trial_dir"])
    from analysis import load_experiments  # twins are beta-VAE cells labelled with their L-VAE cell

    loaded = load_experiments(exp)
    assert set(loaded.loc[loaded[MATCHED_TO].notna(),
                          "cell"]) == {f"beta_vae beta={beta:g} (twin of lvae)"}


def test_failed_or_runaway_lvae_cells_get_no_twin(cluster, tmp_path, monkeypatch, capsys):
    """lambda = 0 with the loss weights started at beta = e^30 (no warm start) keeps beta far
    above any fixed one; the other L-VAE cell fails at its first step."""
    import ray

    from sweeps.cli import build_parser
    from sweeps.run import run_sweep
    from sweeps.spaces import Space

    runaway = cell("lvae", **{"lambda": 0.0}, init_s_recon=30.0, warm_start=False)
    failing = cell("lvae", init_s_kl=-100.0, warm_start=False)  # exp(100) overflows: a NaN loss
    space = Space("twin_test", "test only", lambda preset: [runaway, failing, cell("vae")])
    monkeypatch.setitem(SPACES, "twin_test", space)
    argv = smoke_args(tmp_path, "skip", cluster, "--steps", "20", "--max-concurrent", "2",
                      twins=True)
    args = build_parser().parse_args(["--space", "twin_test", *argv[2:]])
    try:
        assert run_sweep(args) == 0
    finally:
        ray.shutdown()
    exp = tmp_path / "skip"
    df = results(exp).set_index("cell")
    assert len(df) == 3 and df[MATCHED_TO].isna().all() and not (exp / TWINS_DIR).exists()
    assert df.loc[runaway["label"], "beta_eff"] > BETA_RANGE[1]
    assert df.loc[failing["label"], "status"] == "ERROR"
    recorded = json.loads((exp / SWEEP_FILE).read_text())[TWINS_KEY]
    assert recorded["trained"] == []
    reasons = {s[MATCHED_TO]: s["reason"] for s in recorded["skipped"]}
    assert "ran away" in reasons[runaway["label"]]
    assert "no finished trial" in reasons[failing["label"]]
    out = capsys.readouterr().out  # said as the twins are planned, and again at the end
    assert f"twin of {runaway['label']}: skipped" in out and f"{failing['label']} has none" in out


def test_no_matched_sweep_trains_no_twin(smoke_experiment):
    """The session's lvae_reg smoke sweep runs with --no-matched: its two L-VAE cells get none."""
    exp, proc = smoke_experiment
    df = results(exp)
    assert len(df) == 4 and df[MATCHED_TO].isna().all() and (df["objective"] == "lvae").sum() == 2
    assert not (exp / TWINS_DIR).exists() and "twins" not in proc.stdout
    settings = json.loads((exp / SWEEP_FILE).read_text())
    assert settings["matched"] is False and TWINS_KEY not in settings
