"""Active units by Var_x of the posterior mean: what moves with the input counts, what
never moves does not, whatever the scale of the others."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.metrics import TinyDataset, identity_encoder

from lvae.metrics.activity import active_units
from lvae.metrics.registry import compute


def test_counts_latents_whose_mean_moves_with_the_input():
    rng = np.random.default_rng(0)
    codes = np.column_stack([rng.normal(0, 1, 500), rng.normal(0, 0.2, 500),  # active
                             rng.normal(0, 0.05, 500), np.full(500, 3.0)])     # inactive
    assert active_units(codes) == {"active_units": 2}
    assert active_units(codes, threshold=0.001) == {"active_units": 3}


def test_the_registry_scores_it_on_the_evaluation_sample():
    # the identity encoder's codes are the factors: every varying factor is an active unit
    scores = compute("active_units", TinyDataset(), identity_encoder, seed=0, num_train=300,
                     num_test=100)
    assert scores == {"active_units": 3}


@pytest.mark.parametrize("codes, threshold, message", [
    (np.zeros((1, 3)), 0.01, "at least 2 points"),
    (np.zeros((5, 3)), -1.0, "threshold"),
    (np.zeros(5), 0.01, "2-D"),
])
def test_bad_input_is_refused_by_name(codes, threshold, message):
    with pytest.raises(ValueError, match=message):
        active_units(codes, threshold=threshold)
