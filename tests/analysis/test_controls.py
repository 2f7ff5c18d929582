"""Positive controls: the beta-grid trend and the L-VAE tracking check, on known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from helpers.analysis_fixtures import trial_table

from analysis.studies.controls import (
    beta_grid_control,
    controls_table,
    controls_verdict,
    lvae_tracking_control,
    opening_statement,
    spearman_interval,
)

BETAS = (1.0, 2.0, 4.0, 8.0, 16.0)


def grid_losses(rng: np.random.Generator, slope: float, seeds: int = 5,
                seed_sd: float = 1.0) -> pd.DataFrame:
    """The study's layout (VAE + beta 2..16, ``seeds`` seeds): KL = slope * ln beta + seed effect +
    noise."""
    effect = rng.normal(0, seed_sd, seeds)
    rows = []
    for b in BETAS:
        for s in range(seeds):
            kl = 10 + slope * math.log(b) + effect[s] + rng.normal()
            rows.append({"objective": "vae" if b == 1 else "beta_vae",
                         "hp.beta": np.nan if b == 1 else b,
                         "seed": s, "loss_kl": kl, "loss_recon": 50 - kl})
    return trial_table(rows)


def test_no_effect_rarely_passes_and_a_planted_one_does():
    """Pure noise (a seed effect as large as the noise): the one-sided 'holds' decision is
    taken in at most 5% of 200 tables (nominal 2.5%), and the interval covers rho = 0 in at
    least 90%; a planted fall of KL with beta holds in at least 95%."""
    rng = np.random.default_rng(1)
    false_holds, covers = 0, 0
    for i in range(200):
        d = grid_losses(rng, slope=0.0)
        x = np.log(d["hp.beta"].fillna(1.0).to_numpy())
        rho, lo, hi = spearman_interval(x, d["loss_kl"].to_numpy(), seed=i, n_resamples=999)
        false_holds += hi < 0
        covers += lo <= 0 <= hi
    assert false_holds / 200 <= 0.05 and covers / 200 >= 0.90, (false_holds, covers)
    holds = 0
    for i in range(100):
        table = beta_grid_control(grid_losses(rng, slope=-1.0), seed=i)
        holds += bool(table["holds"].all())
    assert holds >= 95


def test_grid_control_reads_each_loss_in_its_direction():
    rng = np.random.default_rng(0)
    good = beta_grid_control(grid_losses(rng, slope=-2.0)).set_index("control")
    assert good.loc["loss_kl falls with beta",
                    "holds"] and good.loc["loss_recon rises with beta", "holds"]
    assert good.loc["loss_kl falls with beta",
                    "value"] < -0.7 and good.loc["loss_kl falls with beta", "n_trials"] == 25
    # KL rising with beta
    wrong = beta_grid_control(grid_losses(rng, slope=+2.0)).set_index("control")
    assert not wrong.loc["loss_kl falls with beta", "holds"]
    assert controls_verdict(controls_table([wrong.reset_index()])) == "failed"
    assert "positive controls failed (loss_kl falls with beta" in opening_statement(
        controls_table([wrong.reset_index()])
    )
    few = grid_losses(rng, slope=-2.0)
    few = few[few["hp.beta"].isin([4.0, 8.0])]
    table = beta_grid_control(few)
    assert (
        table["holds"].isna().all()
        and table["detail"].str.startswith("not checked: 2 distinct beta").all()
    )
    assert controls_verdict(controls_table([table])) == "not checked"


def tracking(errors: dict[str, float], stationary: bool = True) -> pd.DataFrame:
    """Trajectories whose last step has |ln beta_eff - ln beta_stationary| = errors[trial]."""
    rows = []
    for trial, err in errors.items():
        for step in (0, 50, 100):
            beta = 4.0 + step / 100
            rows.append(
                {
                    "trial": trial,
                    "step": step,
                    "beta_eff": beta,
                    "objective.beta_stationary": beta * math.exp(err if step == 100 else 1.0)
                    if stationary
                    else np.nan,
                }
            )
    return pd.DataFrame(rows)


def test_tracking_control_counts_trials_within_tolerance():
    df = trial_table(
        [{"objective": "lvae", "hp.lambda": lam, "seed": s} for lam in (0.1, 1.0) for s in range(3)]
    )
    errors = dict(zip(df["trial"], [0.01, -0.05, 0.02, 0.03, 0.5, -0.08], strict=True))
    table = lvae_tracking_control(df, tracking(errors)).set_index("where")
    ok, bad = table.loc["lvae lambda=0.1"], table.loc["lvae lambda=1"]
    assert (
        ok["holds"]
        and ok["n_hold"] == 3
        and ok["value"] == pytest.approx(0.02)
        and ok["hi"] == pytest.approx(0.05)
    )
    assert not bad["holds"] and bad["n_hold"] == 2 and bad["hi"] == pytest.approx(0.5)
    assert "2 of 3 trials within 0.1" in bad["detail"]
    none = lvae_tracking_control(df, tracking(errors, stationary=False))
    assert (
        none["holds"].isna().all()
        and none["detail"].str.contains("logged objective/beta_stationary").all()
    )
