"""Sections about what was run: the scale of the study, the trials, the metric distributions and
the learned-beta dynamics.
"""

from __future__ import annotations

import pandas as pd

from analysis.io.activity import fill_active_units
from analysis.io.collapse import usable
from analysis.io.events import trials_without_events
from analysis.io.table import (
    BETA_EFF,
    DONE,
    HEADLINE_METRICS,
    LOSS_KL,
    completed,
    seeds_per_cell,
    short_name,
)
from analysis.report import plots
from analysis.report.context import (
    Context,
    finished_trajectories,
    positive_controls,
)
from analysis.report.html import Section
from analysis.report.text import (
    DEMO_STATEMENT,
    _setting,
    _steps,
    add_figure,
    collapsed_notes,
    demo_presets,
    excluded_notes,
    guarded,
    name_list,
    no_finished_note,
    num,
    pct,
    single_seed_notes,
)
from analysis.stats.robustness import (
    cell_summary,
    collapse_summary,
)
from analysis.stats.trajectories import trajectory_bands, trajectory_endpoints
from analysis.studies.controls import (
    controls_verdict,
    opening_statement,
)


def scale_section(df: pd.DataFrame, ctx: Context) -> Section:
    """What scale the numbers below come from: the first thing a reader needs."""
    s = Section("Scale of this study")
    controls = positive_controls(df, ctx)
    failed = controls_verdict(controls) == "failed"
    if failed:  # the first sentence of the report
        s.text.append(opening_statement(controls))
    demo = demo_presets(df)
    if demo:
        s.text.append(DEMO_STATEMENT.format(presets=", ".join(demo)))
    if not failed:
        s.text.append(opening_statement(controls) + " See 'Positive controls'.")
    done = completed(df)
    for exp, g in df.groupby("exp_name", sort=True):
        seeds = seeds_per_cell(done[done["exp_name"] == exp]) if len(done) else pd.Series(dtype=int)
        spread = (f"{seeds.min()}" if len(seeds) and seeds.min() == seeds.max()
                  else f"{seeds.min()}-{seeds.max()}" if len(seeds) else "0")
        s.text.append(
            f"{exp}: preset {_setting(g, 'preset') or '?'}, {_steps(g)} training steps, "
            f"{g['cell'].nunique()} cells with {spread} finished seed(s) each; metrics with DCI "
            f"probe {_setting(g, 'eval.probe')}, {_setting(g, 'eval.num_train')} training / "
            f"{_setting(g, 'eval.num_test')} test samples, {_setting(g, 'eval.num_bins')} bins, "
            f"{_setting(g, 'eval.representation')} codes, evaluation seed "
            f"{_setting(g, 'eval.seed')}")
    if "metric_settings" in df.columns and df["metric_settings"].nunique() > 1:
        s.notes.append("experiments scored with different metric settings are kept apart: each "
                       "metric appears once per setting, labelled [setting]")
    return s


def overview_section(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("Experiments and trials")
    for exp, g in df.groupby("exp_name", sort=True):
        counts = ", ".join(f"{k}: {v}" for k, v in g["status"].value_counts().sort_index().items())
        s.text.append(f"{exp} ({g['exp_dir'].iloc[0]}): {len(g)} trials ({counts}); "
                      f"objectives {', '.join(sorted(g['objective'].unique()))}")
    failed = df[df["status"] == "ERROR"]
    if len(failed):
        msgs = [f"{t} ({e.strip().splitlines()[-1] if e.strip() else 'no message'})"
                for t, e in zip(failed["trial"], failed["error"], strict=True)]
        s.notes.append(f"{len(failed)} trials failed: {name_list(msgs)}")
    other = df[~df["status"].isin([DONE, "ERROR"])]
    if len(other):
        s.notes.append(f"{len(other)} trials not finished "
                       f"({', '.join(sorted(other['status'].unique()))}), left out: "
                       f"{name_list(list(other['trial']))}")
    done = completed(df)
    s.notes += no_finished_note(done)
    for m in HEADLINE_METRICS[:2]:
        if m not in df.columns:
            s.notes.append(f"metric {short_name(m)} missing for all trials (no {m} column)")
    never = [m for m in ctx.metrics if len(done) and done[m].isna().all()]
    if never:
        s.notes.append(f"metrics missing for every finished trial (not computed?): "
                       f"{', '.join(short_name(m) for m in never)}")
    for m in ctx.metrics:
        miss = done.loc[done[m].isna(), "trial"].tolist()
        if miss and m not in never:
            s.notes.append(f"metric {short_name(m)} missing for {len(miss)} of {len(done)} "
                           f"finished trials: {name_list(miss)}")
    s.notes += collapsed_notes(done)
    s.notes += single_seed_notes(done)
    cols = ["trial", "status", "cell", "seed", "steps", LOSS_KL, BETA_EFF, "wall_time_s", "error"]
    s.tables.append(("trials", df[[c for c in cols if c in df.columns]]))
    return s


def distributions_section(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("Metric distributions per cell")
    done = completed(df)
    s.notes += no_finished_note(done) + single_seed_notes(done) + excluded_notes(done, ctx)
    if ctx.options.models:
        filled: dict[str, pd.DataFrame] = {}

        def fill() -> None:
            filled["trials"] = fill_active_units(done, seed=ctx.options.seed,
                                                 load_run=ctx.options.load_run)

        guarded(s, "active units from the checkpoints", fill)
        done = filled.get("trials", done)
    collapse = collapse_summary(done)
    s.text.append("Active units per cell (medians over trials): by KL, latents whose final KL "
                  "exceeds 0.01 nats (active_dims); by the variance over inputs of the posterior "
                  "mean (Burda et al. 2016), latents with Var_x(mu_j) > 0.01 (active_units). "
                  "Neither decides collapse.")
    s.tables.append(("collapse_per_cell", collapse))
    for _, r in collapse[collapse["n_collapsed"] > 0].iterrows():
        s.readings.append(f"{r['cell']}: {r['n_collapsed']} of {r['n_finished']} finished trials "
                          f"collapsed ({pct(r['collapse_rate'])})")
    table = cell_summary(done, ctx.metrics, include_collapsed=ctx.options.include_collapsed)
    s.tables.append(("cell_summary", table))
    names = " and ".join(short_name(m) for m in ctx.headline)
    shown = usable(done, ctx.options.include_collapsed)
    add_figure(s, ctx, f"{names} per cell", lambda: plots.metric_boxplots(shown, ctx.headline))
    return s


def dynamics_section(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("beta_eff dynamics")
    s.text.append("Effective beta (the weight of the KL gradient relative to reconstruction) over "
                  "training; median and IQR over seeds per cell, log scale.")
    trials = df[df["status"] == DONE]
    traj = finished_trajectories(df, ctx)
    missing = trials_without_events(trials, traj)
    if missing:
        s.notes.append(f"no TensorBoard events for {len(missing)} of {len(trials)} finished "
                       f"trials: {name_list(missing)}")
    bands = trajectory_bands(traj, trials)
    ends = trajectory_endpoints(traj, trials)
    s.tables.append(("beta_endpoints", ends))
    s.csv_only.append(("beta_trajectory_bands", bands))
    add_figure(s, ctx, "beta_eff trajectories", lambda: plots.beta_trajectories(bands))
    for _, r in ends[ends["objective"] == ctx.options.lvae].iterrows():
        s.readings.append(f"beta_eff of {r['cell']} moved from {num(r['start_median'])} (step "
                          f"{r['first_step']}) to {num(r['end_median'])} (step {r['last_step']}), "
                          f"median over {r['n_seeds']} seed(s)")
    return s
