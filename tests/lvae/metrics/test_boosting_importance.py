"""GBT-style importance on HistGradientBoosting trees (the fast DCI probe's importance)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier

from lvae.metrics import boosting_importance
from lvae.metrics.boosting_importance import (
    residual_importance,
    residual_importance_and_predictions,
)


def _reference_importance(model, x, y):
    """Slow, independent route to the same quantity: raw-feature thresholds instead of
    bins, and the public ``staged_decision_function`` for the residuals."""
    classes = model.classes_
    onehot = (y[:, None] == classes[None, :]).astype(float)
    binary = len(classes) == 2
    if binary:
        onehot = onehot[:, 1:]
    prob = np.broadcast_to(onehot.mean(axis=0), onehot.shape)
    importance = np.zeros(x.shape[1])
    for trees, raw in zip(model._predictors, model.staged_decision_function(x), strict=True):
        residual = onehot - prob
        for k, tree in enumerate(trees):
            nodes = tree.nodes

            def visit(q, members, r=residual[:, k], nodes=nodes):
                if nodes["is_leaf"][q]:
                    return
                f = nodes["feature_idx"][q]
                go_left = x[members, f] <= nodes["num_threshold"][q]
                parts = [members[go_left], members[~go_left]]
                score = sum(r[p].sum() ** 2 / len(p) for p in parts if len(p)) - r[
                    members
                ].sum() ** 2 / len(members)
                importance[f] += score
                visit(nodes["left"][q], parts[0])
                visit(nodes["right"][q], parts[1])

            visit(0, np.arange(len(x)))
        raw = np.asarray(raw).reshape(len(x), -1)
        if binary:
            prob = 1 / (1 + np.exp(-raw))
        else:
            e = np.exp(raw - raw.max(axis=1, keepdims=True))
            prob = e / e.sum(axis=1, keepdims=True)
    return importance / importance.sum()


def _data(n, num_classes, seed):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    score = np.tanh(2 * x[:, 0]) + 0.5 * x[:, 1] * x[:, 2] + 0.3 * rng.normal(size=n)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, num_classes + 1)[1:-1]))
    return x, y


@pytest.mark.parametrize("num_classes", [2, 3, 7])
def test_matches_an_independent_reference(num_classes):
    x, y = _data(400, num_classes, seed=num_classes)
    model = HistGradientBoostingClassifier(
        max_depth=3, min_samples_leaf=1, max_iter=15, early_stopping=False, random_state=0
    ).fit(x, y)
    got, predicted = residual_importance_and_predictions(model, x, y)
    np.testing.assert_allclose(got, _reference_importance(model, x, y), rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(predicted, model.predict(x))
    assert got.sum() == pytest.approx(1.0) and (got >= 0).all()


def test_importance_follows_the_informative_features():
    x, y = _data(1000, 4, seed=1)
    model = HistGradientBoostingClassifier(max_depth=3, early_stopping=False, random_state=0).fit(
        x, y
    )
    got = residual_importance(model, x, y)
    assert got[0] > 0.5  # the main driver
    assert got[[1, 2]].min() > got[[3, 4]].max()  # the interaction beats pure noise


def test_close_to_gradient_boosting_feature_importances():
    x, y = _data(1500, 5, seed=2)
    hgb = HistGradientBoostingClassifier(
        max_depth=3, min_samples_leaf=1, early_stopping=False, random_state=0
    ).fit(x, y)
    gbt = GradientBoostingClassifier(random_state=0).fit(x, y)
    got, want = residual_importance(hgb, x, y), gbt.feature_importances_
    for imp in (got, want):  # same structure: main driver, interaction pair, noise
        assert imp.argmax() == 0 and imp[[1, 2]].min() > imp[[3, 4]].max()
    np.testing.assert_allclose(got, want, atol=0.08)


def test_no_split_gives_zero_importance():
    x = np.random.default_rng(0).normal(size=(50, 3))
    y = np.repeat([0, 1], 25)
    model = HistGradientBoostingClassifier(
        max_iter=3, min_samples_leaf=40, early_stopping=False
    ).fit(x, y)
    np.testing.assert_array_equal(residual_importance(model, x, y), np.zeros(3))


def test_missing_sklearn_internals_is_a_clear_error(monkeypatch):
    x, y = _data(100, 2, seed=0)
    model = HistGradientBoostingClassifier(max_iter=2, early_stopping=False).fit(x, y)
    monkeypatch.setattr(boosting_importance, "TreePredictor", None)
    with pytest.raises(RuntimeError, match="probe 'gbt'"):
        residual_importance(model, x, y)
