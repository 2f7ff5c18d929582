"""The report's stability section: each model encoded once, the DCI fit budget spent in
priority order, and the re-scoring running in the background."""

from __future__ import annotations

import html

import pandas as pd
from helpers.analysis_fixtures import (
    fake_evaluate,
    fake_load_run,
    standard_trials,
    write_experiment,
)
from helpers.report_pages import section

from analysis.report import write_report
from analysis.report.answer_sections import TITLE as ANSWER

FAKES = {"evaluate": fake_evaluate, "load_run": fake_load_run}


def test_stability_encodes_each_model_once_and_skips_what_a_setting_cannot_change(tmp_path):
    from analysis.studies.stability import BASE_SETTINGS, settings_for

    exp = write_experiment(tmp_path, "exp", standard_trials(seeds=(0, 1))["lvae_reg"])
    settings = settings_for({"reference": {}, "bins10": {"num_bins": 10},
                             "eval_seed1": {"seed": 1}},
                            base={**BASE_SETTINGS, "num_train": 200, "num_test": 100})
    page = html.unescape(write_report([exp], tmp_path / "out", load_run=fake_load_run,
                                      stability_settings=settings,
                                      n_jobs=1, figures=False, default_lambda=0.01).read_text())
    spread = "3 model(s) spread over the dci.disentanglement ranking (of 8 with a checkpoint)"
    assert spread in section(page, "Stability")
    scores = pd.read_csv(tmp_path / "out" / "stability_scores.csv")
    per_setting = scores.groupby("setting")["metric"].agg(set)
    assert per_setting["bins10"] == {"mig"}  # DCI does not depend on bins: not refitted
    assert {"mig", "dci.disentanglement", "dci.completeness"} <= per_setting["eval_seed1"]
    assert scores["trial"].nunique() == 3  # at most a quarter of the models, at least 3
    timings = pd.read_csv(tmp_path / "out" / "report_timings.csv")
    assert list(timings["section"])[:3] == [ANSWER, "Scale of this study", "Positive controls"]
    assert (timings["seconds"] >= 0).all() and timings["seconds"].sum() > 0


def test_stability_spends_the_fit_budget_on_dci_in_priority_order(tmp_path):
    exp = write_experiment(tmp_path, "exp", standard_trials(seeds=(0, 1))["lvae_reg"])
    page = html.unescape(write_report([exp], tmp_path / "out", load_run=fake_load_run,
                                      stability_fits=6,
                                      n_jobs=1, figures=False, default_lambda=0.01).read_text())
    text = section(page, "Stability")
    assert ("DCI re-fitted under reference, eval_seed1 only, not under sampled_codes, "
            "samples_half: 6 fits budgeted (set by stability_fits), 3 per setting") in text
    assert "sampled_codes: representation='sampled' (mig only)" in text
    scores = pd.read_csv(tmp_path / "out" / "stability_scores.csv")
    with_dci = scores[scores["metric"].str.startswith("dci.")].groupby("setting")["trial"].nunique()
    assert with_dci.to_dict() == {"eval_seed1": 3, "reference": 3}
    assert set(scores.loc[scores["metric"] == "mig", "setting"]) == {
        "reference", "bins10", "bins50", "eval_seed1", "sampled_codes", "samples_half"}
    # the default budget comes from the training recorded: these trials' few steps pay for none
    page = html.unescape(write_report([exp], tmp_path / "out2", load_run=fake_load_run, n_jobs=1,
                                      figures=False, default_lambda=0.01).read_text())
    assert "DCI not re-scored (one comparison needs 6 fits): 0 fits budgeted (one per 51,200" \
        in section(page, "Stability")


def test_stability_rescoring_runs_in_the_background_while_earlier_sections_are_built(
        tmp_path, monkeypatch):
    import threading

    import analysis.report.build as report

    events: list[tuple[str, str]] = []
    started = threading.Event()

    def evaluate(run_dir, **settings):
        events.append(("evaluate", threading.current_thread().name))
        started.set()
        return fake_evaluate(run_dir, **settings)

    def first_section(df, ctx):  # built only once the re-scoring has begun elsewhere
        assert started.wait(timeout=30)
        events.append(("section", threading.current_thread().name))
        return report.Section("first")

    monkeypatch.setattr(report, "SECTIONS", [first_section, *report.SECTIONS])
    exp = write_experiment(tmp_path, "exp", standard_trials(seeds=(0, 1))["lvae_reg"])
    page = html.unescape(write_report([exp], tmp_path / "out", evaluate=evaluate,
                                      load_run=fake_load_run,
                                      figures=False, default_lambda=0.01).read_text())
    threads = {kind: {name for k, name in events if k == kind} for kind in ("evaluate", "section")}
    assert threads["section"] == {threading.main_thread().name}
    assert threads["evaluate"] and all(name.startswith("stability") for name in threads["evaluate"])
    assert "alongside the sections before this one" in section(page, "Stability")
    assert len(pd.read_csv(tmp_path / "out" / "stability_ranks.csv")) > 0
