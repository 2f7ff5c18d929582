"""GBT's feature importance, computed on the trees of a histogram gradient-boosting model.

``GradientBoostingClassifier.feature_importances_`` (the DCI parity probe) sums, over
every regression tree and every split, the decrease in squared error of the boosting
residuals ``y_k - p_k`` that the split achieves on the training set, and normalises the
total. ``HistGradientBoostingClassifier`` fits the same kind of model (one depth-limited
tree per class per iteration) about 15x faster, but exposes no importance; its trees'
split gains are Newton gains (hessian-weighted), which put measurably less weight on
codes the trees use to fit noise. This module re-measures each HGB split with GBT's
quantity: residuals at each iteration, summed per leaf, propagated to the internal
nodes, and ``S_L^2 / n_L + S_R^2 / n_R - S^2 / n`` per split.

It walks sklearn's fitted trees (``_predictors``, ``_bin_mapper`` and ``TreePredictor``
are private), so it checks for them and fails with a clear message if they change.
"""

from __future__ import annotations

import numpy as np

try:  # private module; see the module docstring
    from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
except ImportError:  # pragma: no cover - depends on the installed scikit-learn
    TreePredictor = None


def _require_internals(model) -> None:
    missing = [a for a in ("_predictors", "_bin_mapper", "classes_") if not hasattr(model, a)]
    if TreePredictor is None or missing:
        import sklearn

        raise RuntimeError(
            f"scikit-learn {sklearn.__version__}'s HistGradientBoostingClassifier does not expose "
            f"the fitted trees this importance needs (missing: {missing or ['TreePredictor']}); "
            "use the DCI probe 'gbt' instead"
        )


def _leaf_of_each_sample(tree, x_binned: np.ndarray, missing_bin: int) -> np.ndarray:
    """Node index of the leaf every sample falls into, via sklearn's own tree traversal
    (a copy of the tree whose leaf values are their node indices)."""
    nodes = tree.nodes.copy()
    nodes["value"] = np.arange(len(nodes))
    indexer = TreePredictor(nodes, tree.binned_left_cat_bitsets, tree.raw_left_cat_bitsets)
    return indexer.predict_binned(x_binned, missing_bin, 1).astype(np.intp)


def _probabilities(raw: np.ndarray, binary: bool) -> np.ndarray:
    if binary:
        return 1.0 / (1.0 + np.exp(-raw))
    e = np.exp(raw - raw.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _split_reductions(nodes: np.ndarray, leaf: np.ndarray,
                      residual: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(feature of each split, its squared-error reduction of ``residual``)."""
    num_nodes = len(nodes)
    total = np.bincount(leaf, weights=residual, minlength=num_nodes)
    count = np.bincount(leaf, minlength=num_nodes).astype(np.float64)
    internal = np.flatnonzero(nodes["is_leaf"] == 0)
    left, right = nodes["left"].astype(np.intp), nodes["right"].astype(np.intp)
    for q in internal[::-1]:  # sklearn numbers children after their parent
        total[q] = total[left[q]] + total[right[q]]
        count[q] = count[left[q]] + count[right[q]]
    with np.errstate(invalid="ignore", divide="ignore"):
        sq = np.where(count > 0, total * total / count, 0.0)
    reduction = sq[left[internal]] + sq[right[internal]] - sq[internal]
    return nodes["feature_idx"][internal].astype(np.intp), reduction


def residual_importance(model, x_train: np.ndarray, y_train: np.ndarray) -> np.ndarray:
    """Per-feature share of the total squared-error reduction of the boosting residuals.

    ``model`` is a ``HistGradientBoostingClassifier`` fitted on exactly ``x_train``,
    ``y_train`` without early stopping (so every tree saw every training sample). The
    result is non-negative and sums to 1 (all zeros when no tree split).
    """
    return residual_importance_and_predictions(model, x_train, y_train)[0]


def residual_importance_and_predictions(
    model, x_train: np.ndarray, y_train: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`residual_importance` and the model's class predictions on ``x_train``,
    which the walk over the trees computes anyway (saves a second pass for accuracy)."""
    _require_internals(model)
    x_train = np.asarray(x_train)
    classes = model.classes_
    onehot = (np.asarray(y_train)[:, None] == classes[None, :]).astype(np.float64)
    binary = len(classes) == 2
    if binary:  # one tree per iteration, for the second class
        onehot = onehot[:, 1:]
    # HGB starts from the class frequencies (softmax is shift-invariant, so log is enough).
    prior = np.clip(onehot.mean(axis=0), 1e-15, 1 - 1e-15)
    start = np.log(prior) - (np.log1p(-prior) if binary else 0.0)
    raw = np.broadcast_to(start, onehot.shape).copy()
    x_binned = model._bin_mapper.transform(x_train)
    missing_bin = model._bin_mapper.missing_values_bin_idx_
    importance = np.zeros(x_train.shape[1])
    for trees in model._predictors:
        residual = onehot - _probabilities(raw, binary)
        for k, tree in enumerate(trees):
            nodes = tree.nodes
            if len(nodes) == 1:
                raw[:, k] += nodes["value"][0]
                continue
            leaf = _leaf_of_each_sample(tree, x_binned, missing_bin)
            raw[:, k] += nodes["value"][leaf]
            features, reduction = _split_reductions(nodes, leaf, residual[:, k])
            np.add.at(importance, features, reduction)
    importance = np.maximum(importance, 0.0)
    total = importance.sum()
    predicted = classes[(raw[:, 0] > 0).astype(np.intp) if binary else raw.argmax(axis=1)]
    return (importance / total if total > 0 else importance), predicted
