"""Disentanglement metrics with disentanglement_lib 1.5's definitions on (N, D) arrays.

Array metrics take codes (num_points, num_codes) and integer factors
(num_points, num_factors); sampling metrics take a GroundTruthDataset and an encoder.
:mod:`lvae.metrics.registry` runs any of them by name with namespaced result keys.
"""

from lvae.metrics.beta_vae import beta_vae_score
from lvae.metrics.dci import PROBES, completeness, dci, disentanglement, register_probe
from lvae.metrics.factor_vae import factor_vae_score
from lvae.metrics.mig import mig, mutual_info_matrix
from lvae.metrics.modularity import modularity_explicitness
from lvae.metrics.registry import METRICS, compute, compute_many, metric_names, namespaced
from lvae.metrics.sap import sap
from lvae.metrics.utils import sample_codes_and_factors, sample_train_test

__all__ = [
    "METRICS",
    "PROBES",
    "beta_vae_score",
    "completeness",
    "compute",
    "compute_many",
    "dci",
    "disentanglement",
    "factor_vae_score",
    "metric_names",
    "mig",
    "modularity_explicitness",
    "mutual_info_matrix",
    "namespaced",
    "register_probe",
    "sample_codes_and_factors",
    "sample_train_test",
    "sap",
]
