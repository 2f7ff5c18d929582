"""Analysis of finished experiments: loading, robustness summaries, plots, report.

Reads files only (results.csv, TensorBoard events, checkpoints through lvae.evaluate when
a section needs a model); never imports ray or sweeps. The report lives in
``analysis.report`` (``python -m analysis.report EXP_DIR --out DIR``).
"""

from analysis.io.collapse import add_collapse, usable
from analysis.io.events import read_trajectories
from analysis.io.load import ExperimentError, load_beta_trajectories, load_experiments
from analysis.io.pooling import PoolingError, check_pooling
from analysis.io.table import completed, with_cells
from analysis.stats.agreement import metric_agreement
from analysis.stats.robustness import (
    cell_summary,
    collapse_summary,
    sensitivity,
    sensitivity_trend,
    variance_decomposition,
)
from analysis.stats.trajectories import trajectory_bands, trajectory_endpoints
from analysis.stats.udr import udr
from analysis.studies.beta_vs_vae import beta_vs_vae
from analysis.studies.controls import (
    beta_grid_control,
    controls_table,
    controls_verdict,
    lvae_tracking_control,
)
from analysis.studies.headline import headline_table
from analysis.studies.metric_curves import metric_bands, metric_endpoints, tracked_metrics
from analysis.studies.selection import (
    compare_with_notes,
    default_lvae_lambda,
    lvae_vs_fixed_beta,
    prob_superiority,
)
from analysis.studies.stability import pick_models, rank_stability, reevaluation_table, settings_for
from analysis.studies.unsupervised_selection import udr_for_trials, udr_selection, udr_table

__all__ = [
    "ExperimentError",
    "PoolingError",
    "add_collapse",
    "beta_grid_control",
    "beta_vs_vae",
    "cell_summary",
    "check_pooling",
    "collapse_summary",
    "compare_with_notes",
    "completed",
    "controls_table",
    "default_lvae_lambda",
    "headline_table",
    "load_beta_trajectories",
    "load_experiments",
    "lvae_tracking_control",
    "lvae_vs_fixed_beta",
    "metric_agreement",
    "metric_bands",
    "metric_endpoints",
    "pick_models",
    "prob_superiority",
    "rank_stability",
    "read_trajectories",
    "reevaluation_table",
    "sensitivity",
    "sensitivity_trend",
    "settings_for",
    "tracked_metrics",
    "trajectory_bands",
    "trajectory_endpoints",
    "udr",
    "udr_for_trials",
    "udr_selection",
    "udr_table",
    "usable",
    "variance_decomposition",
    "controls_verdict",
    "with_cells",
]
