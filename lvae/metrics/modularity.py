"""Modularity and explicitness (Ridgeway and Zemel 2018) as in disentanglement_lib's
``modularity_explicitness.py``.

- Modularity: from the (D, K) histogram MI matrix of the train codes (same 20-bin
  discretiser as MIG). Per code, delta = (sum_j m_ij^2 - max_j m_ij^2) / (max_j m_ij^2 (K - 1)),
  score 1 - delta, 0 for a code with no information; modularity is the mean over codes.
- Explicitness: codes standardised with the train mean/std; per factor a
  ``LogisticRegression()`` (default settings) and the macro one-vs-rest ROC-AUC of its
  class probabilities; explicitness is the mean over factors (test set; train under
  ``explicitness_train``). ``LogisticRegression()`` takes this scikit-learn's defaults
  (lbfgs, multinomial); scikit-learn < 0.22 defaulted to liblinear one-vs-rest.

Departures only where disentanglement_lib would crash or return NaN: a constant code
dim is standardised with std 1 instead of 0, and a class that is absent from the test
set is left out of that factor's macro AUC (disentanglement_lib raises a shape error);
test points of a class never seen in training count as negatives for every class.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from lvae.metrics.utils import (
    as_array,
    check_num_bins,
    check_train_test,
    discrete_mutual_info,
    histogram_discretize,
    standardize,
    varying_factors,
)


def modularity_from_mi(mutual_information: np.ndarray) -> float:
    """Mean per-code modularity of a (D, K) MI matrix (K >= 2)."""
    m = as_array(mutual_information, "mutual_information", np.float64)
    if m.ndim != 2 or m.shape[1] < 2:
        raise ValueError("modularity needs an MI matrix with at least 2 factors, got shape "
                         f"{m.shape}")
    squared = np.square(m)
    max_squared = np.max(squared, axis=1)
    numerator = np.sum(squared, axis=1) - max_squared
    denominator = max_squared * (squared.shape[1] - 1.0)
    informative = max_squared > 0.0
    score = np.zeros(m.shape[0])
    score[informative] = 1.0 - numerator[informative] / denominator[informative]
    return float(np.mean(score))


def _macro_auc(y: np.ndarray, proba: np.ndarray, classes: np.ndarray) -> float:
    """Macro one-vs-rest AUC over the classes that have positives and negatives in y."""
    onehot = (y[:, None] == classes[None, :]).astype(np.int64)
    scored = (onehot.sum(axis=0) > 0) & (onehot.sum(axis=0) < y.size)
    if not scored.any():
        raise ValueError("explicitness needs at least one class with both positives and negatives")
    return float(roc_auc_score(onehot[:, scored], proba[:, scored], average="macro"))


def explicitness_per_factor(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray
) -> tuple[float, float]:
    """Train and test macro ROC-AUC of a default LogisticRegression on standardised codes."""
    clf = LogisticRegression()
    with warnings.catch_warnings():
        # Default settings (max_iter=100) on purpose, for parity with disentanglement_lib.
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(x_train, y_train)
    return (
        _macro_auc(y_train, clf.predict_proba(x_train), clf.classes_),
        _macro_auc(y_test, clf.predict_proba(x_test), clf.classes_),
    )


def modularity_explicitness(
    codes_train: object,
    factors_train: object,
    codes_test: object,
    factors_test: object,
    num_bins: int = 20,
) -> dict[str, float]:
    """``{"modularity", "explicitness", "explicitness_train"}`` for codes (N, D).

    Factors with a single value in ``factors_train`` are skipped with a warning;
    modularity needs at least 2 factors left.
    """
    ctr, ftr, cte, fte = check_train_test(codes_train, factors_train, codes_test, factors_test)
    num_bins = check_num_bins(num_bins, ctr.shape[0], "codes_train")
    keep = varying_factors(ftr, "factors_train")
    if keep.size < 2:
        raise ValueError("modularity needs at least 2 factors that vary in factors_train, got "
                         f"{keep.size}")
    ftr, fte = ftr[:, keep], fte[:, keep]
    mi = discrete_mutual_info(histogram_discretize(ctr, num_bins), ftr)
    xs_train, xs_test = standardize(ctr, cte)
    aucs = np.array(
        [explicitness_per_factor(xs_train, ftr[:, j], xs_test,
                                 fte[:, j]) for j in range(ftr.shape[1])]
    )
    return {
        "modularity": modularity_from_mi(mi),
        "explicitness": float(np.mean(aucs[:, 1])),
        "explicitness_train": float(np.mean(aucs[:, 0])),
    }
