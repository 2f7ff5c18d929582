"""The sections of the report: each turns the trial table into tables, figures, an
automatic reading of the numbers and visible notes about what is missing.

Every builder has the signature ``(df, ctx) -> Section`` and is listed, in report order,
in :data:`analysis.report.build.SECTIONS`; problems with the data (failed trials, missing metrics or files, a
single seed) become notes in place instead of errors.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.io.collapse import ACTIVE_KL, usable
from analysis.io.load import read_trajectories, trials_without_events
from analysis.io.model_io import LoadRun, encode_runs, has_checkpoint, traversal_image
from analysis.io.pooling import base_metric
from analysis.io.table import (
    BETA_EFF,
    DONE,
    HEADLINE_METRICS,
    LOSS_KL,
    TRAIN_STEPS,
    completed,
    format_value,
    metric_columns,
    seeds_per_cell,
    short_name,
)
from analysis.report import plots
from analysis.report.html import Section
from analysis.stats.agreement import AGREEMENT_COLUMNS, agreement_columns, metric_agreement
from analysis.stats.paired import multiplicity_reading
from analysis.stats.robustness import (
    cell_summary,
    collapse_summary,
    sensitivity,
    sensitivity_trend,
    variance_decomposition,
)
from analysis.stats.trajectories import trajectory_bands, trajectory_endpoints
from analysis.studies.controls import (
    beta_grid_control,
    controls_table,
    lvae_tracking_control,
    opening_statement,
    verdict,
)
from analysis.studies.selection import compare_with_notes, default_lvae_lambda
from analysis.studies.stability import Evaluate
from analysis.studies.unsupervised_selection import udr_for_trials, udr_selection

#: how many trial names a note lists before summarising the rest.
LIST_LIMIT = 20
SINGLE_SEED = "only one seed per cell: spread cannot be estimated"
#: presets whose reports demonstrate the pipeline and carry no evidence about L-VAE
DEMO_PRESETS = ("smoke", "local")
DEMO_STATEMENT = ("This report demonstrates the pipeline; it is not evidence about L-VAE. Preset(s) {presets} "
                  "train for a few hundred steps or fewer, with small metric samples, and their metric "
                  "differences are expected to be noise.")


@dataclass
class ReportOptions:
    """What the report computes. The defaults are cheap enough for a CPU at sweep end."""

    metrics: list[str] | None = None  # metric.* columns summarised (None: all present)
    lvae: str = "lvae"
    fixed: str = "beta_vae"
    default_lambda: float | None = None  # None: lvae.objectives' default
    models: bool = True  # sections that load checkpoints (stability, UDR, traversals)
    stability_models: int = 6
    stability_settings: dict[str, dict[str, Any]] | None = None  # None: stability.capped_settings()
    stability_fits: int | None = None  # DCI re-fits budgeted (None: stability.fit_budget; ignored with stability_settings)
    parity_probe: bool = False  # add the slow disentanglement_lib DCI probe to stability
    udr_samples: int = 1000
    figures: bool = True  # False: tables and notes only (fast)
    include_collapsed: bool = False  # True: collapsed trials stay in summaries and comparisons
    keep_apart: bool = False  # experiments scored with different metric settings get separate columns
    level: float = 0.95  # confidence level of every interval
    seed: int = 0
    n_jobs: int | None = None  # parallel metric fits when re-scoring models (None: every core)
    evaluate: Evaluate | None = None  # None: encode once per model and score from codes (analysis.studies.rescoring)
    load_run: LoadRun | None = None  # None: lvae.evaluate.load_run


@dataclass
class Context:
    options: ReportOptions
    metrics: list[str]
    headline: list[str]
    with_model: list[str] = field(default_factory=list)  # finished trials with a checkpoint
    trajectories: pd.DataFrame | None = None  # finished trials' TensorBoard scalars (read once)
    controls: pd.DataFrame | None = None  # positive controls (computed once)
    #: slow work started before the sections are built, collected by its section
    #: (analysis.report.stability_section.start_stability)
    background: dict[str, Any] = field(default_factory=dict)


def finished_trajectories(df: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """The finished trials' scalars (beta_eff, losses, objective.*, metric.*), read once per
    report: several sections use them and reading TensorBoard events is not free."""
    if ctx.trajectories is None:
        ctx.trajectories = read_trajectories(df[df["status"] == DONE], include_metrics=True)
    return ctx.trajectories


def positive_controls(df: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """The controls table (analysis.studies.controls), computed once: the report opens with its verdict."""
    if ctx.controls is None:
        o = ctx.options
        ctx.controls = controls_table([beta_grid_control(df, o.fixed, level=o.level, seed=o.seed),
                                       lvae_tracking_control(df, finished_trajectories(df, ctx), o.lvae)])
    return ctx.controls


def report_title(df: pd.DataFrame, ctx: Context) -> str:
    """The page title, which already says when the numbers are not evidence."""
    title = "Robustness of DCI and MIG: " + ", ".join(sorted(df["exp_name"].unique()))
    if verdict(positive_controls(df, ctx)) == "failed":
        title += " (positive controls failed: the comparisons are not findings)"
    if demo_presets(df):
        title += " (pipeline demonstration, not evidence about L-VAE)"
    return title


def name_list(items: list[str]) -> str:
    shown = ", ".join(items[:LIST_LIMIT])
    return shown + (f" and {len(items) - LIST_LIMIT} more" if len(items) > LIST_LIMIT else "")


def pct(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{100 * x:.0f}%"


def num(x: float) -> str:
    return "n/a" if pd.isna(x) else f"{x:.3g}"


def single_seed_notes(done: pd.DataFrame) -> list[str]:
    if done.empty:
        return []
    seeds = seeds_per_cell(done)
    if (seeds <= 1).all():
        return [SINGLE_SEED]
    lone = sorted(seeds.index[seeds <= 1])
    return [f"{len(lone)} cell(s) have one seed, spread not estimated there: {name_list(lone)}"] if lone else []


def collapsed_notes(done: pd.DataFrame) -> list[str]:
    """Trials whose posterior collapsed: DCI and friends still return numbers for them
    (e.g. DCI disentanglement near 0.4 on noise), which a reader must not mistake for signal."""
    if "collapsed" not in done.columns or done.empty:
        return []
    low = done[done["collapsed"].astype(bool)]
    if low.empty:
        return []
    names = [f"{t} (KL {kl:.2g})" for t, kl in zip(low["trial"], low[LOSS_KL], strict=True)]
    return [f"{len(low)} of {len(done)} finished trials ended with a collapsed posterior (no latent "
            f"with a final KL above {ACTIVE_KL:g} nats), so their codes carry almost no information and "
            f"their metrics score noise; they are left out of the summaries and comparisons below: "
            f"{name_list(names)}"]


def excluded_notes(done: pd.DataFrame, ctx: Context) -> list[str]:
    """How many collapsed trials each cell lost (said where they are left out)."""
    if ctx.options.include_collapsed or "collapsed" not in done.columns:
        return []
    lost = done[done["collapsed"].astype(bool)].groupby("cell").size()
    total = done.groupby("cell").size()
    if lost.empty:
        return []
    parts = [f"{cell} ({n} of {total[cell]})" for cell, n in lost.items()]
    return [f"collapsed trials left out, per cell: {name_list(parts)}"]


def no_finished_note(done: pd.DataFrame) -> list[str]:
    return [] if len(done) else ["no finished trials: nothing to summarise"]


def add_figure(s: Section, ctx: Context, title: str, make: Callable[[], Figure]) -> None:
    """Draw a figure into the section unless figures are turned off (a text-only report)."""
    if ctx.options.figures:
        s.figures.append((title, plots.png_bytes(make())))
    elif "figures turned off (figures=False)" not in s.text:
        s.text.append("figures turned off (figures=False)")


# ---------------------------------------------------------------- sections
def _steps(g: pd.DataFrame) -> str:
    steps = g[TRAIN_STEPS] if TRAIN_STEPS in g else g["steps"]
    return ", ".join(format_value(v) for v in sorted(pd.to_numeric(steps, errors="coerce").dropna().unique())) or "?"


def _setting(g: pd.DataFrame, col: str) -> str:
    if col not in g.columns or g[col].isna().all():
        return "not recorded"
    return ", ".join(sorted({format_value(v) for v in g[col].dropna()}))


def demo_presets(df: pd.DataFrame) -> list[str]:
    """The demonstration presets (smoke, local) among the experiments."""
    return sorted({str(p) for p in df.get("preset", pd.Series(dtype=str)).dropna()} & set(DEMO_PRESETS))


def scale_section(df: pd.DataFrame, ctx: Context) -> Section:
    """What scale the numbers below come from: the first thing a reader needs."""
    s = Section("Scale of this study")
    controls = positive_controls(df, ctx)
    failed = verdict(controls) == "failed"
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
            f"{g['cell'].nunique()} cells with {spread} finished seed(s) each; metrics with DCI probe "
            f"{_setting(g, 'eval.probe')}, {_setting(g, 'eval.num_train')} training / "
            f"{_setting(g, 'eval.num_test')} test samples, {_setting(g, 'eval.num_bins')} bins, "
            f"{_setting(g, 'eval.representation')} codes, evaluation seed {_setting(g, 'eval.seed')}")
    if "metric_settings" in df.columns and df["metric_settings"].nunique() > 1:
        s.notes.append("experiments scored with different metric settings are kept apart: each metric "
                       "appears once per setting, labelled [setting]")
    return s


def overview(df: pd.DataFrame, ctx: Context) -> Section:
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
        s.notes.append(f"{len(other)} trials not finished ({', '.join(sorted(other['status'].unique()))}), "
                       f"left out: {name_list(list(other['trial']))}")
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
            s.notes.append(f"metric {short_name(m)} missing for {len(miss)} of {len(done)} finished "
                           f"trials: {name_list(miss)}")
    s.notes += collapsed_notes(done)
    s.notes += single_seed_notes(done)
    cols = ["trial", "status", "cell", "seed", "steps", LOSS_KL, BETA_EFF, "wall_time_s", "error"]
    s.tables.append(("trials", df[[c for c in cols if c in df.columns]]))
    return s


def distributions(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("Metric distributions per cell")
    done = completed(df)
    s.notes += no_finished_note(done) + single_seed_notes(done) + excluded_notes(done, ctx)
    collapse = collapse_summary(done)
    s.tables.append(("collapse_per_cell", collapse))
    for _, r in collapse[collapse["n_collapsed"] > 0].iterrows():
        s.readings.append(f"{r['cell']}: {r['n_collapsed']} of {r['n_finished']} finished trials collapsed "
                          f"({pct(r['collapse_rate'])})")
    table = cell_summary(done, ctx.metrics, include_collapsed=ctx.options.include_collapsed)
    s.tables.append(("cell_summary", table))
    names = " and ".join(short_name(m) for m in ctx.headline)
    shown = usable(done, ctx.options.include_collapsed)
    add_figure(s, ctx, f"{names} per cell", lambda: plots.metric_boxplots(shown, ctx.headline))
    return s


def variance(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("Variance decomposition: objective vs hyperparameter vs seed")
    s.text.append("Variance components of a nested random-effects model (objective > cell within objective "
                  "> seed), estimated without bias from mean squares and their degrees of freedom (ANOVA "
                  f"estimators for unbalanced designs), with {ctx.options.level:.0%} generalized confidence "
                  "intervals. A share can be negative: that component is indistinguishable from zero. "
                  "See docs/analysis.md.")
    done = completed(df)
    s.notes += no_finished_note(done) + excluded_notes(done, ctx)
    table = variance_decomposition(done, ctx.metrics, level=ctx.options.level, seed=ctx.options.seed,
                                   include_collapsed=ctx.options.include_collapsed)
    s.tables.append(("variance_decomposition", table))
    if len(done) and (seeds_per_cell(done) <= 1).all():
        s.notes.append(f"{SINGLE_SEED}; seed and hyperparameter variance cannot be told apart (NaN below)")
    for _, r in table[table["metric"].isin(ctx.headline)].iterrows():
        if pd.isna(r.get("share_seed")):
            continue
        parts = [f"{name} {pct(r[f'share_{k}'])} [{pct(r[f'share_{k}_lo'])}, {pct(r[f'share_{k}_hi'])}]"
                 for k, name in (("seed", "seed"), ("hyperparameter", "hyperparameters within an objective"),
                                 ("objective", "objective")) if pd.notna(r[f"share_{k}"])]
        s.readings.append(f"share of {short_name(r['metric'])} variance: " + ", ".join(parts)
                          + f" ({r['n_trials']} trials, {r['n_cells']} cells, {r['n_objectives']} objectives)")
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
        trends.append(sensitivity_trend(done, objective, param, ctx.metrics, include_collapsed=keep))
        add_figure(s, ctx, f"{' and '.join(short_name(m) for m in ctx.headline)} vs {short} ({objective})",
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
            s.readings.append(f"{short_name(r['metric'])} vs {short_name(r['param'])} ({r['objective']}): "
                              f"Spearman rho = {num(r['spearman_rho'])} over {r['n_trials']} trials")
    return s


def selection_section(df: pd.DataFrame, ctx: Context) -> Section:
    o = ctx.options
    s = Section(f"Selection without labels: {o.lvae} at its default lambda vs fixed beta ({o.fixed}, VAE = beta 1)")
    s.text.append(f"Paired over shared seeds (the same seed gives every objective the same initial weights and "
                  f"data order): median of the per-seed differences L-VAE - fixed with an exact {o.level:.0%} "
                  "sign-test interval, and P(L-VAE better on a seed) with an exact Clopper-Pearson interval. "
                  "best/median/worst: the fixed beta ranked so on the other seeds (leave-one-seed-out), "
                  "never on the seed it is compared on. See docs/analysis.md.")
    done = completed(df)
    present = set(done["objective"])
    for obj in (o.lvae, o.fixed):
        if obj not in present and not (obj == o.fixed and "vae" in present):
            s.notes.append(f"no finished {obj} trials: comparison not possible")
    lam = o.default_lambda if o.default_lambda is not None else default_lvae_lambda(o.lvae)
    if lam is None:
        s.notes.append(f"the L-VAE default lambda is unknown (lvae.objectives.OBJECTIVES[{o.lvae!r}] has "
                       "no default): compared at the median swept lambda")
    s.notes += excluded_notes(done, ctx)
    table, notes = compare_with_notes(done, ctx.metrics, default_lambda=lam, lvae=o.lvae, fixed=o.fixed,
                                      include_collapsed=o.include_collapsed, level=o.level)
    s.notes += notes if o.lvae in present else []
    s.tables.append(("lvae_vs_fixed_beta", table))
    if lam is not None and len(table):
        off = table[~np.isclose(table["lambda_used"], lam)]
        if len(off):
            s.notes.append(f"default lambda {lam:g} was not swept: nearest swept lambda "
                           f"{format_value(off['lambda_used'].iloc[0])} used instead")
    if len(table) and (table["selection"].str.startswith("in-sample")).any():
        s.notes.append("best/median/worst fixed beta chosen on the same seeds they are compared on (no other "
                       "seeds to choose on): those rows are selection-biased in favour of the fixed beta "
                       "for 'best' and against it for 'worst'")
    rows = table[table["metric"].isin(ctx.headline) & table["comparison"].isin(["median", "beta=1"])]
    s.readings += [selection_reading(r) for _, r in rows.iterrows()]
    if len(table):  # every metric and comparison in the table (the CSV), not only the readings above
        s.readings.append(multiplicity_reading(list(table["verdict"]), list(table["n_pairs"]), o.level))
    return s


def selection_reading(r: pd.Series) -> str:
    """One comparison row in words, with its number of seeds and its interval."""
    against = (f"beta = 1 ({r['fixed_cell']})" if r["comparison"] == "beta=1"
               else f"the {r['comparison']} fixed beta ({r['selection'].split(' (')[0]}: {r['fixed_cell']})")
    head = (f"{short_name(r['metric'])}: L-VAE default (lambda={format_value(r['lambda_used'])}) vs {against}, "
            f"{r['n_pairs']} paired seeds: ")
    if r["verdict"].startswith("no conclusion"):
        return head + r["verdict"] + f" (median difference {num(r['median_diff'])})"
    return (head + f"median difference {num(r['median_diff'])} [{num(r['median_diff_lo'])}, "
            f"{num(r['median_diff_hi'])}], P(L-VAE better) {num(r['p_better'])} "
            f"[{num(r['p_better_lo'])}, {num(r['p_better_hi'])}]: {r['verdict']}")


def agreement_section(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("Agreement between metrics")
    done = usable(completed(df), ctx.options.include_collapsed)
    s.notes += excluded_notes(completed(df), ctx)
    cols = agreement_columns(done)
    absent = [c for c in AGREEMENT_COLUMNS if c not in cols]
    if absent:
        s.notes.append(f"left out of the correlation (no values): {', '.join(short_name(c) for c in absent)}")
    if len(done) < 3:
        s.notes.append(f"only {len(done)} finished trial(s): rank correlations need at least 3")
    corr = metric_agreement(done)
    s.tables.append(("metric_agreement", corr.reset_index(names="metric")))
    add_figure(s, ctx, "Spearman correlation between metrics", lambda: plots.correlation_heatmap(corr))
    return s


def dynamics(df: pd.DataFrame, ctx: Context) -> Section:
    s = Section("beta_eff dynamics")
    s.text.append("Effective beta (the weight of the KL gradient relative to reconstruction) over "
                  "training; median and IQR over seeds per cell, log scale.")
    trials = df[df["status"] == DONE]
    traj = finished_trajectories(df, ctx)
    missing = trials_without_events(trials, traj)
    if missing:
        s.notes.append(f"no TensorBoard events for {len(missing)} of {len(trials)} finished trials: "
                       f"{name_list(missing)}")
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


def guarded(s: Section, what: str, fn: Callable[[], None]) -> None:
    """Run a model-loading step; a failure becomes a visible note, never a crash."""
    try:
        fn()
    except Exception as exc:  # any failure of external code is reported in place
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        s.notes.append(f"{what} not computed: {last}")


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
    s.text.append(f"UDR (Duan et al. 2020, Spearman variant, KL > 0.01 active latents) within each cell "
                  f"over its seeds, on {o.udr_samples} observations shared by all models.")
    usable = df[df["trial"].isin(ctx.with_model)]
    lone = sorted(c for c, n in seeds_per_cell(usable).items() if n < 2)
    if lone:
        s.notes.append(f"{len(lone)} cell(s) with fewer than two loadable seeds get no UDR: {name_list(lone)}")

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
        s.notes.append(f"metric {short_name(by)} missing for every model with a checkpoint: no ranking")
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


def make_context(df: pd.DataFrame, options: ReportOptions) -> Context:
    metrics = options.metrics if options.metrics is not None else metric_columns(df)
    unknown = [m for m in metrics if m not in df.columns]
    if unknown:
        raise KeyError(f"metric column(s) {unknown} not in the results; present: {metric_columns(df)}")
    headline = [m for h in HEADLINE_METRICS for m in metrics if base_metric(m) == h][:2] or list(metrics[:2])
    done = completed(df)
    with_model = [t for t, r in zip(done["trial"], done["run_dir"], strict=True) if has_checkpoint(r)]
    return Context(options=options, metrics=list(metrics), headline=headline, with_model=with_model)


def model_notes(df: pd.DataFrame, ctx: Context) -> list[str]:
    done = completed(df)
    lacking = [t for t in done["trial"] if t not in set(ctx.with_model)]
    if not ctx.with_model:
        return [f"no checkpoint for any of the {len(done)} finished trials: nothing to load"]
    if lacking:
        return [f"no checkpoint for {len(lacking)} of {len(done)} finished trials (left out of the "
                f"model-based sections): {name_list(lacking)}"]
    return []
