"""Names the packages agree on: what the trainer logs, what a sweep reports to Tune and
writes to results.csv, where a run keeps its files, and when a latent counts as active.

``lvae`` owns them because everything downstream reads what the trainer writes;
``sweeps`` and ``analysis`` import them from here instead of spelling them again
(``tests/test_contract.py`` renames some and checks that both sides follow;
docs/architecture.md, "Data flow").
"""

from __future__ import annotations

# --- a run folder (lvae.train) --------------------------------------------------------
CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"
METRICS_FILE = "metrics.json"
TB_DIR = "tb"

# --- TensorBoard tags / trainer record keys -------------------------------------------
TOTAL_TAG, RECON_TAG, KL_TAG = "loss/total", "loss/recon", "loss/kl"
LOSS_TAGS = (TOTAL_TAG, RECON_TAG, KL_TAG)
BETA_TAG = "beta/effective"
#: ln of beta/effective, and of L-VAE's stationary beta (objective/beta_stationary): one
#: axis that stays readable when a run's beta runs away (lambda = 0 reaches 1e9)
LOG_BETA_TAG = "beta/log_effective"
BETA_STATIONARY_TAG = "objective/beta_stationary"
LOG_BETA_STATIONARY_TAG = "beta/log_stationary"
OBJECTIVE_PREFIX = "objective/"
KL_DIM_TAG = "kl/dim_"
METRIC_TAG = "metric/"
STEPS_PER_S_TAG = "perf/steps_per_s"
#: seconds spent on the metrics along training, logged next to them
TRACK_SECONDS_TAG = "perf/track_seconds"
#: reconstruction NLL of the dataset's mean image (every pixel at its mean over a seeded
#: sample), in the units of loss/recon: what a model that ignores its input reconstructs
RECON_BASELINE_TAG = "baseline/recon_mean_image"
#: tags whose last value ends up in results.csv, in its column order (as their Tune key)
FINAL_TAGS = (*LOSS_TAGS, BETA_TAG, RECON_BASELINE_TAG)

# --- Tune report keys and results.csv columns (sweeps) ----------------------------------
#: trainer record tag -> flat Tune key (Tune keys carry no slashes)
TUNE_KEYS = {
    TOTAL_TAG: "loss_total",
    RECON_TAG: "loss_recon",
    KL_TAG: "loss_kl",
    BETA_TAG: "beta_eff",
    RECON_BASELINE_TAG: "recon_mean_image",
    STEPS_PER_S_TAG: "steps_per_s",
}
#: objective/<key> -> obj_<key> and kl/dim_XX -> kl_dim_XX in Tune reports
OBJECTIVE_TUNE_PREFIX = "obj_"
KL_DIM_TUNE_PREFIX = "kl_dim_"
HP_PREFIX = "hp."
#: TrainConfig fields that define a cell besides the objective, recorded as hp.<column>
#: (``steps`` as ``hp.train_steps``: ``steps`` is the column of steps completed)
TRAINING_HPS = {"lr": "lr", "latent_dim": "latent_dim", "batch_size": "batch_size",
                "objective_lr": "objective_lr", "steps": "train_steps"}
METRIC_PREFIX = "metric."
EVAL_PREFIX = "eval."
KL_DIM_PREFIX = "kl.dim_"
RUN_DIR = "run"  # a trial's run folder inside its Tune trial folder
RESULTS_FILE = "results.csv"  # one row per trial, in the experiment folder
#: a beta-matched twin's cell key and results.csv column: the label of the L-VAE cell whose
#: median learned beta the twin (a beta-VAE) is fixed at; empty for every other trial
MATCHED_TO = "matched_to"
#: results.csv columns without which a trial cannot be placed in a cell or found on disk
REQUIRED_COLUMNS = ("trial_id", "status", "objective", "seed",
                    "dataset", "architecture", "trial_dir")
#: how each trial's metrics were estimated, as eval.<name> columns (``eval.metrics``, the
#: list computed, is recorded too but does not define the estimator)
EVAL_SETTINGS = ("probe", "num_train", "num_test", "num_bins", "representation", "seed")
#: the metrics' floor (untrained encoders) and ceiling (true factors), cached per settings in
#: <experiment>/REFERENCE_DIR/REFERENCE_FILE (lvae.metrics.reference, analysis.studies.reference)
REFERENCE_DIR = "metric_reference"
REFERENCE_FILE = "metric_reference.csv"

#: nats of final per-latent KL above which a latent is active (the KL count of active
#: units; docs/analysis.md, "Posterior collapse")
ACTIVE_KL = 0.01
#: variance over inputs of a latent's posterior mean above which it is active (Burda et al.
#: 2016's count; lvae.metrics.activity, docs/metrics.md)
ACTIVE_VAR = 0.01
#: result keys that describe the model rather than score disentanglement: reported next to
#: collapse, never summarised or compared as metrics (analysis.io.table.metric_columns)
ACTIVE_UNITS_KEY = "active_units"
DIAGNOSTIC_KEYS = (ACTIVE_UNITS_KEY, "factor_vae.num_active_dims")
#: a trial is collapsed when its final total KL is below COLLAPSE_TOTAL_KL nats, or its
#: reconstruction gains less than COLLAPSE_RECON_GAIN (a fraction) over the mean image's;
#: both cuts sit in the empty gap of the study's distribution (docs/analysis.md)
COLLAPSE_TOTAL_KL = 1.0
COLLAPSE_RECON_GAIN = 0.1


def count_active(kl_per_dim: list[float], threshold: float = ACTIVE_KL) -> int:
    """Latents whose KL to the prior is above ``threshold``."""
    return sum(1 for v in kl_per_dim if v > threshold)
