"""Write the analysis notebooks (without outputs) from the cell sources below.

    python -m analysis.report.make_notebooks        # rewrites analysis/notebooks/*.ipynb

The notebooks are thin: every number comes from an ``analysis`` function, so they stay
in step with the report. The first cell reads the experiment folder(s) from
``$LVAE_EXPERIMENT`` (several separated by ``os.pathsep``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

from analysis.io.files import write_text_atomic

NOTEBOOK_DIR = Path(__file__).resolve().parents[1] / "notebooks"

PARAMETERS = """\
# Parameters: the experiment folder(s) to read (several: separated by os.pathsep).
import os
from pathlib import Path

EXPERIMENTS = [Path(p) for p in os.environ.get("LVAE_EXPERIMENT",
"results/lvae_reg").split(os.pathsep)]
EXPERIMENTS"""

IMPORTS = """\
from IPython.display import Image, display

import analysis
from analysis.io.table import HEADLINE_METRICS
from analysis.report import plots


def show(fig):
    \"\"\"Figures are drawn on the Agg canvas; show them as PNG whatever the backend.\"\"\"
    display(Image(plots.png_bytes(fig)))


# refuses experiments scored with different metric settings; keep_apart=True labels them apart
trials = analysis.load_experiments(*EXPERIMENTS)
done = analysis.usable(trials)  # finished and not collapsed (analysis.io.collapse)
HEADLINE = [m for m in HEADLINE_METRICS[:2] if m in trials.columns]  # DCI disentanglement, MIG
trials.groupby(["exp_name", "status"]).size()"""

ROBUSTNESS = [
    ("markdown", "# How robust are DCI and MIG?\n\nSeeds, regulariser strength and architecture; "
                 "learned beta (L-VAE) vs fixed beta. The HTML report (`python -m "
                 "analysis.report`) holds the same tables plus the model-based checks."),
    ("code", PARAMETERS),
    ("code", IMPORTS),
    ("markdown", "## Learned beta against fixed beta\n\nThe report's first figure: each primary "
                 "metric against beta on a log axis, the fixed-beta curve with its band, L-VAE at "
                 "its learned beta_eff, beta-matched twins, and the metric's floor and ceiling "
                 "when the report has computed them. Then L-VAE's paired departure from the curve "
                 "and its difference from its twin, with Holm (primary) and BH (exploratory) "
                 "adjusted p-values (docs/analysis.md)."),
    ("code", "import pandas as pd\n\n"
             "from analysis.report.answer_sections import dose_response_figure\n"
             "from analysis.studies import learned_beta\n\n"
             "saved = [e / 'report' / 'floor_and_ceiling.csv' for e in EXPERIMENTS]\n"
             "found = [pd.read_csv(f) for f in saved if f.exists()]\n"
             "reference = pd.concat(found) if found else None\n"
             "fig, curves, far = dose_response_figure(done, HEADLINE, reference)\n"
             "show(fig)\n"
             "shown = ['contrast', 'cell', 'metric', 'n_seeds', 'estimate', 'lo', 'hi', 'p',\n"
             "         'family', 'p_holm', 'q_bh']\n"
             "learned_beta.comparisons(done, HEADLINE)[shown]"),
    ("markdown", "## Scale and collapse\n\nPreset, training steps and metric settings of each "
                 "experiment; `smoke` and `local` demonstrate the pipeline and are not evidence "
                 "about L-VAE. Collapsed trials (total KL below 1 nat, or a reconstruction under "
                 "10% better than the mean image's) are left out of everything below."),
    ("code", "scale = ['preset', 'hp.train_steps', 'eval.probe', 'eval.num_train', "
             "'eval.num_test']\nprint(trials.groupby('exp_name')[[c for c in scale if c in "
             "trials]].first())\nanalysis.collapse_summary(trials)"),
    ("markdown", "## Positive controls\n\nKL must fall and reconstruction rise with beta across "
                 "the fixed-beta grid (Spearman rho with log beta, bootstrap interval); each "
                 "L-VAE trial's learned beta must end within 0.1 (log) of its stationary value. "
                 "If a control fails, the comparisons below are not findings (docs/analysis.md)."),
    ("code", "trajectories = analysis.read_trajectories(trials[trials['status'] == "
             "'TERMINATED'])\ncontrols = "
             "analysis.controls_table([analysis.beta_grid_control(trials),\n                      "
             "              analysis.lvae_tracking_control(trials, "
             "trajectories)])\nprint('controls:', analysis.controls_verdict(controls))\ncontrols"),
    ("markdown", "## Headline table: medians over seeds with exact intervals (and their "
                 "confidence)"),
    ("code", "analysis.headline_table(trials, HEADLINE)"),
    ("markdown", "## Distributions per cell (median, IQR, min, max over seeds)"),
    ("code", "summary = analysis.cell_summary(trials)\n"
             "show(plots.metric_boxplots(done, HEADLINE))\n"
             "summary[summary['metric'].isin(HEADLINE)]"),
    ("markdown", "## Variance components: cell, seed and cell x seed (crossed)\n\nMethod-of-"
                 "moments estimates with generalized confidence intervals on the same scale "
                 "(docs/analysis.md, docs/statistics.md); a negative share is a component "
                 "indistinguishable from zero."),
    ("code", "analysis.variance_decomposition(trials)"),
    ("markdown", "## Sensitivity to lambda (L-VAE) and beta (beta-VAE)"),
    ("code", "for objective, param in [('lvae', 'hp.lambda'), ('beta_vae', 'hp.beta')]:\n"
             "    curve = analysis.sensitivity(trials, objective, param, HEADLINE)\n"
             "    if curve.empty:\n"
             "        print(f'no {objective} trials with {param}')\n"
             "        continue\n"
             "    show(plots.sensitivity_curves(curve, HEADLINE))\n"
             "    display(analysis.sensitivity_trend(trials, objective, param, HEADLINE))"),
    ("markdown", "## L-VAE at its default lambda vs every fixed beta, paired over seeds\n\nMedian "
                 "paired difference and P(L-VAE better) with exact intervals; best/median/worst "
                 "fixed beta chosen on the other seeds. Fewer than 6 paired seeds: no conclusion."),
    ("code", "comparison, why_not = analysis.compare_with_notes(trials, "
             "HEADLINE)\nprint('\\n'.join(why_not))\ncomparison[['metric', 'comparison', "
             "'fixed_cell', 'n_pairs', 'median_diff', 'median_diff_lo',\n            "
             "'median_diff_hi', 'p_better', 'p_better_lo', 'p_better_hi', 'verdict']]"),
    ("markdown", "## Fixed beta >= 4 vs the VAE, paired over seeds"),
    ("code", "analysis.beta_vs_vae(trials, HEADLINE)[['metric', 'comparison', 'n_pairs', "
             "'median_diff',\n                                          'median_diff_lo', "
             "'median_diff_hi', 'verdict']]"),
    ("markdown", "## Agreement between metrics (Spearman over trials)"),
    ("code", "corr = "
             "analysis.metric_agreement(trials)\nshow(plots.correlation_heatmap(corr))\ncorr"),
]

BETA_DYNAMICS = [
    ("markdown", "# beta_eff dynamics\n\nEffective beta over training for L-VAE, the controllers "
                 "(ControlVAE, DynamicVAE), sigma-VAE and the fixed betas, from the trials' "
                 "TensorBoard events."),
    ("code", PARAMETERS),
    ("code", IMPORTS),
    ("code", "trajectories = analysis.read_trajectories(done)\n"
             "missing = analysis.io.events.trials_without_events(done, trajectories)\n"
             "print(f'{len(missing)} finished trials without TensorBoard events: {missing}')\n"
             "trajectories.head()"),
    ("markdown", "## Median and IQR over seeds per cell"),
    ("code", "bands = analysis.trajectory_bands(trajectories, trials)\n"
             "show(plots.beta_trajectories(bands))\n"
             "analysis.trajectory_endpoints(trajectories, trials)"),
    ("markdown", "## KL over training"),
    ("code", "show(plots.beta_trajectories(analysis.trajectory_bands(trajectories, trials, "
             "'loss_kl'), 'loss_kl'))"),
    ("markdown", "## Metrics along training\n\nThe trainer's `metric/*` scalars (with `eval_every "
                 "> 0`): median, IQR band and min-max over seeds per cell. Still moving at the "
                 "end: the run was short."),
    ("code", "tracked = analysis.read_trajectories(done, include_metrics=True)\n"
             "metrics = analysis.tracked_metrics(tracked, HEADLINE)\n"
             "if metrics:\n"
             "    curves = analysis.metric_bands(tracked, trials, metrics)\n"
             "    show(plots.metric_curves(curves, metrics[:4]))\n"
             "    display(analysis.metric_endpoints(curves))\n"
             "else:\n"
             "    print('no metric/* scalars: the runs were trained without eval_every')"),
    ("markdown", "## Final beta_eff vs DCI per trial"),
    ("code", "cols = ['cell', 'seed', 'beta_eff'] + HEADLINE\n"
             "done[cols].sort_values('beta_eff')"),
]

NOTEBOOKS = {"robustness.ipynb": ROBUSTNESS, "beta_dynamics.ipynb": BETA_DYNAMICS}


def build(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}
    nb.cells = [make[kind](source) for kind, source in cells]
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:02d}"  # stable ids: regenerating gives the same file
    nb.metadata["kernelspec"] = {"name": "python3", "display_name":
                                 "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.validate(nb)
    return nb


def render(name: str) -> str:
    return nbformat.writes(build(NOTEBOOKS[name])) + "\n"


def main() -> None:
    for name in NOTEBOOKS:
        path = write_text_atomic(NOTEBOOK_DIR / name, render(name))
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
