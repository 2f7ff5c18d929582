"""The report's options and the context its sections share: what is computed once per report
(trajectories, controls) lives here, so no section recomputes another's work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from analysis.io.events import TRAJECTORY_TAGS, read_trajectories
from analysis.io.model_io import LoadRun, has_checkpoint
from analysis.io.pooling import base_metric
from analysis.io.table import (
    DONE,
    HEADLINE_METRICS,
    completed,
    metric_columns,
)
from analysis.studies.controls import (
    STATIONARY,
    beta_grid_control,
    controls_table,
    lvae_tracking_control,
)
from analysis.studies.reference import Compute
from analysis.studies.stability import Evaluate


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
    # DCI re-fits budgeted (None: stability.fit_budget; ignored with stability_settings)
    stability_fits: int | None = None
    parity_probe: bool = False  # add the slow disentanglement_lib DCI probe to stability
    udr_samples: int = 1000
    #: initialisation seeds of the untrained encoders that give each metric's floor (empty: no
    #: floor and ceiling; docs/metrics.md)
    floor_seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    # None: lvae.metrics.reference (analysis.studies.reference)
    reference_compute: Compute | None = None
    figures: bool = True  # False: tables and notes only (fast)
    include_collapsed: bool = False  # True: collapsed trials stay in summaries and comparisons
    # experiments scored with different metric settings get separate columns
    keep_apart: bool = False
    level: float = 0.95  # confidence level of every interval
    seed: int = 0
    n_jobs: int | None = None  # parallel metric fits when re-scoring models (None: every core)
    # None: encode once per model and score from codes (analysis.studies.rescoring)
    evaluate: Evaluate | None = None
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


def make_context(df: pd.DataFrame, options: ReportOptions) -> Context:
    metrics = options.metrics if options.metrics is not None else metric_columns(df)
    unknown = [m for m in metrics if m not in df.columns]
    if unknown:
        raise KeyError(f"metric column(s) {unknown} not in the results; present: "
                       f"{metric_columns(df)}")
    headline = [m for h in HEADLINE_METRICS for m in metrics if base_metric(m) == h][:2] or list(
        metrics[:2]
    )
    done = completed(df)
    with_model = [
        t for t, r in zip(done["trial"], done["run_dir"], strict=True) if has_checkpoint(r)
    ]
    return Context(options=options, metrics=list(metrics), headline=headline, with_model=with_model)


#: the trajectory columns the sections use besides metric.* (read_trajectories' columns: at
#: 12,600 paper-length trials every objective.* column would cost gigabytes)
REPORT_TRAJECTORIES = (*TRAJECTORY_TAGS.values(), STATIONARY)


def finished_trajectories(df: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """The finished trials' scalars (beta_eff, losses, the stationary beta, metric.*), read once
    per report: several sections use them and reading every trial's files is not free."""
    if ctx.trajectories is None:
        ctx.trajectories = read_trajectories(df[df["status"] == DONE], include_metrics=True,
                                             columns=REPORT_TRAJECTORIES)
    return ctx.trajectories


def positive_controls(df: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    """The controls table (analysis.studies.controls), computed once: the report opens with its
    verdict."""
    if ctx.controls is None:
        o = ctx.options
        ctx.controls = controls_table(
            [
                beta_grid_control(df, o.fixed, level=o.level, seed=o.seed),
                lvae_tracking_control(df, finished_trajectories(df, ctx), o.lvae),
            ]
        )
    return ctx.controls
