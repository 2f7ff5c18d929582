"""Sections that load trained models: UDR model selection and latent traversals.
"""

from __future__ import annotations

import pandas as pd

from analysis.io.model_io import encode_runs, traversal_image
from analysis.io.table import (
    HEADLINE_METRICS,
    seeds_per_cell,
    short_name,
)
from analysis.report import plots
from analysis.report.context import (
    Context,
)
from analysis.report.html import Section
from analysis.report.text import (
    add_figure,
    guarded,
    model_notes,
    name_list,
    num,
    pct,
)
from analysis.studies.unsupervised_selection import udr_for_trials, udr_selection


def model_prelude(df: pd.DataFrame, ctx: Context, s: Section) -> bool:
    if not ctx.options.models:
        s.notes.append("skipped: model-based sections were turned off (models=False / --no-models)")
        return False
    s.notes += model_notes(df, ctx)
    return bool(ctx.with_model)


def udr_section(df: pd.DataFrame, ctx: Context) -> Section:
    o = ctx.options
    s = Section("Unsupervised model selection (UDR) vs supervised metrics")
    if not model_prelude(df, ctx, s):
        return s
    s.text.append("UDR (Duan et al. 2020, Spearman variant, KL > 0.01 active latents) within each "
                  f"cell over its seeds, on {o.udr_samples} observations shared by all models.")
    usable = df[df["trial"].isin(ctx.with_model)]
    lone = sorted(c for c, n in seeds_per_cell(usable).items() if n < 2)
    if lone:
        s.notes.append(f"{len(lone)} cell(s) with fewer than two loadable seeds get no UDR: "
                       f"{name_list(lone)}")

    def run() -> None:
        def encode(run_dirs: list[str]):
            return encode_runs(run_dirs, o.udr_samples, o.seed, load_run=o.load_run)

        scores = udr_for_trials(usable, encode)
        s.tables.append(("udr_scores", scores))
        if scores["udr"].notna().sum() < 2:
            s.notes.append("fewer than two models have a UDR score: selection not compared")
            return
        sel = udr_selection(df, scores, ctx.headline, seed=o.seed)
        s.tables.append(("udr_selection", sel))
        for _, r in sel[sel["pool"] == "all"].iterrows():
            if "p_top_quartile_udr" in r and pd.notna(r["p_top_quartile_udr"]):
                s.readings.append(
                    f"UDR's pick is in the top quartile of {short_name(r['metric'])} in "
                    f"{pct(r['p_top_quartile_udr'])} of random pools of {r['subset_size']} models "
                    f"(random pick: {pct(r['p_top_quartile_random'])}); Spearman(UDR, metric) = "
                    f"{num(r['spearman_udr'])}")

    guarded(s, "UDR", run)
    return s


def traversals_section(df: pd.DataFrame, ctx: Context) -> Section:
    o = ctx.options
    s = Section("Latent traversals of the best and the median model")
    if not model_prelude(df, ctx, s):
        return s
    if not o.figures:
        s.text.append("figures turned off (figures=False)")
        return s
    by = HEADLINE_METRICS[0]
    d = df[df["trial"].isin(ctx.with_model)]
    if by not in d.columns or d[by].isna().all():
        s.notes.append(f"metric {short_name(by)} missing for every model with a checkpoint: no "
                       "ranking")
        return s
    d = d[d[by].notna()].sort_values(by, ascending=False, kind="stable")
    picks = {"best": d.iloc[0], "median": d.iloc[(len(d) - 1) // 2]}
    s.text.append("Each row sweeps one latent over [-2, 2] with the others at the mean code of one "
                  "sampled image.")
    for label, row in picks.items():
        def run(row: pd.Series = row, label: str = label) -> None:
            grid = traversal_image(row["run_dir"], seed=o.seed, load_run=o.load_run)
            title = f"{label} by {short_name(by)}: {row['trial']} ({row['cell']}, {num(row[by])})"
            add_figure(s, ctx, title, lambda: plots.traversal_figure(grid, title))

        guarded(s, f"traversal of the {label} model", run)
    return s
