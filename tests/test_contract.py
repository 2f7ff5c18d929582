"""The shared names are used, not copied: what the trainer logs is what the sweep reports
and what results.csv and the analysis read, through lvae.contract."""

from __future__ import annotations

import math

from lvae import contract
from sweeps.trainable import _report_record


def test_trainable_reports_every_contract_key_from_a_trainer_record() -> None:
    record = {"step": 7, **{tag: float(i) for i, tag in enumerate(contract.TUNE_KEYS)}}
    record[contract.OBJECTIVE_PREFIX + "beta_stationary"] = 2.5
    out = _report_record(record)
    assert out["step"] == 7
    for tag, key in contract.TUNE_KEYS.items():
        assert out[key] == record[tag]
    assert out["obj_beta_stationary"] == 2.5


def test_renamed_key_flows_through(monkeypatch) -> None:
    """Renaming a Tune key in the contract is a one-line change: the trainable follows it."""
    keys = {**contract.TUNE_KEYS, contract.BETA_TAG: "beta_effective_renamed"}
    monkeypatch.setattr("sweeps.trainable.TUNE_KEYS", keys)
    out = _report_record({"step": 1, contract.BETA_TAG: 3.0})
    assert out["beta_effective_renamed"] == 3.0 and "beta_eff" not in out


def test_active_latents_and_collapse_threshold() -> None:
    assert contract.count_active([0.0, 0.005, 0.02, 3.0]) == 2
    assert contract.count_active([math.nan, 0.0]) == 0
    from analysis.collapse import ACTIVE_KL

    assert ACTIVE_KL is contract.ACTIVE_KL
