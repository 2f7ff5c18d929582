"""Separated Attribute Predictability (Kumar et al. 2018), discrete-factor variant.

As disentanglement_lib's ``sap_score.py`` with ``continuous_factors=False`` (its study
setting): for each (code i, factor j) a ``LinearSVC(C=0.01, class_weight="balanced")``
is fit on that single code and scored by test accuracy; SAP is the mean over factors of
the gap between the best and second-best code's accuracy. The constructor call is
disentanglement_lib's, so liblinear's solver follows this scikit-learn's default
(``dual="auto"``: primal here); the optimum is the same strictly convex problem.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from lvae.metrics.utils import check_train_test, varying_factors


def sap_score_matrix(
    codes_train: np.ndarray,
    factors_train: np.ndarray,
    codes_test: np.ndarray,
    factors_test: np.ndarray,
    seed: int = 0,
) -> np.ndarray:
    """(D, K) test accuracy of a one-code linear SVM per (code, factor)."""
    num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
    scores = np.zeros((num_codes, num_factors))
    for i in range(num_codes):
        for j in range(num_factors):
            clf = LinearSVC(C=0.01, class_weight="balanced", random_state=seed)
            with warnings.catch_warnings():
                # One feature with C=0.01 can stall liblinear short of its tolerance; the
                # accuracy is what is scored, as in disentanglement_lib.
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf.fit(codes_train[:, i : i + 1], factors_train[:, j])
            pred = clf.predict(codes_test[:, i : i + 1])
            scores[i, j] = np.mean(pred == factors_test[:, j])
    return scores


def avg_top_two_gap(score_matrix: np.ndarray) -> float:
    """Mean over factors (columns) of best minus second-best score."""
    if score_matrix.ndim != 2 or score_matrix.shape[0] < 2:
        raise ValueError("SAP needs a score matrix with at least 2 code dims, got "
                         f"{score_matrix.shape}")
    s = np.sort(score_matrix, axis=0)
    return float(np.mean(s[-1] - s[-2]))


def sap(
    codes_train: object,
    factors_train: object,
    codes_test: object,
    factors_test: object,
    seed: int = 0,
) -> dict[str, float]:
    """SAP of codes (N, D) against integer factors (N, K). Returns ``{"sap": float}``.

    Factors with a single value in ``factors_train`` are skipped with a warning.
    ``seed`` only fixes liblinear's coordinate order (disentanglement_lib leaves it unseeded).
    """
    ctr, ftr, cte, fte = check_train_test(codes_train, factors_train, codes_test, factors_test)
    if ctr.shape[1] < 2:
        raise ValueError("codes_train must have at least 2 code dims for a gap, got "
                         f"{ctr.shape[1]}")
    keep = varying_factors(ftr, "factors_train")
    scores = sap_score_matrix(ctr, ftr[:, keep], cte, fte[:, keep], seed=seed)
    return {"sap": avg_top_two_gap(scores)}
