"""Figures of the analysis, drawn with matplotlib's object API on the Agg canvas.

Each function takes a summary table and returns a ``Figure`` (no pyplot state, so they
are safe inside a sweep process and in notebooks); :func:`png_bytes` renders one.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from analysis.io.table import BETA_EFF, completed, short_name, with_cells

COLORS = [f"C{i}" for i in range(10)]


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, wrap=True)
    ax.set_axis_off()


#: beyond this many cells a figure would be a wall of labels and overlapping lines: the plots
#: below then summarise per objective (each cell still in the CSV tables; disentanglement_lib's
#: study has 252 cells)
MANY_CELLS = 40


def metric_boxplots(df: pd.DataFrame, metrics: Sequence[str], seed: int = 0) -> Figure:
    """Distribution of each metric per cell (one panel per metric): a box over seeds plus
    every seed as a point; over :data:`MANY_CELLS` cells, one box per cell coloured by
    objective, without the points or the cells' names."""
    done = completed(df)
    done = done if "cell" in done.columns else with_cells(done)
    cells = sorted(done["cell"].unique())
    if len(cells) > MANY_CELLS:
        return _many_boxplots(done, metrics)
    fig = _figure(max(5.0, 0.6 * len(cells) + 2) * max(len(metrics), 1), 4.5)
    axes = fig.subplots(1, max(len(metrics), 1), squeeze=False)[0]
    rng = np.random.default_rng(seed)
    for ax, metric in zip(axes, metrics, strict=False):
        data = done[["cell", metric]].dropna() if metric in done.columns else done.iloc[:0]
        if data.empty:
            _note(ax, f"no values of {short_name(metric)}")
            continue
        shown = [c for c in cells if c in set(data["cell"])]
        groups = [data.loc[data["cell"] == c, metric].to_numpy(dtype=float) for c in shown]
        ax.boxplot(groups, showfliers=False)
        for i, g in enumerate(groups, start=1):
            ax.scatter(i + rng.uniform(-0.15, 0.15, len(g)), g, s=14, color=
                       "k", alpha=0.7, zorder=3)
        ax.set_xticks(range(1, len(shown) + 1), shown, rotation=60, ha="right", fontsize=8)
        ax.set_ylabel(short_name(metric))
        ax.set_title(f"{short_name(metric)} per cell (points: seeds)")
    if not metrics:
        _note(axes[0], "no metrics")
    return fig


def _many_boxplots(done: pd.DataFrame, metrics: Sequence[str]) -> Figure:
    """One panel per metric, one thin box per cell (cells grouped and coloured by objective)."""
    fig = _figure(12.0, 3.6 * max(len(metrics), 1))
    axes = fig.subplots(max(len(metrics), 1), 1, squeeze=False)[:, 0]
    order = done[["objective", "cell"]].drop_duplicates().sort_values(["objective", "cell"])
    objectives = list(dict.fromkeys(order["objective"]))
    for ax, metric in zip(axes, metrics, strict=False):
        data = done[["cell", metric]].dropna() if metric in done.columns else done.iloc[:0]
        if data.empty:
            _note(ax, f"no values of {short_name(metric)}")
            continue
        by_cell = data.groupby("cell")[metric]
        shown = order[order["cell"].isin(by_cell.groups)]
        groups = [by_cell.get_group(c).to_numpy(dtype=float) for c in shown["cell"]]
        boxes = ax.boxplot(groups, showfliers=False, widths=0.7, patch_artist=True,
                           medianprops={"color": "k", "lw": 0.8})
        for box, obj in zip(boxes["boxes"], shown["objective"], strict=True):
            box.set(facecolor=COLORS[objectives.index(obj) % len(COLORS)], lw=0.3)
        ax.set_xticks([])
        ax.set_ylabel(short_name(metric))
        ax.set_title(f"{short_name(metric)}: {len(groups)} cells, boxes over seeds (cells in "
                     "cell_summary.csv)", fontsize=9)
    handles = [Patch(color=COLORS[i % len(COLORS)], label=o) for i, o in enumerate(objectives)]
    axes[0].legend(handles=handles, fontsize=7, ncols=min(len(objectives), 6), loc="best")
    if not metrics:
        _note(axes[0], "no metrics")
    return fig


def beta_trajectories(bands: pd.DataFrame, column: str = BETA_EFF) -> Figure:
    """Median line and IQR band over seeds per cell, every objective on one log axis; over
    :data:`MANY_CELLS` cells, one panel per objective summarising its cells' medians."""
    if bands["cell"].nunique() > MANY_CELLS:
        return _many_trajectories(bands, column)
    fig = _figure(8, 5)
    ax = fig.add_subplot()
    if bands.empty:
        _note(ax, "no trajectories")
        return fig
    for i, (cell, g) in enumerate(bands.groupby("cell", sort=True)):
        color = COLORS[i % len(COLORS)]
        style = "-" if i < len(COLORS) else "--"
        ax.plot(g["step"], g["median"], style, color=color, label=cell, lw=1.5)
        ax.fill_between(g["step"], g["q25"], g["q75"], color=color, alpha=0.2, lw=0)
    if (bands[["median", "q25", "q75"]].to_numpy() > 0).all():
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel(column)
    ax.set_title(f"{column} over training (median and IQR over seeds)")
    ax.legend(fontsize=7, ncols=2 if bands["cell"].nunique() > 8 else 1)
    return fig


def _many_trajectories(bands: pd.DataFrame, column: str) -> Figure:
    """One panel per objective: over the objective's cells, the median (line), IQR (shaded)
    and range (dotted) of each cell's median over seeds."""
    objectives = sorted(bands["objective"].unique())
    cols = 2 if len(objectives) > 1 else 1
    rows = -(-len(objectives) // cols)
    fig = _figure(6.0 * cols, 3.2 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    log = bool((bands["median"].to_numpy() > 0).all())
    for i, (ax, obj) in enumerate(zip(axes, objectives, strict=False)):
        d = bands[bands["objective"] == obj]
        color = COLORS[i % len(COLORS)]
        q = d.groupby("step")["median"].quantile([0.0, 0.25, 0.5, 0.75, 1.0]).unstack()
        ax.fill_between(q.index, q[0.25], q[0.75], color=color, alpha=0.3, lw=0)
        ax.plot(q.index, q[0.5], color=color, lw=1.5)
        ax.plot(q.index, q[0.0], ":", color=color, lw=0.8)
        ax.plot(q.index, q[1.0], ":", color=color, lw=0.8)
        if log:
            ax.set_yscale("log")
        ax.set_title(f"{obj}: {d['cell'].nunique()} cells", fontsize=9)
        ax.set_xlabel("step")
        ax.set_ylabel(column)
    for ax in axes[len(objectives):]:
        ax.set_axis_off()
    fig.suptitle(f"{column} over training: per objective, the median (line), IQR (shaded) and "
                 "range (dotted) over its cells of each cell's median over seeds (per-cell bands "
                 "in beta_trajectory_bands.csv)", fontsize=9)
    return fig


def metric_curves(bands: pd.DataFrame, metrics: Sequence[str]) -> Figure:
    """Each tracked metric against the training step (one panel per metric): per cell the
    median over seeds, its interquartile band (shaded) and the seeds' min-max (dotted)."""
    cols = 2 if len(metrics) > 1 else 1
    rows = max(1, -(-len(metrics) // cols))
    fig = _figure(6.0 * cols, 3.8 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    cells = sorted(bands["cell"].unique()) if len(bands) else []
    many = len(cells) > MANY_CELLS  # then each cell's median only, coloured by objective
    objectives = sorted(bands["objective"].unique()) if many else []
    for ax, metric in zip(axes, metrics, strict=False):
        d = bands[bands["metric"] == metric]
        if d.empty:
            _note(ax, f"no values of {short_name(metric)}")
            continue
        for cell, g in d.groupby("cell", sort=True):
            g = g.sort_values("step")
            if many:
                color = COLORS[objectives.index(g["objective"].iloc[0]) % len(COLORS)]
                ax.plot(g["step"], g["median"], color=color, lw=0.5, alpha=0.4)
                continue
            i = cells.index(cell)
            color, style = COLORS[i % len(COLORS)], "-" if i < len(COLORS) else "--"
            ax.plot(g["step"], g["median"], style, marker="o", ms=3, color=color, label=cell,
                    lw=1.5)
            ax.fill_between(g["step"], g["q25"], g["q75"], color=color, alpha=0.2, lw=0)
            ax.plot(g["step"], g["min"], ":", color=color, lw=0.8)
            ax.plot(g["step"], g["max"], ":", color=color, lw=0.8)
        ax.set_xlabel("step")
        ax.set_ylabel(short_name(metric))
        ax.set_title(f"{short_name(metric)} along training")
    for ax in axes[len(metrics):]:
        ax.set_axis_off()
    if not metrics:
        _note(axes[0], "no metrics tracked along training")
    elif many:
        handles = [Patch(color=COLORS[i % len(COLORS)], label=o) for i, o in enumerate(objectives)]
        axes[0].legend(handles=handles, fontsize=7, title=f"{len(cells)} cells' medians (bands "
                       "in metric_curve_bands.csv)", title_fontsize=7)
    elif cells:
        axes[0].legend(fontsize=7, ncols=2 if len(cells) > 8 else 1)
    return fig


def sensitivity_curves(table: pd.DataFrame, metrics: Sequence[str]) -> Figure:
    """Each metric vs one hyperparameter (one panel per metric): median line, IQR band and
    min-max whiskers over seeds per series."""
    fig = _figure(5.5 * max(len(metrics), 1), 4)
    axes = fig.subplots(1, max(len(metrics), 1), squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=False):
        d = table[table["metric"] == metric].sort_values("value")
        if d.empty or d["median"].isna().all():
            _note(ax, f"no values of {short_name(metric)}")
            continue
        for i, (series, g) in enumerate(d.groupby("series", sort=True)):
            color = COLORS[i % len(COLORS)]
            x = g["value"].to_numpy(dtype=float)
            ax.plot(x, g["median"], "o-", color=color, label=series)
            ax.fill_between(x, g["q25"], g["q75"], color=color, alpha=0.2, lw=0)
            ax.vlines(x, g["min"], g["max"], color=color, alpha=0.5, lw=1)
        if (d["value"] > 0).all():
            ax.set_xscale("log")
        param = short_name(str(d["param"].iloc[0]))
        ax.set_xlabel(param)
        ax.set_ylabel(short_name(metric))
        ax.set_title(f"{short_name(metric)} vs {param} ({d['objective'].iloc[0]})")
        if d["series"].nunique() > 1:
            ax.legend(fontsize=7)
    if not metrics:
        _note(axes[0], "no metrics")
    return fig


def correlation_heatmap(corr: pd.DataFrame,
                        title: str = "Spearman correlation over trials") -> Figure:
    n = len(corr)
    fig = _figure(1.0 + 0.8 * max(n, 3), 0.8 + 0.7 * max(n, 3))
    ax = fig.add_subplot()
    if n == 0:
        _note(ax, "no metrics to correlate")
        return fig
    values = corr.to_numpy(dtype=float)
    im = ax.imshow(values, cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set_xticks(range(n), corr.columns, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), corr.index, fontsize=8)
    for i in range(n):
        for j in range(n):
            text = "n/a" if np.isnan(values[i, j]) else f"{values[i, j]:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=7)
    fig.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title)
    return fig


def traversal_figure(grid: np.ndarray, title: str) -> Figure:
    """A (C, H, W) traversal grid in [0, 1] (rows: latents, columns: -2 .. 2)."""
    img = np.clip(np.asarray(grid, dtype=float), 0, 1)
    h, w = img.shape[1:]
    fig = _figure(min(10.0, 1.5 + w / 60), min(14.0, 0.8 + h / 60))
    ax = fig.add_subplot()
    if img.shape[0] == 1:
        ax.imshow(img[0], cmap="gray", vmin=0, vmax=1)
    else:
        ax.imshow(np.transpose(img, (1, 2, 0)))
    ax.set_axis_off()
    ax.set_title(title, fontsize=9)
    return fig


def _reference_lines(ax, ref: pd.Series | None, top: float) -> None:
    """The floor's 95% range as a band and the ceiling as a line; a ceiling far above the
    scores (``top``) is written at the top edge instead, so the scores keep their scale."""
    if ref is None:
        return
    ax.axhspan(ref["floor_low"], ref["floor_high"], color="0.8", zorder=0,
               label=f"floor (95% range, mean {ref['floor_mean']:.3g})")
    if ref["ceiling"] <= 1.5 * top:
        ax.axhline(ref["ceiling"], color="0.3", ls="--", lw=1, label=
                   f"ceiling {ref['ceiling']:.3g}")
    else:
        ax.set_title(f"ceiling {ref['ceiling']:.3g}: off the scale of these scores", fontsize=9)


def dose_response(points: dict[str, pd.DataFrame], curves: dict[str, pd.DataFrame],
                  reference: dict[str, pd.Series] | None = None,
                  x_range: tuple[float, float] | None = None) -> Figure:
    """Each metric against beta on a log axis: fixed-beta seeds and their curve with its band,
    L-VAE trials at their learned beta_eff (with each cell's median as a bar), beta-matched
    twins, and the metric's floor and ceiling. ``x_range`` clips the axis (learned betas far
    outside it, such as a runaway lambda = 0, are said in the text, not drawn)."""
    metrics = list(points)
    fig = _figure(5.2 * max(len(metrics), 1), 4.2)
    axes = np.atleast_1d(fig.subplots(1, max(len(metrics), 1)))
    for ax, metric in zip(axes, metrics, strict=False):
        pts, band = points[metric], curves.get(metric)
        if pts.empty:
            _note(ax, f"{short_name(metric)}: no finished trials")
            continue
        if band is not None and len(band):
            ax.fill_between(band["beta"], band["lo"], band["hi"], color="C0", alpha=0.2, lw=0)
            ax.plot(band["beta"], band["mean"], color="C0", label="fixed-beta curve")
        shown = pts if x_range is None else pts[pts["x"].between(*x_range)]
        style = {"fixed": ("C0", "o", "fixed beta "
                                      "(seeds)"), "twin": ("C2", "s", "beta-matched twin"),
                 "learned": ("C3", "^", "L-VAE at its beta_eff")}
        for kind, (color, marker, label) in style.items():
            sub = shown[shown["kind"] == kind]
            if len(sub):
                ax.scatter(sub["x"], sub["value"], s=18, color=color, marker=marker, alpha=0.7,
                           label=label)
        for _, g in shown[shown["kind"] == "learned"].groupby("cell"):
            ax.errorbar(np.median(g["x"]), np.median(g["value"]),
                        xerr=[[np.median(g["x"]) - g["x"].min()],
                        [g["x"].max() - np.median(g["x"])]], color="C3", capsize=3, lw=1.5)
        _reference_lines(ax, (reference or {}).get(metric), float(shown["value"].max()))
        ax.set_xscale("log")
        ax.set_xlabel("beta (fixed) or learned beta_eff (L-VAE)")
        ax.set_ylabel(short_name(metric))
        ax.legend(fontsize=7, loc="best")
    return fig
