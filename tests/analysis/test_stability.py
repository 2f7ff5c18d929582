"""Re-evaluation under other metric settings, with a fake evaluate callable."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers.analysis_fixtures import trial_table

from analysis import pick_models, rank_stability, reevaluation_table, settings_for
from analysis.studies.stability import BASE_SETTINGS, default_evaluate

QUALITY = {"r0": 0.9, "r1": 0.7, "r2": 0.5, "r3": 0.3, "r4": 0.1}
calls: list = []


def fake_evaluate(run_dir, **kw):
    """mig keeps the order under every setting; dci reverses it when the probe is 'gbt'."""
    q = QUALITY[str(run_dir)]
    calls.append((str(run_dir), kw))
    return {"mig": q + 0.001 * kw["num_bins"], "dci.disentanglement": -q if kw["dci_probe"] ==
            "gbt" else q}


def test_each_setting_changes_one_thing_and_the_slow_probe_is_opt_in():
    s = settings_for()
    ref = s["reference"]
    for name, cfg in s.items():
        assert set(cfg) == set(ref), name
        changed = {k for k in cfg if cfg[k] != ref[k]}
        # one estimator choice per setting (sample size counts train and test together)
        assert changed <= {"num_train", "num_test"} or len(changed) == 1, (name, changed)
        assert bool(changed) == (name != "reference"), name
    assert ref["num_train"] + ref["num_test"] <= 2000  # cheap enough for the end of a sweep
    assert "gbt" not in {cfg["dci_probe"] for cfg in s.values()}
    assert settings_for(parity_probe=True)["probe_gbt"] == {**ref, "dci_probe": "gbt"}
    custom = settings_for({"reference": {}, "more": {"num_train": 5}},
                          base={"num_train": 1, "seed": 3})
    assert custom == {"reference": {"num_train": 1, "seed": 3}, "more": {"num_train": 5, "seed": 3}}
    with pytest.raises(ValueError, match="reference"):
        settings_for({"bins10": {"num_bins": 10}})


def test_reevaluation_table_and_rank_changes():
    calls.clear()
    settings = settings_for({"reference": {}, "bins50": {"num_bins": 50},
                             "gbt": {"dci_probe": "gbt"}})
    table = reevaluation_table(fake_evaluate, {f"trial{k[1]}": k for k in QUALITY}, settings)
    assert len(calls) == 5 * 3 and len(table) == 5 * 3 * 2
    assert set(table.columns) == {"trial", "setting", "metric", "value"}
    assert calls[0][1]["num_train"] == BASE_SETTINGS["num_train"]
    ranks = rank_stability(table).set_index(["setting", "metric"])
    assert ranks.loc[("bins50", "mig"), "spearman"] == pytest.approx(1.0)
    assert ranks.loc[("bins50", "mig"), "max_rank_change"] == 0
    assert ranks.loc[("bins50", "mig"), "mean_abs_change"] == pytest.approx(0.03)
    assert ranks.loc[("gbt", "dci.disentanglement"), "spearman"] == pytest.approx(-1.0)
    assert ranks.loc[("gbt", "dci.disentanglement"), "kendall"] == pytest.approx(-1.0)
    assert ranks.loc[("gbt", "dci.disentanglement"), "max_rank_change"] == 4
    assert ("reference", "mig") not in ranks.index
    with pytest.raises(ValueError, match="no setting 'base'"):
        rank_stability(table, reference="base")


def test_plain_list_of_run_dirs():
    table = reevaluation_table(fake_evaluate, ["r0", "r1"], settings_for({"reference": {}}))
    assert set(table["trial"]) == {"r0", "r1"}


def test_pick_models_spreads_over_the_ranking():
    df = trial_table([{"objective": "lvae", "seed": i,
                       "metric.dci.disentanglement": float(i)} for i in range(20)]
                     + [{"objective": "lvae", "seed": 99, "metric.dci.disentanglement": 100.0,
                         "status": "ERROR"}])
    picked = pick_models(df, k=4)
    np.testing.assert_array_equal(picked["metric.dci.disentanglement"], [19, 13, 6, 0])
    assert len(pick_models(df, k=50)) == 20
    no_model = pick_models(df, k=4, has_model=lambda run_dir: not run_dir.endswith("t19/run"))
    assert no_model["metric.dci.disentanglement"].max() == 18


def test_default_binding_is_lvae_evaluate_run():
    from lvae.evaluate import evaluate_run

    assert default_evaluate() is evaluate_run
    import inspect

    params = inspect.signature(evaluate_run).parameters
    # every base setting is accepted by name or through **options
    assert {"metrics", "num_train", "num_test", "seed", "representation"} <= set(params)
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def test_empty_table_shape():
    out = rank_stability(pd.DataFrame({"trial": ["a"], "setting": ["reference"],
                                       "metric": ["mig"], "value": [1.0]}))
    assert out.empty and "spearman" in out.columns


def test_sample_sizes_are_capped_at_the_experiments_own():
    from analysis.studies.stability import capped_settings

    assert capped_settings() == settings_for() == capped_settings(float("nan"), 3000)
    small = capped_settings(400, 200)
    assert (small["reference"]["num_train"], small["reference"]["num_test"]) == (400, 200)
    assert (small["samples_half"]["num_train"], small["samples_half"]["num_test"]) == (200, 100)
    assert small["bins10"] == {**small["reference"], "num_bins": 10}
    assert "probe_gbt" in capped_settings(400, 200, parity_probe=True)


def _trials(steps, batch, status="TERMINATED"):
    return pd.DataFrame({"status": status, "steps": steps, "hp.batch_size": batch})


def test_fit_budget_is_one_fit_per_block_of_training_samples():
    from analysis.studies.stability import SAMPLES_PER_FIT, fit_budget, training_samples

    local = _trials([400] * 12, [64] * 12)  # the local preset: 12 trials of 400 steps at batch 64
    assert training_samples(local) == 307_200
    assert fit_budget(local) == 307_200 // SAMPLES_PER_FIT == 6
    study = _trials([1200] * 42, [64] * 42)
    assert fit_budget(study) == 63
    unfinished = pd.concat([local, _trials([400] * 4, [64] * 4, status="ERROR")])
    assert fit_budget(unfinished) == 6  # only finished trials' training counts
    assert (
        fit_budget(pd.DataFrame({"status": ["TERMINATED"], "steps": [400]})) == 0
    )  # batch not recorded
    assert fit_budget(_trials([400, np.nan], [64, 64])) == 0  # 25,600 samples < one fit


def _dci_settings(settings):
    from analysis.studies.rescoring import affected

    return [n for n, s in settings.items() if "dci" in affected(s, settings["reference"])]


def test_budget_keeps_dci_for_the_reference_then_the_variations_in_order():
    from analysis.studies.stability import within_budget

    full = settings_for()
    kept, lost = within_budget(full, num_models=3, budget=6)
    assert _dci_settings(kept) == ["reference", "eval_seed1"]  # 3 fits each
    assert lost == ["sampled_codes", "samples_half"]
    assert kept["sampled_codes"] == {
        **full["sampled_codes"],
        "metrics": ("mig",),
    }  # MIG still re-scored
    assert kept["bins10"] == full["bins10"]  # bins refit no DCI: free
    assert full["samples_half"]["metrics"] == ("mig", "dci")  # the input is not changed
    # 2 left < 3 models
    assert _dci_settings(within_budget(full, 3, 8)[0]) == ["reference", "eval_seed1"]
    assert _dci_settings(within_budget(full, 3, 12)[0]) == _dci_settings(full)
    assert within_budget(full, 3, 12)[1] == []
    kept, lost = within_budget(full, 3, 0)
    assert _dci_settings(kept) == [] and "bins10" in kept  # nothing to compare a reference fit with
    assert kept["reference"]["metrics"] == ("mig",) and lost == [
        "eval_seed1",
        "sampled_codes",
        "samples_half",
    ]


def test_budget_drops_a_setting_left_with_nothing_to_change_and_spares_explicit_ones():
    from analysis.studies.stability import within_budget

    probe = settings_for(
        {"reference": {}, "hgb_again": {"dci_probe": "logistic"}, "bins10": {"num_bins": 10}}
    )
    kept, lost = within_budget(probe, 3, 3, candidates=["hgb_again", "bins10"])
    assert lost == ["hgb_again"] and list(kept) == [
        "reference",
        # a probe change without DCI is nothing
        "bins10",
    ]
    parity = settings_for(parity_probe=True)
    # the parity probe was asked for: not a budgeted variation
    kept, _ = within_budget(parity, 3, 3)
    assert kept["probe_gbt"] == parity["probe_gbt"]
