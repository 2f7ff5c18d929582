"""The report's opening: does learning beta add anything beyond the beta it settles at, and
is each score above its metric's floor? (docs/analysis.md, "Dose-response and the
beta-matched twin"; docs/metrics.md, "Floor and ceiling")
"""

from __future__ import annotations

import traceback

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.io.collapse import usable
from analysis.io.pooling import base_metric
from analysis.io.table import HEADLINE_METRICS, completed, short_name
from analysis.report import plots
from analysis.report.context import Context
from analysis.report.html import Section
from analysis.report.stability_section import STABILITY_SCORES_KEY
from analysis.report.text import add_figure, excluded_notes, guarded, name_list
from analysis.stats.multiplicity import PRIMARY, PRIMARY_ENDPOINTS
from analysis.studies import learned_beta as lb
from analysis.studies import reference as ref
from lvae.contract import METRIC_PREFIX

TITLE = "Learned beta against fixed beta: the dose-response curve and the beta-matched twin"
#: learned betas drawn on the figure: this factor beyond the swept fixed-beta range at most
X_MARGIN = 4.0


def primary_metrics(ctx: Context) -> list[str]:
    """The declared primary endpoints among the report's metric columns."""
    keys = {METRIC_PREFIX + e for e in PRIMARY_ENDPOINTS}
    return [m for m in ctx.metrics if base_metric(m) in keys] or ctx.headline


def metric_reference(df: pd.DataFrame, ctx: Context) -> pd.DataFrame | None:
    """Floor and ceiling of every metric, computed once per report and cached in each
    experiment folder (analysis.studies.reference); None when models are turned off."""
    if "reference" in ctx.background:
        return ctx.background["reference"]
    table, o = None, ctx.options
    if o.models and o.floor_seeds:
        frames, errors, failed = [], {}, {}
        try:
            for exp_dir, trials in completed(df).groupby("exp_dir", sort=True):
                groups = ref.trial_groups(trials)
                rows = ref.cached_reference(exp_dir, groups.tolist(), o.floor_seeds,
                                            o.reference_compute, errors)
                frames.append(ref.reference_table(rows, ref.read_eval_noise(exp_dir)))
        except Exception as exc:  # the figure and the comparisons stand without it
            failed["every group"] = traceback.format_exception_only(type(exc), exc)[-1].strip()
            frames = []
        # a group that failed (e.g. its dataset is not on this machine) is named; others stand
        failed.update({g.label: why for g, why in errors.items()})
        ctx.background["reference_errors"] = failed
        frames = [f for f in frames if len(f)]
        table = pd.concat(frames, ignore_index=True) if frames else None
    ctx.background["reference"] = table
    return table


def _reference_by_metric(table: pd.DataFrame | None, metrics: list[str]) -> dict[str, pd.Series]:
    if table is None or table.empty:
        return {}
    rows = table.drop_duplicates("metric").set_index("metric")
    return {
        m: rows.loc[short_name(base_metric(m))]
        for m in metrics
        if short_name(base_metric(m)) in rows.index
    }


def _x_range(points: dict[str, pd.DataFrame]) -> tuple[float, float] | None:
    fixed = pd.concat([p[p["kind"] != "learned"]["x"] for p in points.values()])
    if fixed.empty:
        return None
    return float(fixed.min()) / X_MARGIN, float(fixed.max()) * X_MARGIN


def dose_response_figure(
    trials: pd.DataFrame,
    metrics: list[str],
    reference: pd.DataFrame | None = None,
    lvae: str = "lvae",
    fixed: str = "beta_vae",
    level: float = 0.95,
) -> tuple[Figure, pd.DataFrame, list[str]]:
    """The report's first figure (also the robustness notebook's), from the usable trials:
    (figure, the curves drawn, the L-VAE cells whose learned beta lies too far outside the
    swept range to draw). ``reference`` is the floor-and-ceiling table, if computed."""
    points = {m: lb.figure_points(trials, m, lvae, fixed) for m in metrics}
    curves = {m: lb.curve(trials, m, lvae, fixed, level) for m in metrics}
    x_range = _x_range(points)
    far: list[str] = []
    if x_range is not None:
        learned = pd.concat([p[p["kind"] == "learned"] for p in points.values()])
        far = sorted(set(learned.loc[~learned["x"].between(*x_range), "cell"]))
    fig = plots.dose_response(points, curves, _reference_by_metric(reference, metrics), x_range)
    return fig, pd.concat(curves.values(), ignore_index=True), far


def _figure(df: pd.DataFrame, ctx: Context, s: Section, metrics: list[str]) -> None:
    o = ctx.options
    done = usable(completed(df), o.include_collapsed)
    fig, curves, far = dose_response_figure(
        done, metrics, metric_reference(df, ctx), o.lvae, o.fixed, o.level
    )
    s.csv_only.append(("dose_response_curve", curves))
    if far:
        s.notes.append(
            f"not drawn: learned beta_eff more than {X_MARGIN:g}x outside the swept "
            f"fixed-beta range in {name_list(far)}; a runaway beta is what L-VAE does "
            "without its regulariser (lambda = 0: beta = R/K grows as K shrinks; "
            "docs/objectives.md)"
        )
    add_figure(
        s,
        ctx,
        "metric against beta: fixed-beta curve, L-VAE at its learned beta, twins, "
        "floor and ceiling",
        lambda: fig,
    )


def _readings(
    table: pd.DataFrame, worst: pd.DataFrame, n_collapsed: int, s: Section, level: float
) -> None:
    primary = table[table["family"] == PRIMARY]
    for _, r in primary.iterrows():
        adj = f"Holm-adjusted p = {r['p_holm']:.3g}" if pd.notna(r["p_holm"]) else "no p-value"
        s.readings.append(f"[primary] {r['reading']} ({adj}, {r['n_seeds']} seeds)")
    if primary.empty:
        s.notes.append(
            "no primary comparison could be made (no L-VAE cell with fixed-beta runs or "
            "a twin on shared seeds)"
        )
        return
    key = ["contrast", "cell", "metric"]
    again = {tuple(r[key]): r for _, r in worst.iterrows()}
    changed = [
        f"{r['cell']} {r['contrast']} {short_name(r['metric'])}"
        for _, r in primary.iterrows()
        if tuple(r[key]) in again
        and (
            lb.decided(r, level) != lb.decided(again[tuple(r[key])], level)
            or np.sign(r["estimate"]) != np.sign(again[tuple(r[key])]["estimate"])
        )
    ]
    s.readings.append(
        f"with the {n_collapsed} collapsed trial(s) included, ranked worst: "
        + (
            f"the conclusion changes for {name_list(changed)}"
            if changed
            else "no primary conclusion changes"
        )
    )


def dose_response_section(df: pd.DataFrame, ctx: Context) -> Section:
    """The report's first figure and its primary comparisons."""
    o = ctx.options
    s = Section(TITLE)
    s.text.append(
        "L-VAE's learned beta is set by lambda and R/K, so L-VAE against each fixed beta mostly "
        "measures the difference in beta. The direct tests, paired over shared seeds: (1) the "
        "fixed-beta curve (the VAE is beta = 1; twins left out), with each L-VAE cell placed at "
        "its own learned beta_eff and its departure d_s = y_lvae,s - curve_s(beta_eff,s) averaged "
        "over seeds; (2) the beta-matched twin, a beta-VAE fixed at the cell's median learned "
        "beta (2 significant digits) on the same seeds, L-VAE - twin per seed. Means with Student "
        f"t {o.level:.0%} intervals. Primary: MIG and DCI disentanglement under both contrasts, "
        "Holm-adjusted as one family; every other metric is exploratory, Benjamini-Hochberg "
        "q-values within each contrast. Collapsed trials are left out (ranked worst in the check "
        "at the end). See docs/analysis.md and docs/statistics.md."
    )
    metrics = primary_metrics(ctx)
    done = completed(df)
    s.notes += excluded_notes(done, ctx)
    guarded(s, "the dose-response figure", lambda: _figure(df, ctx, s, metrics))
    table = lb.comparisons(
        usable(done, o.include_collapsed), ctx.metrics, o.lvae, o.fixed, level=o.level
    )
    worst = lb.comparisons(
        lb.ranked_worst(done, ctx.metrics), metrics, o.lvae, o.fixed, level=o.level
    )
    s.tables.append(("learned_vs_fixed", table))
    s.tables.append(("learned_vs_fixed_collapsed_ranked_worst", worst))
    if not lb.twin_pairs(done, o.lvae):
        s.notes.append(
            "no beta-matched twins in these experiments (sweeps/run.py trains them "
            "unless --no-matched): only the curve contrast is available"
        )
    n_collapsed = int(done["collapsed"].astype(bool).sum()) if "collapsed" in done else 0
    _readings(table, worst, n_collapsed, s, ctx.options.level)
    return s


def with_this_builds_noise(table: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """The evaluation noise from this build's stability re-scoring where the reference
    table has none: the reference is computed before the re-scoring ends and reads only a
    previous build's scores, so a first report would otherwise show no noise at all."""
    from analysis.studies.stability import eval_noise

    scores = ctx.background.get(STABILITY_SCORES_KEY)
    if scores is None or scores.empty or table["eval_noise_sd"].notna().all():
        return table
    fresh = ref.reference_table(table.drop(columns=["eval_noise_sd", "eval_noise_models"]),
                                eval_noise(scores))
    missing = table["eval_noise_sd"].isna().to_numpy()
    out = table.copy()
    for column in ("eval_noise_sd", "eval_noise_models"):
        out.loc[missing, column] = fresh.loc[missing, column]
    return out


def floor_section(df: pd.DataFrame, ctx: Context) -> Section:
    """Each metric's floor and ceiling, and each cell's median against them."""
    s = Section("Floor and ceiling of every metric")
    s.text.append(
        f"Floor: untrained encoders of the trials' architecture ({len(ctx.options.floor_seeds)} "
        "initialisation seeds), mean and 95% prediction range; ceiling: the ground-truth factors "
        "as codes; both scored with the trials' sample sizes and settings. A cell is above the "
        "floor when the lower end of its median's sign-test interval clears the floor's range; "
        "normalised = (median - floor) / (ceiling - floor). Collapsed trials count here. See "
        "docs/metrics.md."
    )
    if not ctx.options.models or not ctx.options.floor_seeds:
        s.notes.append("skipped: model-based sections were turned off (models=False / --no-models)")
        return s

    def run() -> None:
        table = metric_reference(df, ctx)
        errors = ctx.background.get("reference_errors", {})
        s.notes += [f"floor and ceiling not computed for {g}: {why}" for g, why in errors.items()]
        if table is None or table.empty:
            if not errors:
                s.notes.append("floor and ceiling not computed: no metric columns with recorded "
                               "settings")
            return
        table = with_this_builds_noise(table, ctx)
        done = completed(df)
        cells = ref.cell_table(done, ref.trial_groups(done), table)
        s.tables += [("floor_and_ceiling", table), ("cell_vs_floor", cells)]
        heads = {short_name(base_metric(m)) for m in HEADLINE_METRICS[:2]}
        for _, r in table[table["metric"].isin(heads)].iterrows():
            sub = cells[cells["metric"] == r["metric"]]
            below = sorted(sub.loc[~sub["above_floor"].astype(bool), "cell"])
            s.readings.append(
                f"{r['metric']}: floor {r['floor_mean']:.3g} [{r['floor_low']:.3g}, "
                f"{r['floor_high']:.3g}], ceiling {r['ceiling']:.3g}; "
                f"{int(sub['above_floor'].sum())} of {len(sub)} cells above the floor"
                + (f" (not: {name_list(below)})" if below else "")
                + f"; normalised medians {sub['normalised'].min():.3g} to "
                f"{sub['normalised'].max():.3g}"
            )

    guarded(s, "floor and ceiling", run)
    return s
