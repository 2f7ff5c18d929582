"""Formatters and notes shared by the sections: numbers in words, lists that stay short, and
the notes that say what is missing or left out.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from analysis.io.table import (
    LOSS_KL,
    TRAIN_STEPS,
    completed,
    format_value,
    seeds_per_cell,
)
from analysis.report import plots
from analysis.report.context import (
    Context,
    positive_controls,
)
from analysis.report.html import Section
from analysis.studies.controls import (
    controls_verdict,
)
from lvae.contract import COLLAPSE_RECON_GAIN, COLLAPSE_TOTAL_KL

#: how many trial names a note lists before summarising the rest.
LIST_LIMIT = 20


SINGLE_SEED = "only one seed per cell: spread cannot be estimated"


#: presets whose reports demonstrate the pipeline and carry no evidence about L-VAE
DEMO_PRESETS = ("smoke", "local")


DEMO_STATEMENT = ("This report demonstrates the pipeline; it is not evidence about L-VAE. "
                  "Preset(s) {presets} train for a few hundred steps or fewer, with small "
                  "metric samples, and their metric differences are expected to be noise.")


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
    return [f"{len(lone)} cell(s) have one seed, spread not estimated there: "
            f"{name_list(lone)}"] if lone else []


def collapsed_notes(done: pd.DataFrame) -> list[str]:
    """Trials whose posterior collapsed: DCI and friends still return numbers for them
    (e.g. DCI disentanglement near 0.4 on noise), which a reader must not mistake for signal."""
    if "collapsed" not in done.columns or done.empty:
        return []
    low = done[done["collapsed"].astype(bool)]
    if low.empty:
        return []
    kl = low["total_kl"] if "total_kl" in low else low[LOSS_KL]
    gain = low["recon_gain"] if "recon_gain" in low else pd.Series(np.nan, index=low.index)
    names = [f"{t} (total KL {k:.2g} "
             "nats" + (f", reconstruction gain {g:.1%})" if pd.notna(g) else ")")
             for t, k, g in zip(low["trial"], kl, gain, strict=True)]
    return [f"{len(low)} of {len(done)} finished trials collapsed (final total KL below "
            f"{COLLAPSE_TOTAL_KL:g} nat, or a reconstruction less than {COLLAPSE_RECON_GAIN:.0%} "
            "better than the mean image's; docs/analysis.md), so their codes carry almost no "
            "information and their metrics score noise; they are left out of the summaries and "
            f"comparisons below: {name_list(names)}"]


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


def model_notes(df: pd.DataFrame, ctx: Context) -> list[str]:
    done = completed(df)
    lacking = [t for t in done["trial"] if t not in set(ctx.with_model)]
    if not ctx.with_model:
        return [f"no checkpoint for any of the {len(done)} finished trials: nothing to load"]
    if lacking:
        return [f"no checkpoint for {len(lacking)} of {len(done)} finished trials (left out of the "
                f"model-based sections): {name_list(lacking)}"]
    return []


def add_figure(s: Section, ctx: Context, title: str, make: Callable[[], Figure]) -> None:
    """Draw a figure into the section unless figures are turned off (a text-only report)."""
    if ctx.options.figures:
        s.figures.append((title, plots.png_bytes(make())))
    elif "figures turned off (figures=False)" not in s.text:
        s.text.append("figures turned off (figures=False)")


def guarded(s: Section, what: str, fn: Callable[[], None]) -> None:
    """Run a model-loading step; a failure becomes a visible note, never a crash."""
    try:
        fn()
    except Exception as exc:  # any failure of external code is reported in place
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        s.notes.append(f"{what} not computed: {last}")


def _steps(g: pd.DataFrame) -> str:
    steps = g[TRAIN_STEPS] if TRAIN_STEPS in g else g["steps"]
    values = sorted(pd.to_numeric(steps, errors="coerce").dropna().unique())
    return ", ".join(format_value(v) for v in values) or "?"


def _setting(g: pd.DataFrame, col: str) -> str:
    if col not in g.columns or g[col].isna().all():
        return "not recorded"
    return ", ".join(sorted({format_value(v) for v in g[col].dropna()}))


def demo_presets(df: pd.DataFrame) -> list[str]:
    """The demonstration presets (smoke, local) among the experiments."""
    return sorted(
        {str(p) for p in df.get("preset", pd.Series(dtype=str)).dropna()} & set(DEMO_PRESETS)
    )


def report_title(df: pd.DataFrame, ctx: Context) -> str:
    """The page title, which already says when the numbers are not evidence."""
    title = "Robustness of DCI and MIG: " + ", ".join(sorted(df["exp_name"].unique()))
    if controls_verdict(positive_controls(df, ctx)) == "failed":
        title += " (positive controls failed: the comparisons are not findings)"
    if demo_presets(df):
        title += " (pipeline demonstration, not evidence about L-VAE)"
    return title
