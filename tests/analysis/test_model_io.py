"""The model adapters (encode the same inputs, traversals) with a toy model and dataset."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.analysis_fixtures import TrialSpec, fake_load_run, write_experiment

from analysis import load_experiments, udr_for_trials
from analysis.io.model_io import encode_runs, encode_with_kl, has_checkpoint, traversal_image


@pytest.fixture()
def exp(tmp_path):
    trials = [TrialSpec("lvae", {"lambda": 0.1}, s) for s in range(3)]
    trials += [TrialSpec("lvae", {"lambda": 1.0}, 7, checkpoint=False)]
    return write_experiment(tmp_path, "exp", trials)


def test_encode_runs_same_inputs_codes_and_kl(exp):
    df = load_experiments(exp)
    runs = list(df["run_dir"][:3])
    codes, kls = encode_runs(runs, num_samples=64, seed=0, load_run=fake_load_run)
    assert [c.shape for c in codes] == [(64, 4)] * 3 and [k.shape for k in kls] == [(4,)] * 3
    # the toy models are permutations of each other: the same code columns in another order
    assert sorted(map(tuple,
                      np.round(codes[0].T, 6))) == sorted(map(tuple, np.round(codes[1].T, 6)))
    for k in kls:  # two dead latents (mu = 0, logvar = 0) have KL 0
        assert (np.sort(k)[:2] == 0).all() and (np.sort(k)[2:] > 0.01).all()
    again, _ = encode_runs(runs, num_samples=64, seed=0, load_run=fake_load_run)
    np.testing.assert_array_equal(codes[0], again[0])
    other, _ = encode_runs(runs, num_samples=64, seed=1, load_run=fake_load_run)
    assert not np.array_equal(codes[0], other[0])


def test_kl_matches_the_closed_form():
    import torch

    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.p = torch.nn.Parameter(torch.zeros(1))

        def encode(self, x):
            n = x.shape[0]
            return torch.full((n, 2), 1.0), torch.full((n, 2), np.log(0.5))

    codes, kl = encode_with_kl(Fixed(), np.zeros((5, 1, 64, 64), np.float32), batch_size=2)
    expected = 0.5 * (1.0 + 0.5 - np.log(0.5) - 1)
    np.testing.assert_allclose(kl, [expected, expected])
    assert codes.shape == (5, 2)


def test_models_of_different_datasets_are_refused(exp):
    df = load_experiments(exp)
    cfg = json.loads((exp / df["trial_dir"][1] / "run" / "config.json").read_text())
    cfg["dataset"] = "other"
    (exp / df["trial_dir"][1] / "run" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="config.dataset is 'other'"):
        encode_runs(list(df["run_dir"][:2]), num_samples=8, load_run=fake_load_run)


def test_udr_for_trials_with_toy_models(exp):
    df = load_experiments(exp)
    usable = df[[has_checkpoint(r) for r in df["run_dir"]]]
    assert len(usable) == 3

    def encode(run_dirs):
        return encode_runs(run_dirs, num_samples=200, load_run=fake_load_run)

    scores = udr_for_trials(usable, encode)
    assert len(scores) == 3 and (scores["udr"] > 0.9).all() and (scores["n_active"] == 2).all()


def test_traversal_image_uses_the_trainers_grid(exp):
    df = load_experiments(exp)
    grid = traversal_image(df["run_dir"][0], seed=0, steps=5, load_run=fake_load_run)
    # 4 latents x 5 steps of 64x64 tiles with 1-pixel padding
    assert grid.shape == (1, 4 * 65 + 1, 5 * 65 + 1)
    tiles = [[grid[0, 1 + 65 * r : 65 * r + 65,
                   1 + 65 * c : 65 * c + 65] for c in range(5)] for r in range(4)]
    # each row sweeps its own latent: the first and last tile of a row differ
    assert all(np.abs(row[0] - row[-1]).max() > 1e-3 for row in tiles)
