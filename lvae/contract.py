"""Names the packages agree on: what the trainer logs, what a sweep reports to Tune and
writes to results.csv, where a run keeps its files, and when a latent counts as active.

``lvae`` owns them because everything downstream reads what the trainer writes;
``sweeps`` and ``analysis`` import them from here instead of spelling them again.
"""

from __future__ import annotations

# --- a run folder (lvae.train) --------------------------------------------------------
CONFIG_FILE = "config.json"
RESULT_FILE = "result.json"
METRICS_FILE = "metrics.json"
TB_DIR = "tb"

# --- TensorBoard tags / trainer record keys -------------------------------------------
LOSS_TAGS = ("loss/total", "loss/recon", "loss/kl")
BETA_TAG = "beta/effective"
OBJECTIVE_PREFIX = "objective/"
KL_DIM_TAG = "kl/dim_"
METRIC_TAG = "metric/"
STEPS_PER_S_TAG = "perf/steps_per_s"

# --- Tune report keys and results.csv columns (sweeps) ----------------------------------
#: trainer record tag -> flat Tune key (Tune keys carry no slashes)
TUNE_KEYS = {
    "loss/total": "loss_total",
    "loss/recon": "loss_recon",
    "loss/kl": "loss_kl",
    BETA_TAG: "beta_eff",
    STEPS_PER_S_TAG: "steps_per_s",
}
HP_PREFIX = "hp."
METRIC_PREFIX = "metric."
EVAL_PREFIX = "eval."
KL_DIM_PREFIX = "kl.dim_"
RUN_DIR = "run"  # a trial's run folder inside its Tune trial folder

#: nats of final per-latent KL above which a latent is active; a trial with none is
#: collapsed (docs/analysis.md, "Collapse")
ACTIVE_KL = 0.01


def count_active(kl_per_dim: list[float], threshold: float = ACTIVE_KL) -> int:
    """Latents whose KL to the prior is above ``threshold``."""
    return sum(1 for v in kl_per_dim if v > threshold)
