"""Disentanglement, Completeness and Informativeness (Eastwood and Williams 2018).

One classifier ("probe") per factor predicts the factor from all codes; its per-code
importances form the (D, K) matrix R. As in disentanglement_lib's ``dci.py``:

- disentanglement = sum_i rho_i (1 - H_K(R[i, :] / sum_j R[i, j])), rho_i = R[i].sum() / R.sum()
- completeness    = sum_j rho_j (1 - H_D(R[:, j] / sum_i R[i, j])), rho_j = R[:, j].sum() / R.sum()
- informativeness = mean over factors of the probe's classification accuracy (train and
  test); disentanglement_lib calls it a loss but computes an accuracy.

Entropies use base K (number of factors) and base D (number of codes) with 1e-11 added
to every entry, exactly as disentanglement_lib does.

Probes (:data:`PROBES`):

- ``"gbt"``: disentanglement_lib's definition, ``GradientBoostingClassifier()`` with
  default settings per factor, importance = |feature_importances_|. Slow: one tree per
  class per stage, so a 40-class factor fits 4,000 trees.
- ``"hgb"``: the fast probe. ``HistGradientBoostingClassifier`` set up like GBT's
  defaults (100 iterations, learning rate 0.1, depth 3, one sample per leaf allowed, no
  early stopping), and importance measured exactly as GBT measures it: the squared-error
  reduction of the boosting residuals achieved by each split on the training set,
  summed per code (:mod:`lvae.metrics.boosting_importance`); HGB's own split gains
  (Newton gains) put less weight on the codes the trees use to fit noise. It reads
  slightly higher than ``"gbt"`` and is an order of magnitude faster; the measured
  agreement and speed are in docs/metrics.md ("DCI probes").
  Use ``"gbt"`` for numbers that are compared with the literature.
- ``"logistic"``: a linear baseline, multinomial ``LogisticRegression`` on codes
  standardised with the train mean/std, importance = |coef| summed over classes.
  Fastest, but it misses nonlinear codes and leaks importance onto unrelated codes
  (docs/metrics.md). Not a GBT substitute.

Probes for different factors are independent, so they are fit in parallel (joblib);
each is seeded with ``seed``, so the scores do not depend on ``n_jobs``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.stats
from joblib import Parallel, delayed
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from lvae.metrics.boosting_importance import residual_importance_and_predictions
from lvae.metrics.utils import as_array, check_train_test, standardize, varying_factors


@dataclass(frozen=True)
class ProbeResult:
    """One factor's probe: per-code importance (D,) and classification accuracies."""

    importance: np.ndarray
    train_accuracy: float
    test_accuracy: float


#: (x_train (N, D), y_train (N,), x_test (M, D), y_test (M,), seed) -> ProbeResult
Probe = Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int], ProbeResult]
PROBES: dict[str, Probe] = {}


def register_probe(name: str) -> Callable[[Probe], Probe]:
    def deco(fn: Probe) -> Probe:
        if name in PROBES:
            raise ValueError(f"DCI probe {name!r} registered twice")
        PROBES[name] = fn
        return fn

    return deco


def _accuracy(model, x: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(model.predict(x) == y))


@register_probe("gbt")
def gbt_probe(x_train, y_train, x_test, y_test, seed: int) -> ProbeResult:
    """disentanglement_lib's probe: default GradientBoostingClassifier (seeded)."""
    model = GradientBoostingClassifier(random_state=seed)
    model.fit(x_train, y_train)
    return ProbeResult(
        np.abs(model.feature_importances_),
        _accuracy(model, x_train, y_train),
        _accuracy(model, x_test, y_test),
    )


@register_probe("hgb")
def hgb_probe(x_train, y_train, x_test, y_test, seed: int) -> ProbeResult:
    """Fast tree probe: GBT's model on histograms, importance measured as GBT measures it."""
    model = HistGradientBoostingClassifier(
        max_depth=3, min_samples_leaf=1, early_stopping=False, random_state=seed
    )
    # One OpenMP thread: its parallel gradient sums would otherwise make the fit (and the
    # scores) depend on the thread count; parallelism comes from fitting factors at once.
    with threadpool_limits(limits=1, user_api="openmp"):
        model.fit(x_train, y_train)
        importance, predicted = residual_importance_and_predictions(model, x_train, y_train)
        return ProbeResult(
            importance, float(np.mean(predicted == y_train)), _accuracy(model, x_test, y_test)
        )


@register_probe("logistic")
def logistic_probe(x_train, y_train, x_test, y_test, seed: int) -> ProbeResult:
    """Linear baseline: |coef| summed over classes on standardised codes."""
    xs_train, xs_test = standardize(x_train, x_test)
    model = LogisticRegression(max_iter=1000, random_state=seed)
    with warnings.catch_warnings():
        # lbfgs may stop a hair short of the tolerance; the importances are stable by then.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(xs_train, y_train)
    return ProbeResult(
        np.abs(model.coef_).sum(axis=0),
        _accuracy(model, xs_train, y_train),
        _accuracy(model, xs_test, y_test),
    )


# --------------------------------------------------------- pure score functions
def _check_importance(importance: object) -> np.ndarray:
    r = as_array(importance, "importance", np.float64)
    if r.ndim != 2:
        raise ValueError("importance must be a 2-D (num_codes, num_factors) array, got shape "
                         f"{r.shape}")
    if not np.isfinite(r).all() or (r < 0).any():
        raise ValueError("importance must hold finite, non-negative values")
    return r


def disentanglement_per_code(importance: object) -> np.ndarray:
    """1 - H_K(row i normalised) per code (K = number of factors)."""
    r = _check_importance(importance)
    if r.shape[1] < 2:
        raise ValueError(f"disentanglement needs at least 2 factors, got {r.shape[1]}")
    return 1.0 - scipy.stats.entropy(r.T + 1e-11, base=r.shape[1])


def _importance_weighted(scores: np.ndarray, r: np.ndarray, axis: int) -> float:
    """Mean of per-code (axis=1) or per-factor (axis=0) scores weighted by their share of R;
    an all-zero R weighs them equally, as disentanglement_lib does."""
    if r.sum() == 0.0:
        r = np.ones_like(r)
    return float(np.sum(scores * (r.sum(axis=axis) / r.sum())))


def disentanglement(importance: object) -> float:
    """Importance-weighted mean of :func:`disentanglement_per_code` (0 for an all-zero R)."""
    r = _check_importance(importance)
    return _importance_weighted(disentanglement_per_code(r), r, axis=1)


def completeness_per_factor(importance: object) -> np.ndarray:
    """1 - H_D(column j normalised) per factor (D = number of codes)."""
    r = _check_importance(importance)
    if r.shape[0] < 2:
        raise ValueError(f"completeness needs at least 2 code dims, got {r.shape[0]}")
    return 1.0 - scipy.stats.entropy(r + 1e-11, base=r.shape[0])


def completeness(importance: object) -> float:
    """Importance-weighted mean of :func:`completeness_per_factor` (0 for an all-zero R)."""
    r = _check_importance(importance)
    return _importance_weighted(completeness_per_factor(r), r, axis=0)


# ------------------------------------------------------------------ the metric
def resolve_n_jobs(n_jobs: int | None) -> int:
    """None means every available core (joblib's own None means one)."""
    if n_jobs is None:
        return -1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise ValueError("n_jobs must be None, a positive int or a negative joblib count, got "
                         f"{n_jobs!r}")
    return int(n_jobs)


def importance_matrix(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    probe: str = "gbt",
    seed: int = 0,
    n_jobs: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(D, K) importances and (K,) train and test accuracies of one probe per factor."""
    if probe not in PROBES:
        raise ValueError(f"unknown DCI probe {probe!r}; valid probes: {', '.join(sorted(PROBES))}")
    fn = PROBES[probe]
    # Longest first (a probe's cost grows with its number of classes), so the last
    # worker to finish is not the one that picked up the 40-class factor last.
    num_classes = [np.unique(factors_train[:, j]).size for j in range(factors_train.shape[1])]
    order = np.argsort(num_classes, kind="stable")[::-1]
    jobs = (
        delayed(fn)(codes_train, factors_train[:, j], codes_test, factors_test[:, j], seed)
        for j in order
    )
    done = Parallel(n_jobs=resolve_n_jobs(n_jobs))(jobs)
    results = [done[i] for i in np.argsort(order)]
    importance = np.stack([r.importance for r in results], axis=1)
    train_acc = np.array([r.train_accuracy for r in results])
    test_acc = np.array([r.test_accuracy for r in results])
    return importance, train_acc, test_acc


def dci(
    codes_train: object,
    factors_train: object,
    codes_test: object,
    factors_test: object,
    probe: str = "gbt",
    seed: int = 0,
    n_jobs: int | None = None,
) -> dict[str, float]:
    """DCI scores of codes (N, D) against integer factors (N, K), train and test sets.

    Factors with a single value in ``factors_train`` are skipped with a warning.
    ``n_jobs``: None = all cores, 1 = one core; the scores are the same either way.
    """
    ctr, ftr, cte, fte = check_train_test(codes_train, factors_train, codes_test, factors_test)
    if probe not in PROBES:
        raise ValueError(f"unknown DCI probe {probe!r}; valid probes: {', '.join(sorted(PROBES))}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    n_jobs = resolve_n_jobs(n_jobs)
    if ctr.shape[1] < 2:
        raise ValueError("codes_train must have at least 2 code dims for completeness, got "
                         f"{ctr.shape[1]}")
    keep = varying_factors(ftr, "factors_train")
    if keep.size < 2:
        raise ValueError(
            f"DCI needs at least 2 factors that vary in factors_train, got {keep.size}"
        )
    r, train_acc, test_acc = importance_matrix(
        ctr, ftr[:, keep], cte, fte[:, keep], probe=probe, seed=int(seed), n_jobs=n_jobs
    )
    return {
        "disentanglement": disentanglement(r),
        "completeness": completeness(r),
        "informativeness_train": float(np.mean(train_acc)),
        "informativeness_test": float(np.mean(test_acc)),
    }
