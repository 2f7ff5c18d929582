"""One trial through the whole pipeline, by the contract's names only.

A trainer result (record tags) goes through the trainable's final Tune report and the
sweep's results.csv row into the analysis. Every name is read from ``lvae.contract`` when
the functions run, so ``tests/e2e/test_contract.py`` can run this with a contract whose names
were changed in its source and check that writer and reader follow together.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from lvae import contract as c

CONFIG = {
    "cell": {"label": "lvae_lambda=0.1", "objective": "lvae", "objective_params": {"lambda": 0.1},
             "architecture": "conv"},
    "train": {"dataset": "toy", "steps": 60, "evaluate": ["mig", "dci"],
              "eval_options": {"dci_probe": "hgb"}},
    "seed": 0,
}
STEPS = (0, 30, 60)


def trainer_result() -> dict[str, Any]:
    """What lvae.train.train returns: the last record under its tags, the end metrics."""
    final = {c.TOTAL_TAG: 30.0, c.RECON_TAG: 25.0, c.KL_TAG: 5.0, c.BETA_TAG: 2.5,
             c.STEPS_PER_S_TAG: 9.0,
             c.OBJECTIVE_PREFIX + "beta_stationary": 2.4, c.KL_DIM_TAG +
             "00": 1.2, c.KL_DIM_TAG + "01": 0.001,
             c.RECON_BASELINE_TAG: 575.0}
    return {"steps": STEPS[-1], "final": final,
            "metrics": {"mig": 0.25, "dci.disentanglement": 0.5},
            "eval_time_s": 0.5}


def _write_events(tb_dir: Path, final: dict[str, float]) -> None:
    """The trainer's TensorBoard scalars: each record tag at every logged step."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(str(tb_dir))
    for step in STEPS:
        for tag, value in final.items():
            writer.add_scalar(tag, value * (1 + step / 100), step)
    writer.close()


def write_experiment(root: Path, result: dict[str, Any]) -> Path:
    """An experiment folder as a sweep leaves it, built by the sweep's own functions."""
    from sweeps.results import trial_row
    from sweeps.trainable import _final_report

    exp = root / "exp"
    trial_dir = exp / "trainable_t0"
    _write_events(trial_dir / c.RUN_DIR / c.TB_DIR, result["final"])
    last = {**_final_report(result, 2.0), "node_ip": "127.0.0.1", "node_id": "n0", "device": "cpu",
            "resumed_from": None}
    trial = SimpleNamespace(trial_id="t0", status="TERMINATED", config=CONFIG, last_result=last,
                            path=str(trial_dir), num_failures=0)
    row = trial_row(trial, exp, {"space": "lvae_reg", "preset": "smoke"})
    pd.DataFrame([row]).to_csv(exp / c.RESULTS_FILE, index=False)
    return exp


def check_pipeline(root: Path) -> pd.DataFrame:
    """Write one trial and read it back with the analysis; the values must survive."""
    from analysis import headline_table, load_experiments, read_trajectories

    result = trainer_result()
    df = load_experiments(write_experiment(root, result))
    row = df.iloc[0]
    for tag in c.FINAL_TAGS:
        assert row[c.TUNE_KEYS[tag]] == result["final"][tag], tag
    for key, value in result["metrics"].items():
        assert row[c.METRIC_PREFIX + key] == value, key
    assert row[c.KL_DIM_PREFIX + "00"] == 1.2 and row["active_dims"] == 1 and not row["collapsed"]
    assert row["run_dir"].endswith(os.sep + c.RUN_DIR)
    traj = read_trajectories(df)
    beta = c.TUNE_KEYS[c.BETA_TAG]
    assert list(traj["step"]) == list(STEPS)
    assert traj[beta].iloc[-1] == result["final"][c.BETA_TAG] * 1.6
    table = headline_table(df, [c.METRIC_PREFIX + "mig"])
    assert table[f"{beta}_median"].iloc[0] == result["final"][c.BETA_TAG]
    return df
