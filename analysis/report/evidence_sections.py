"""Report sections that say what the study is worth: positive controls, the headline table,
fixed beta >= 4 against the VAE, and the metrics along training.

Same contract as :mod:`analysis.report.overview_sections`: ``(df, ctx) -> Section``, problems
with the data become notes in place.
"""

from __future__ import annotations

import pandas as pd

from analysis.io.pooling import base_metric
from analysis.io.table import BETA_EFF, completed, short_name
from analysis.report import plots
from analysis.report.context import Context, finished_trajectories, positive_controls
from analysis.report.html import Section
from analysis.report.text import add_figure, excluded_notes, name_list, num, pct
from analysis.stats.multiplicity import add_q_values, q_reading
from analysis.stats.paired import multiplicity_reading
from analysis.studies.beta_vs_vae import beta_vs_vae
from analysis.studies.controls import TRACKING_TOLERANCE, controls_verdict
from analysis.studies.headline import headline_table, interval_text
from analysis.studies.metric_curves import (
    metric_bands,
    metric_endpoints,
    second_half_slopes,
    tracked_metrics,
    tracking_cost,
)
from lvae.contract import METRIC_PREFIX

#: metrics of the headline table and the beta >= 4 comparison (their base columns)
HEADLINE_BASES = tuple(METRIC_PREFIX + k for k in ("mig", "dci.disentanglement"))
#: metrics drawn along training when tracked (all tracked ones go to the CSV)
CURVE_METRICS = tuple(METRIC_PREFIX + k for k in ("mig", "dci.disentanglement", "dci.completeness",
                                                  "dci.informativeness_test"))


def _headline_columns(ctx: Context) -> list[str]:
    return [m for b in HEADLINE_BASES for m in ctx.metrics if base_metric(m) == b]


def controls_section(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("Positive controls")
    s.text.append(
        "Effects that must appear if training and the metrics work. Across the fixed-beta grid "
        "(VAE = beta 1) the final KL must fall and the reconstruction loss rise with beta: "
        f"Spearman rho of the per-trial values with log beta and a {ctx.options.level:.0%} "
        "bootstrap interval over trials, holding when it excludes 0 on the expected side. For "
        "each L-VAE cell the learned beta must sit at its stationary value: |ln beta_eff - ln "
        f"beta_stationary| <= {TRACKING_TOLERANCE:g} at the last logged step, for every trial. "
        "Collapsed trials are included (collapse is what a large beta is expected to cause). See "
        "docs/analysis.md.")
    table = positive_controls(df, ctx)
    s.tables.append(("positive_controls", table))
    result = controls_verdict(table)
    s.readings.append({"hold": "every control that could be checked holds",
                       "failed": "at least one control FAILED: the metric comparisons of this "
                                 "report are not findings",
                       "not checked": "no control could be checked"}[result])
    for _, r in table.iterrows():
        if pd.isna(r["holds"]):
            s.notes.append(f"{r['control']} ({r['where']}): {r['detail']}")
        elif r["statistic"].startswith("Spearman"):
            s.readings.append(f"{r['control']} ({r['where']}): rho = {num(r['value'])} "
                              f"[{num(r['lo'])}, {num(r['hi'])}] over {r['n_trials']} trials: "
                              f"{'holds' if r['holds'] else 'FAILS'}")
        else:
            holds = "holds" if r["holds"] else "FAILS"
            s.readings.append(f"{r['control']} ({r['where']}): median {num(r['value'])}, max "
                              f"{num(r['hi'])}; {r['detail']}: {holds}")
    return s


def headline_section(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("Headline table")
    metrics = _headline_columns(ctx)
    s.text.append("Per cell: finished trials, the collapse rate, and medians over seeds of "
                  + ", ".join(short_name(m) for m in metrics) +
                  " and the final beta_eff, each with the exact order-statistic interval of a "
                  "median and the confidence that interval has (below 6 seeds no interval reaches "
                  f"{ctx.options.level:.0%}; [min, max] is shown with its own). Metrics leave "
                  "collapsed trials out; beta_eff keeps them. headline.csv holds the numbers.")
    done = completed(df)
    s.notes += excluded_notes(done, ctx)
    if done.empty:
        s.notes.append("no finished trials: nothing to summarise")
        return s
    table = headline_table(done, metrics, include_collapsed=ctx.options.include_collapsed,
                           level=ctx.options.level)
    s.csv_only.append(("headline", table))
    names = [short_name(m) for m in metrics] + [BETA_EFF]
    shown = pd.DataFrame({"cell": table["cell"], "finished": table["n_finished"],
                          "collapsed": [pct(x) for x in table["collapse_rate"]],
                          **{n: [interval_text(r, n) for _, r in table.iterrows()] for n in names}})
    s.tables.append(("headline_shown", shown))
    return s


def beta_vs_vae_section(df: pd.DataFrame, ctx: Context) -> Section:
    o = ctx.options
    s = Section("Fixed beta >= 4 vs the VAE (paired by seed)")
    s.text.append("The literature reports higher disentanglement at beta >= 4 than at beta = 1. "
                  "Per seed the difference beta-VAE - VAE, for each beta >= 4 and for the mean "
                  f"over them, with the exact {o.level:.0%} sign-test interval of the median "
                  "difference and P(beta better) with its Clopper-Pearson interval, reported "
                  "whatever they show.")
    done = completed(df)
    s.notes += excluded_notes(done, ctx)
    table = beta_vs_vae(done, _headline_columns(ctx), fixed=o.fixed,
                        include_collapsed=o.include_collapsed,
                        level=o.level)
    table = add_q_values(table) if len(table) else table
    s.tables.append(("beta_vs_vae", table))
    if table.empty:
        s.notes.append(f"no finished VAE and {o.fixed} trials with beta >= 4 at the same settings: "
                       "no comparison")
    for _, r in table.iterrows():
        head = f"{short_name(r['metric'])}: {r['comparison']} vs VAE, {r['n_pairs']} paired seeds: "
        if r["verdict"].startswith("no conclusion"):
            s.readings.append(head + r["verdict"] + f" (median difference {num(r['median_diff'])})")
        else:
            s.readings.append(head + f"median difference {num(r['median_diff'])} "
                                     f"[{num(r['median_diff_lo'])}, {num(r['median_diff_hi'])}], "
                                     f"P(beta better) {num(r['p_better'])} "
                                     f"[{num(r['p_better_lo'])}, {num(r['p_better_hi'])}]: "
                                     f"{r['verdict']}")
    if len(table):
        s.readings.append(multiplicity_reading(list(table["verdict"]), list(table["n_pairs"]),
                                               o.level))
        s.readings.append(q_reading(table))
    return s


def metric_curves_section(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("Metrics along training")
    s.text.append("Metrics the trainer scored every eval_every steps on a small sample with the "
                  "fast DCI probe (TensorBoard metric/*): per cell the median over seeds (line), "
                  "the interquartile band (shaded) and the seeds' min and max (dotted). A curve "
                  "still moving at the last step means the run was too short for its end-of-run "
                  "value to be the metric's settled value.")
    trials = completed(df)
    traj = finished_trajectories(df, ctx)
    metrics = tracked_metrics(traj, CURVE_METRICS)
    if not metrics:
        s.notes.append("no metric/* scalars in the finished trials' TensorBoard events (the "
                       "trainer logs them when eval_every > 0; the study preset sets it): no "
                       "metric-vs-step curves")
        return s
    seen = set(traj.dropna(subset=metrics, how="all")["trial"])
    lacking = [t for t in trials["trial"] if t not in seen]
    if lacking:
        s.notes.append(f"{len(lacking)} of {len(trials)} finished trials logged no metric/* "
                       f"values: {name_list(lacking)}")
    bands = metric_bands(traj, trials, metrics)
    ends = metric_endpoints(bands)
    s.csv_only.append(("metric_curve_bands", bands))
    s.tables.append(("metric_curve_endpoints", ends))
    cost = tracking_cost(traj)
    if cost:
        s.text.append(f"Tracking cost: a median {cost['per_evaluation']:.2g} s per evaluation, "
                      f"{cost['evaluations_per_trial']:.0f} evaluations and "
                      f"{cost['per_trial']:.2g} s per trial.")
    shown = [m for m in CURVE_METRICS if m in metrics] or metrics[:4]
    add_figure(s, ctx, "metrics along training", lambda: plots.metric_curves(bands, shown))
    slopes = second_half_slopes(traj, trials, metrics, level=ctx.options.level)
    s.tables.append(("metric_second_half_slopes", slopes))
    for _, r in slopes[slopes["metric"].isin(HEADLINE_BASES)].iterrows():
        s.readings.append(
            f"{short_name(r['metric'])} of {r['cell']}, steps {r['from_step']}-{r['last_step']}: "
            f"slope {num(r['slope_per_1k'])} per 1,000 steps [{num(r['slope_lo'])}, "
            f"{num(r['slope_hi'])}], a change of {num(r['change'])} [{num(r['change_lo'])}, "
            f"{num(r['change_hi'])}] over the second half (n = {r['n_seeds']}): {r['reading']}")
    if len(slopes):
        s.readings.append(q_reading(slopes))
    return s
