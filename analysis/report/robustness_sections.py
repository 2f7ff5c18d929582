"""Sections about how robust the scores are: variance components, sensitivity to lambda and beta,
selection of L-VAE against fixed beta, and agreement between metrics.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.io.collapse import usable
from analysis.io.table import (
    completed,
    format_value,
    seeds_per_cell,
    short_name,
)
from analysis.report import plots
from analysis.report.context import (
    Context,
)
from analysis.report.html import Section
from analysis.report.text import (
    SINGLE_SEED,
    add_figure,
    excluded_notes,
    no_finished_note,
    num,
    pct,
)
from analysis.stats.agreement import AGREEMENT_COLUMNS, agreement_columns, metric_agreement
from analysis.stats.multiplicity import add_q_values, q_reading
from analysis.stats.paired import multiplicity_reading
from analysis.stats.robustness import (
    sensitivity,
    sensitivity_trend,
    variance_decomposition,
)
from analysis.studies.selection import compare_with_notes, default_lvae_lambda

#: the held-out selections of the L-VAE vs fixed-beta table: they reuse the per-beta seed pairs
LEAVE_ONE_OUT = ("best", "median", "worst")
#: components named in the readings, in order
COMPONENT_NAMES = (("cell", "cell"), ("seed", "seed"), ("cell_seed", "cell x seed (residual)"),
                   ("objective", "objective"), ("evaluation", "evaluation"))


def variance_section(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("Variance components: cell, seed and their interaction (crossed design)")
    s.text.append("Every cell runs the same seeds, so seed and cell are crossed random factors. "
                  "Components of cell, seed and cell x seed (the residual with one evaluation per "
                  "trial) by the method of moments on the cells x seeds table, with "
                  f"{ctx.options.level:.0%} generalized confidence intervals on the same unclipped "
                  "scale, so a point never lies outside its own interval; a negative component is "
                  "indistinguishable from zero. An objective share is given only with at least 4 "
                  "objectives (the row's note says why otherwise). Seeds missing a cell are "
                  "dropped. See docs/statistics.md.")
    done = completed(df)
    s.notes += no_finished_note(done) + excluded_notes(done, ctx)
    table = variance_decomposition(done, ctx.metrics, level=ctx.options.level,
                                   seed=ctx.options.seed,
                                   include_collapsed=ctx.options.include_collapsed)
    s.tables.append(("variance_decomposition", table))
    if len(done) and (seeds_per_cell(done) <= 1).all():
        s.notes.append(f"{SINGLE_SEED}; seed and cell x seed variance cannot be told apart (NaN "
                       "below)")
    for metric, rows in table[table["metric"].isin(ctx.headline)].groupby("metric", sort=False):
        by = rows.set_index("component")
        parts = [f"{name} {pct(by.at[k, 'share'])} [{pct(by.at[k, 'share_lo'])}, "
                 f"{pct(by.at[k, 'share_hi'])}]"
                 for k, name in COMPONENT_NAMES if k in by.index and pd.notna(by.at[k, "share"])]
        if parts:
            first = rows.iloc[0]
            s.readings.append(f"share of {short_name(metric)} variance: " + ", ".join(parts)
                              + f" ({first['n_trials']} trials, {first['n_cells']} cells x "
                              f"{first['n_seeds']} seeds)")
        for note in sorted({str(n) for n in rows["note"].dropna() if str(n)}):
            s.notes.append(f"{short_name(metric)}: {note}")
    return s


def _axes(ctx: Context) -> list[tuple[str, str, str]]:
    return [(ctx.options.lvae, "hp.lambda", "lambda"), (ctx.options.fixed, "hp.beta", "beta")]


def sensitivity_section(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("Sensitivity to the regulariser strength (lambda) and to beta")
    done = completed(df)
    s.notes += excluded_notes(done, ctx)
    keep = ctx.options.include_collapsed
    trends = []
    for objective, param, short in _axes(ctx):
        sub = done[done["objective"] == objective]
        if sub.empty or param not in sub.columns or sub[param].isna().all():
            s.notes.append(f"no finished {objective} trials with {param}: no {short} curve")
            continue
        table = sensitivity(done, objective, param, ctx.metrics, include_collapsed=keep)
        s.tables.append((f"sensitivity_{short}", table))
        trends.append(sensitivity_trend(done, objective, param, ctx.metrics,
                                        include_collapsed=keep))
        add_figure(s, ctx, f"{' and '.join(short_name(m) for m in ctx.headline)} vs {short} "
                           f"({objective})",
                   lambda table=table: plots.sensitivity_curves(table, ctx.headline))
        if (sub.groupby(param)["seed"].nunique() <= 1).all():
            s.notes.append(f"{objective}: {SINGLE_SEED} (one seed per {short} value)")
    if trends:
        trend = pd.concat(trends, ignore_index=True)
        s.tables.append(("sensitivity_trend", trend))
        for _, r in trend[trend["metric"].isin(ctx.headline)].iterrows():
            if r["n_values"] < 2:
                s.notes.append(f"{r['objective']}: only one {short_name(r['param'])} value swept, "
                               f"no trend for {short_name(r['metric'])}")
                continue
            s.readings.append(f"{short_name(r['metric'])} vs {short_name(r['param'])} "
                              f"({r['objective']}): Spearman rho = {num(r['spearman_rho'])} over "
                              f"{r['n_trials']} trials")
    return s


def selection_section(df: pd.DataFrame, ctx: Context) -> Section:
    o = ctx.options
    s = Section(f"Selection without labels: {o.lvae} at its default lambda vs fixed beta "
                f"({o.fixed}, VAE = beta 1)")
    s.text.append("Paired over shared seeds (the same seed gives every objective the same initial "
                  "weights and data order): median of the per-seed differences L-VAE - fixed with "
                  f"an exact {o.level:.0%} sign-test interval, and P(L-VAE better on a seed) with "
                  "an exact Clopper-Pearson interval. best/median/worst: the fixed beta ranked so "
                  "on the other seeds (leave-one-seed-out), never on the seed it is compared on. "
                  "See docs/analysis.md.")
    done = completed(df)
    present = set(done["objective"])
    for obj in (o.lvae, o.fixed):
        if obj not in present and not (obj == o.fixed and "vae" in present):
            s.notes.append(f"no finished {obj} trials: comparison not possible")
    lam = o.default_lambda if o.default_lambda is not None else default_lvae_lambda(o.lvae)
    if lam is None:
        s.notes.append("the L-VAE default lambda is unknown "
                       f"(lvae.objectives.OBJECTIVES[{o.lvae!r}] has no default): compared at the "
                       "median swept lambda")
    s.notes += excluded_notes(done, ctx)
    table, notes = compare_with_notes(done, ctx.metrics, default_lambda=lam, lvae=o.lvae,
                                      fixed=o.fixed,
                                      include_collapsed=o.include_collapsed, level=o.level)
    s.notes += notes if o.lvae in present else []
    table = add_q_values(table, ~table["comparison"].isin(LEAVE_ONE_OUT)) if len(table) else table
    s.tables.append(("lvae_vs_fixed_beta", table))
    if lam is not None and len(table):
        off = table[~np.isclose(table["lambda_used"], lam)]
        if len(off):
            s.notes.append(f"default lambda {lam:g} was not swept: nearest swept lambda "
                           f"{format_value(off['lambda_used'].iloc[0])} used instead")
    if len(table) and (table["selection"].str.startswith("in-sample")).any():
        s.notes.append("best/median/worst fixed beta chosen on the same seeds they are compared "
                       "on (no other seeds to choose on): those rows are selection-biased in "
                       "favour of the fixed beta for 'best' and against it for 'worst'")
    rows = table[table["metric"].isin(ctx.headline)
                 & table["comparison"].isin(["median", "beta=1"])]
    s.readings += [selection_reading(r) for _, r in rows.iterrows()]
    # every metric and comparison in the table (the CSV), not only the readings above
    if len(table):
        s.readings.append(
            multiplicity_reading(list(table["verdict"]), list(table["n_pairs"]), o.level)
        )
        s.readings.append(
            q_reading(table) + "; the leave-one-seed-out best/median/worst rows "
            "reuse the per-beta seed pairs and are not counted"
        )
    return s


def selection_reading(r: pd.Series) -> str:
    """One comparison row in words, with its number of seeds and its interval."""
    against = (
        f"beta = 1 ({r['fixed_cell']})"
        if r["comparison"] == "beta=1"
        else f"the {r['comparison']} fixed beta ({r['selection'].split(' (')[0]}: "
        f"{r['fixed_cell']})"
    )
    head = (
        f"{short_name(r['metric'])}: L-VAE default (lambda={format_value(r['lambda_used'])}) "
        f"vs {against}, {r['n_pairs']} paired seeds: "
    )
    if r["verdict"].startswith("no conclusion"):
        return head + r["verdict"] + f" (median difference {num(r['median_diff'])})"
    return (
        head + f"median difference {num(r['median_diff'])} [{num(r['median_diff_lo'])}, "
        f"{num(r['median_diff_hi'])}], P(L-VAE better) {num(r['p_better'])} "
        f"[{num(r['p_better_lo'])}, {num(r['p_better_hi'])}]: {r['verdict']}"
    )


def agreement_section(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("Agreement between metrics")
    done = usable(completed(df), ctx.options.include_collapsed)
    s.notes += excluded_notes(completed(df), ctx)
    cols = agreement_columns(done)
    absent = [c for c in AGREEMENT_COLUMNS if c not in cols]
    if absent:
        s.notes.append(
            f"left out of the correlation (no values): {', '.join(short_name(c) for c in absent)}"
        )
    if len(done) < 3:
        s.notes.append(f"only {len(done)} finished trial(s): rank correlations need at least 3")
    corr = metric_agreement(done)
    s.tables.append(("metric_agreement", corr.reset_index(names="metric")))
    add_figure(
        s, ctx, "Spearman correlation between metrics", lambda: plots.correlation_heatmap(corr)
    )
    return s
