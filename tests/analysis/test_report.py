"""The HTML report on synthetic experiments: numbers, notes in place, CSVs, CLI."""

from __future__ import annotations

import html
import re

import numpy as np
import pandas as pd
import pytest
from helpers.analysis_fixtures import (
    ALL_METRICS,
    TrialSpec,
    fake_evaluate,
    fake_load_run,
    linear_trajectory,
    standard_metrics,
    standard_trials,
    write_experiment,
)
from helpers.report_pages import section, sections

from analysis.io.load import ExperimentError
from analysis.report import main, write_report
from analysis.report.answer_sections import TITLE as ANSWER

FAKES = {"evaluate": fake_evaluate, "load_run": fake_load_run}


@pytest.fixture(scope="module")
def standard(tmp_path_factory):
    root = tmp_path_factory.mktemp("std")
    exps = [write_experiment(root, name, ts) for name,
            ts in standard_trials(seeds=(0, 1, 2), curves=True).items()]
    out = root / "report"
    path = write_report(exps, out, default_lambda=0.01, **FAKES)
    return path, out


def test_report_is_one_self_contained_file(standard):
    path, out = standard
    assert path == out / "report.html"
    page = path.read_text()
    assert page.count("data:image/png;base64,") >= 8
    assert not re.search(r"src=['\"](?!data:)", page)  # nothing loaded from elsewhere
    csvs = {p.stem for p in out.glob("*.csv")}
    assert {"trials", "cell_summary", "collapse_per_cell", "variance_decomposition",
            "sensitivity_lambda", "sensitivity_beta",
            "sensitivity_trend", "lvae_vs_fixed_beta", "metric_agreement", "beta_trajectory_bands",
            "beta_endpoints", "stability_scores", "stability_ranks", "udr_scores", "udr_selection",
            "positive_controls", "headline", "beta_vs_vae", "metric_curve_bands",
            "metric_curve_endpoints",
            "report_timings"} <= csvs
    assert not list(out.glob(".*tmp"))  # atomic writes leave no temporaries


def test_readings_quote_the_tables(standard):
    path, out = standard
    page = html.unescape(path.read_text())
    var = pd.read_csv(out / "variance_decomposition.csv")
    dci = var[var["metric"] == "metric.dci.disentanglement"].set_index("component")
    assert (f"share of dci.disentanglement variance: cell {100 * dci.at['cell', 'share']:.0f}% "
            f"[{100 * dci.at['cell', 'share_lo']:.0f}%, {100 * dci.at['cell', 'share_hi']:.0f}%], "
            f"seed {100 * dci.at['seed', 'share']:.0f}% ") in page
    sel = pd.read_csv(out / "lvae_vs_fixed_beta.csv")
    dci = sel["metric"] == "metric.dci.disentanglement"
    row = sel[dci & (sel["comparison"] == "median")].iloc[0]
    # standard_metrics: lvae at lambda 0.01 has x = 1, beta_vae betas 1,2,4,8 have x = 0..3;
    # ranked on the other seeds the median (better middle) is beta 4, x = 2: 0.15 lower on every
    # seed
    assert row["lambda_used"] == 0.01 and row["beta"] == 4.0 and row["n_pairs"] == 3
    assert row["fixed_cell"] == "beta_vae beta=4 (3 seeds)"
    assert row["selection"].startswith("held out")
    assert row["median_diff"] == pytest.approx(-0.15) and row["p_better"] == 0.0
    assert ("dci.disentanglement: L-VAE default (lambda=0.01) vs the median fixed beta (held out: "
            "beta_vae beta=4 (3 seeds)), 3 paired seeds: no conclusion can be drawn: 3 paired "
            "seed(s), at least 6 are needed for a 95% interval (median difference -0.15)") in page
    ends = pd.read_csv(out / "beta_endpoints.csv").set_index("cell")
    e = ends.loc["lvae lambda=0.01"]
    assert e["start_median"] == pytest.approx(1.0)
    assert e["end_median"] == pytest.approx((1 / 0.01**0.2) * 1.01, rel=1e-5)
    assert (f"beta_eff of lvae lambda=0.01 moved from 1 (step 0) to {e['end_median']:.3g} (step "
            "100)") in page
    assert "UDR's pick is in the top quartile" in page
    assert "rank correlation with the reference under bins10" in page
    assert "no TensorBoard events" not in page and "trials failed" not in page


def test_enough_seeds_give_intervals_and_a_verdict(tmp_path):
    exps = [write_experiment(tmp_path, name, ts) for name,
            ts in standard_trials(seeds=range(6), trajectories=False).items()]
    page = html.unescape(write_report(exps, tmp_path / "out", default_lambda=0.01, models=False,
                                      figures=False).read_text())
    sel = pd.read_csv(tmp_path / "out" / "lvae_vs_fixed_beta.csv")
    dci = sel["metric"] == "metric.dci.disentanglement"
    r = sel[dci & (sel["comparison"] == "beta=1")].iloc[0]
    assert r["n_pairs"] == 6 and r["verdict"] == "L-VAE better"  # x = 1 vs x = 0 on every seed
    assert ("dci.disentanglement: L-VAE default (lambda=0.01) vs beta = 1 (beta_vae beta=1), 6 "
            "paired seeds: median difference 0.15 [0.15, 0.15], P(L-VAE better) 1 [0.541, 1]: "
            "L-VAE better") in page
    # the count of verdicts is set against what chance alone would give, over the whole table
    decided = (~sel["verdict"].str.startswith(("no conclusion", "inconclusive"))).sum()
    chance = len(sel) * 2 / 64  # every row has 6 pairs
    assert (f"{decided} of {len(sel)} comparisons reached a verdict at 95% each; with no "
            f"difference anywhere about {chance:.1f} would by chance") in section(page, "Selection")


def test_report_states_its_scale(tmp_path):
    trials = standard_trials(seeds=(0, 1), trajectories=False)
    exps = [write_experiment(tmp_path, name, ts, preset="local") for name, ts in trials.items()]
    page = html.unescape(write_report(exps, tmp_path / "out", models=False,
                                      figures=False).read_text())
    title = page.split("</h1>", 1)[0]
    assert title.endswith("(pipeline demonstration, not evidence about L-VAE)")
    scale = section(page, "Scale of this study")
    # the report opens with the dose-response figure's section, then says its scale
    assert list(sections(page))[:2] == [ANSWER, "Scale of this study"]
    assert ("This report demonstrates the pipeline; it is not evidence about L-VAE. Preset(s) "
            "local") in scale
    assert ("lvae_reg: preset local, 100 training steps, 4 cells with 2 finished seed(s) each; "
            "metrics with DCI probe hgb, 100 training / 50 test samples, 20 bins, mean codes, "
            "evaluation seed 0") in scale
    paper = [write_experiment(tmp_path / "p", name, ts, preset=
                              "paper") for name, ts in trials.items()]
    page = html.unescape(write_report(paper, tmp_path / "out2", models=False,
                                      figures=False).read_text())
    assert "not evidence" not in page and "preset paper" in section(page, "Scale of this study")


def test_tables_hold_the_known_answers(standard):
    _, out = standard
    cells = pd.read_csv(out / "cell_summary.csv")
    r = cells[(cells["cell"] == "beta_vae "
                                "beta=4") & (cells["metric"] ==
                                             "metric.dci.disentanglement")].iloc[0]
    expected = [standard_metrics("beta_vae", {"beta": 4.0},
                                 s)["dci.disentanglement"] for s in (0, 1, 2)]
    assert r["median"] == pytest.approx(np.median(expected)) and r["n_seeds"] == 3
    trend = pd.read_csv(out / "sensitivity_trend.csv").set_index(["param", "metric"])
    assert trend.loc[("hp.lambda", "metric.dci.disentanglement"), "spearman_rho"] > 0.9
    ranks = pd.read_csv(out / "stability_ranks.csv")
    np.testing.assert_allclose(ranks["spearman"], 1.0)  # fake_evaluate keeps the order


@pytest.fixture(scope="module")
def degraded(tmp_path_factory):
    """Failed trials, a missing metric, missing TB folders and checkpoints."""
    root = tmp_path_factory.mktemp("deg")
    trials = standard_trials(seeds=(0, 1))
    lv = trials["lvae_reg"]
    lv[0].status, lv[0].error = "ERROR", "Traceback...\nRuntimeError: CUDA out of memory"
    lv[1].status, lv[1].error = "ERROR", ""
    lv[2].metrics = {k: v for k, v in lv[2].metrics.items() if k != "mig"}
    lv[3].trajectory = None
    lv[4].checkpoint = False
    lv[5].loss_kl, lv[5].kl_dims = 0.004, (0.003, 0.001, 0.0, 0.0)
    trials["baselines"][0].status = "RUNNING"
    exps = [write_experiment(root, name, ts) for name, ts in trials.items()]
    page = write_report(exps, root / "out", default_lambda=0.01, figures=False, **FAKES).read_text()
    return page, lv


def test_failures_are_reported_in_place(degraded):
    page, lv = degraded
    top = section(page, "Experiments and trials")
    assert "2 trials failed: lvae_reg/lvae_r_00000 (RuntimeError: CUDA out of memory), " \
           "lvae_reg/lvae_r_00001 (no message)" in top
    assert "1 trials not finished (RUNNING), left out: baselines/baseli_00000" in top
    assert "metric mig missing for 1 of 15 finished trials: lvae_reg/lvae_r_00002" in top
    assert ("1 of 15 finished trials collapsed (final total KL below 1 nat, or a reconstruction "
            "less than 10% better than the mean image's; docs/analysis.md), so their codes carry "
            "almost no information and their metrics score noise; they are left out of the "
            "summaries and comparisons below: lvae_reg/lvae_r_00005 (total KL 0.004 nats)") in top
    # lvae_r_00005 is lambda 0.1, seed 1: its cell lost one of two seeds, said where it is left out
    for title in ("Metric distributions", "Variance", "Sensitivity", "Selection"):
        left_out = "collapsed trials left out, per cell: lvae lambda=0.1 (1 of 2)"
        assert left_out in section(page, title)
    collapsed = "lvae lambda=0.1: 1 of 2 finished trials collapsed (50%)"
    assert collapsed in section(page, "Metric distributions")
    assert "no TensorBoard events for 1 of 15 finished trials: lvae_reg/lvae_r_00003" in section(
        page, "beta_eff dynamics")
    for title in ("Stability", "Unsupervised", "Latent traversals"):
        assert "no checkpoint for 1 of 15 finished trials" in section(page, title)
    assert "only one seed" not in page


def test_single_seed_is_said_where_spread_matters(tmp_path):
    trials = standard_trials(seeds=(0,))
    exps = [write_experiment(tmp_path, name, ts) for name, ts in trials.items()]
    page = write_report(exps, tmp_path / "out", default_lambda=0.01, figures=False,
                        **FAKES).read_text()
    assert "data:image/png" not in page
    for title in ("Metric distributions", "Variance components", "Sensitivity"):
        assert "only one seed per cell: spread cannot be estimated" in section(page, title)
    assert "cell(s) with fewer than two loadable seeds get no UDR" in section(page, "Unsupervised")


def test_model_sections_fail_softly_and_can_be_skipped(tmp_path):
    exp = write_experiment(tmp_path, "exp", standard_trials(seeds=(0, 1))["lvae_reg"][:4])

    def broken(run_dir, **kw):
        raise RuntimeError(f"cannot load {run_dir}")

    page = write_report([exp], tmp_path / "a", default_lambda=0.01, evaluate=broken,
                        load_run=broken).read_text()
    assert "metric stability not computed: RuntimeError: cannot load" in section(page, "Stability")
    assert "UDR not computed: RuntimeError" in section(page, "Unsupervised")
    assert "traversal of the best model not computed" in section(page, "Latent traversals")
    page = write_report([exp], tmp_path / "b", models=False, figures=False).read_text()
    assert "skipped: model-based sections were turned off" in section(page, "Stability")
    # only L-VAE: the fixed-beta comparison says why it is empty
    assert "no finished beta_vae trials: comparison not possible" in section(page, "Selection")


def test_unknown_default_lambda_and_unswept_default(tmp_path, monkeypatch):
    exp = write_experiment(tmp_path, "exp",
                           [t for ts in standard_trials(seeds=(0, 1)).values() for t in ts])
    monkeypatch.setattr("analysis.report.robustness_sections.default_lvae_lambda",
                        lambda objective: None)
    page = write_report([exp], tmp_path / "a", models=False, figures=False).read_text()
    assert "default lambda is unknown" in section(page, "Selection")
    page = write_report([exp], tmp_path / "b", models=False, figures=False,
                        default_lambda=0.05).read_text()
    nearest = "default lambda 0.05 was not swept: nearest swept lambda 0.1 used instead"
    assert nearest in section(page, "Selection")


def test_missing_headline_metric_everywhere(tmp_path):
    trials = [TrialSpec("lvae", {"lambda": 0.1}, s, {"sap": 0.1 * s},
                        trajectory=linear_trajectory(1, 2))
              for s in range(3)]
    exp = write_experiment(tmp_path, "exp", trials)
    page = write_report([exp], tmp_path / "out", models=True, **FAKES).read_text()
    note = re.search(r"metrics missing for every finished trial \(not computed\?\): ([^<]*)<", page)
    assert note and {"dci.disentanglement", "mig"} <= set(note.group(1).split(", "))
    assert "sap" not in note.group(1).split(", ")
    assert "metric dci.disentanglement missing for 3" not in page
    assert "lvae: only one lambda value swept, no trend for" in section(page, "Sensitivity")
    assert "metric dci.disentanglement missing for every model with a checkpoint" in section(
        page, "Latent traversals")


def test_cli(tmp_path, capsys):
    exp = write_experiment(tmp_path, "exp", standard_trials(seeds=(0,))["lvae_reg"])
    assert main([str(exp), "--out", str(tmp_path / "r"), "--no-models", "--no-figures",
                 "--default-lambda", "0.01"]) == 0
    assert (tmp_path / "r" / "report.html").is_file() and "wrote" in capsys.readouterr().out
    assert main([str(tmp_path / "missing"), "--out", str(tmp_path / "r2")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main([str(exp), "--out", str(tmp_path / "r3"), "--metrics",
                 "metric.nope", "--no-models"]) == 2
    with pytest.raises(SystemExit) as exit_info:  # before any work: no report folder
        main([str(exp), "--out", str(tmp_path / "r5"), "--stability-fits", "-1"])
    assert exit_info.value.code == 2 and "--stability-fits must be >= 0" in capsys.readouterr().err
    assert not (tmp_path / "r5").exists()
    with pytest.raises(TypeError, match="unknown option"):
        write_report([exp], tmp_path / "r4", bins=3)


def test_nothing_finished_and_no_metric_columns(tmp_path):
    trials = [TrialSpec("lvae", {"lambda": 0.1}, s, status="ERROR", error=
                        "killed") for s in range(2)]
    exp = write_experiment(tmp_path, "failed", trials)
    page = write_report([exp], tmp_path / "a", default_lambda=0.1, **FAKES).read_text()
    assert "2 trials failed" in section(page, "Experiments")
    for title in ("Experiments", "Metric distributions", "Variance components"):
        assert "no finished trials: nothing to summarise" in section(page, title)
    assert "no checkpoint for any of the 0 finished trials" in section(page, "Stability")
    # a results.csv without any metric.* column
    table = pd.read_csv(exp / "results.csv")
    cols = [c for c in table.columns if not c.startswith("metric.")]
    table[cols].to_csv(exp / "results.csv", index=False)
    page = write_report([exp], tmp_path / "b").read_text()
    assert ("metric dci.disentanglement missing for all trials (no metric.dci.disentanglement "
            "column)") in page
    assert "no finished trials" in page
    # only a header row: no experiment to report on (issue #12), refused before writing
    table[cols].iloc[:0].to_csv(exp / "results.csv", index=False)
    with pytest.raises(ExperimentError, match="no trial rows"):
        write_report([exp], tmp_path / "c")
    assert not (tmp_path / "c").exists()


def test_controls_open_the_report_and_a_failure_says_so(tmp_path):
    trials = standard_trials(seeds=(0, 1, 2))
    exps = [write_experiment(tmp_path, name, ts) for name, ts in trials.items()]
    page = html.unescape(write_report(exps, tmp_path / "ok", default_lambda=0.01, models=False,
                                      figures=False).read_text())
    assert list(sections(page))[:4] == [ANSWER, "Scale of "
                                                "this "
                                                "study", "Positive controls", "Headline table"]
    assert ("Positive controls hold (6 checked): loss_kl falls with beta, loss_recon rises with "
            "beta, learned beta tracks its stationary value.") in section(
        page, "Scale of this study")
    controls = pd.read_csv(tmp_path / "ok" / "positive_controls.csv")
    assert len(controls) == 2 + 4 and controls["holds"].all()  # one beta grid, four L-VAE lambdas
    assert "failed" not in page.split("</h1>", 1)[0]
    head = pd.read_csv(tmp_path / "ok" / "headline.csv").set_index("cell")
    assert head.loc["beta_vae beta=4", "dci.disentanglement_median"] == pytest.approx(0.51)
    # KL rising with beta, and one L-VAE trial whose learned beta is off its balance (ln 1.5 = 0.41)
    for t in trials["baselines"]:
        t.loss_kl = 1.0 + t.beta_final
    trials["lvae_reg"][0].stationary_ratio = 1.5
    exps = [write_experiment(tmp_path / "bad", name, ts) for name, ts in trials.items()]
    page = html.unescape(write_report(exps, tmp_path / "out", default_lambda=0.01, models=False,
                                      figures=False).read_text())
    title = page.split("</h1>", 1)[0]
    assert "(positive controls failed: the comparisons are not findings)" in title
    first = section(page, "Scale of this study").split("<p>", 1)[1]
    assert first.startswith("The study's positive controls failed (loss_kl falls with beta "
                            "(dataset=toy architecture=conv); learned beta tracks its stationary "
                            "value (lvae lambda=0.001)): ")
    assert ("learned beta tracks its stationary value (lvae lambda=0.001): median 0, max 0.405; 2 "
            "of 3 trials within 0.1: FAILS") in section(page, "Positive controls")


def test_metric_curves_and_the_beta_vs_vae_comparison(tmp_path):
    def curves(s):
        return {"mig": [(50, 0.1), (100, 0.2 + 0.01 * s)],
                "dci.disentanglement": [(50, 0.3), (100, 0.3)]}

    trials = [TrialSpec("lvae", {"lambda": 0.1}, s, {"mig": 0.1},
                        trajectory=linear_trajectory(1, 2),
                        metric_curves=curves(s)) for s in range(3)]
    exp = write_experiment(tmp_path, "exp", trials)
    page = html.unescape(write_report([exp], tmp_path / "out", models=False).read_text())
    curves_html = section(page, "Metrics along training")
    assert "data:image/png" in curves_html
    # seeds rise by 0.10, 0.11, 0.12 over steps 50-100: 2.2 per 1,000 steps on average
    reading = re.search(r"mig of lvae, steps 50-100: slope ([\d.]+) per 1,000 steps "
                        r"\[([\d.]+), ([\d.]+)\], a change of ([\d.]+) .*?\(n = 3\): rising",
                        curves_html)
    assert reading, curves_html
    slope, lo, hi, change = map(float, reading.groups())
    assert slope == pytest.approx(2.2) and lo < 2.0 and hi > 2.4 and change == pytest.approx(0.11)
    assert ("Tracking cost: a median 0.5 s per evaluation, 2 evaluations and 1 s per "
            "trial.") in curves_html
    assert "no finished VAE and beta_vae trials with beta >= 4" in section(page, "Fixed beta >= 4")
    plain = write_experiment(tmp_path, "plain", standard_trials(seeds=(0,))["lvae_reg"])
    page = html.unescape(write_report([plain], tmp_path / "out2", models=False,
                                      figures=False).read_text())
    assert "no metric/* scalars in the finished trials' TensorBoard events" in section(
        page, "Metrics along")


def test_a_floor_group_that_fails_is_named_and_the_others_stand(tmp_path):
    """Two datasets in one report, the floor of one not computable here (its dataset is
    missing): its failure is a note naming it, and the other's floor is still tabled."""
    trials = [TrialSpec(t.objective, {**t.hps, "latent_dim": 4}, t.seed, t.metrics, dataset=d)
              for d in ("toy", "gone") for t in standard_trials(seeds=(0, 1))["lvae_reg"][:4]]
    exp = write_experiment(tmp_path, "exp", trials)

    def compute(group, families, init_seeds):
        if group.dataset == "gone":
            raise FileNotFoundError("gone: not on this machine")
        keys = [k for k in ALL_METRICS if k.split(".")[0] in families]
        return {s: dict.fromkeys(keys, 0.01) for s in init_seeds}, dict.fromkeys(keys, 0.9)

    out = tmp_path / "report"
    page = write_report([exp], out, default_lambda=0.01, reference_compute=compute,
                        **FAKES).read_text()
    floor = section(page, "Floor and ceiling")
    assert "floor and ceiling not computed for gone/conv/4 latents: FileNotFoundError" in floor
    table = pd.read_csv(out / "floor_and_ceiling.csv")
    assert set(table["dataset"]) == {"toy"} and len(table) >= 2
