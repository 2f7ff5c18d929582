"""benchmarks/synthetic_study.py: the synthetic study the report is measured on at
disentanglement_lib's scale must read like a real experiment folder, or the measurement says
nothing about real folders: results.csv through the report's loader, the events through
TensorBoard's own reader (every checksum checked), the scalar table equal to the events, and
the checkpoints loadable by lvae.evaluate."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
from helpers.paths import REPO
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

if str(REPO) not in sys.path:  # benchmarks/ is a folder of scripts, not an installed package
    sys.path.insert(0, str(REPO))

from analysis.io.events import read_scalars, read_trajectories, run_table  # noqa: E402
from analysis.io.load import load_experiments  # noqa: E402
from benchmarks import synthetic_events, synthetic_study, synthetic_trial  # noqa: E402
from lvae import scalar_table  # noqa: E402
from lvae.contract import TB_DIR  # noqa: E402
from lvae.evaluate import load_run  # noqa: E402
from sweeps.results import FIRST_COLUMNS, LOSS_COLUMNS, TAIL_COLUMNS  # noqa: E402

TRIALS = 30


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> pd.DataFrame:
    out = tmp_path_factory.mktemp("synthetic") / "study"
    synthetic_study.generate(out, TRIALS, jobs=1)
    return load_experiments(out)


def test_masked_crc32c_matches_tensorboards() -> None:
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 256, (4, 33), dtype=np.uint8)
    lengths = np.array([33, 0, 5, 32])
    got = synthetic_events.masked_crc32c(rows, lengths)
    assert got.tolist() == [masked_crc32c(r[:n].tobytes()) for r, n in zip(rows, lengths,
                                                                          strict=True)]


def test_design_is_the_reference_study_shape() -> None:
    full = synthetic_study.design()
    assert len(full) == 12_600 == 6 * 6 * 7 * 50
    assert full.groupby(["dataset", "objective", "value"]).size().eq(50).all()
    assert synthetic_study.design(300).equals(full.head(300))  # a subset: fewer seeds


def test_results_have_the_sweeps_columns(study: pd.DataFrame) -> None:
    assert len(study) == TRIALS
    assert set(FIRST_COLUMNS + LOSS_COLUMNS + TAIL_COLUMNS) <= set(study.columns)
    assert {"metric.dci.disentanglement", "metric.mig", "metric.factor_vae.eval_accuracy",
            "kl.dim_09", "eval.probe"} <= set(study.columns)
    assert (study["status"] == "TERMINATED").all() and study["cell"].nunique() == TRIALS
    assert study["seed"].eq(0).all() and (study["steps"] == 300_000).all()


def test_events_are_paper_density_and_match_the_table(study: pd.DataFrame) -> None:
    run = study["run_dir"].iloc[0]
    events = read_scalars(f"{run}/{TB_DIR}")  # TensorBoard's reader: checksums verified
    objective = study["objective"].iloc[0]
    assert set(events["tag"]) == set(synthetic_trial.tags(objective))
    assert events.groupby("tag").size().eq(600).all()
    from_events = scalar_table.wide_table(events)
    pd.testing.assert_frame_equal(run_table(run), from_events, check_exact=True)
    last = from_events.iloc[-1]
    row = study.iloc[0]
    assert row["beta_eff"] == pytest.approx(last["beta/effective"])
    assert row["loss_kl"] == pytest.approx(last["loss/kl"])


def test_trajectories_cover_every_trial(study: pd.DataFrame) -> None:
    traj = read_trajectories(study, include_metrics=True)
    assert traj.groupby("trial").size().eq(600).all() and traj["trial"].nunique() == TRIALS


def test_checkpoints_load(study: pd.DataFrame) -> None:
    with_ckpt = [r for r in study["run_dir"] if (REPO / r / "checkpoint.pt").is_file()]
    assert len(with_ckpt) == 12  # seed 0 of the 12 L-VAE and beta-VAE cells
    loaded = load_run(with_ckpt[0], open_dataset=False)
    assert loaded.step == 300_000 and loaded.config.dataset == "dsprites_procedural"


def test_the_floor_cache_covers_every_group_as_the_sweep_leaves_it(study: pd.DataFrame) -> None:
    """The report finds every group's floor and ceiling in the folder and computes none."""
    from analysis.studies.reference import cached_reference, trial_groups

    asked = []

    def compute(group, families, init_seeds):
        asked.append((group.dataset, families))
        raise RuntimeError("not cached")

    exp_dir = study["exp_dir"].iloc[0]
    errors = {}
    rows = cached_reference(exp_dir, trial_groups(study).tolist(), compute=compute, errors=errors)
    assert asked == [] and errors == {}
    assert set(rows["dataset"]) == set(study["dataset"])
    keys = {c[len("metric."):] for c in study if c.startswith("metric.")}
    assert set(rows["metric"]) == keys and (rows["ceiling"] > rows["floor_high"]).all()


def test_growth_exponent_and_projection() -> None:
    from benchmarks import synthetic_scale

    assert synthetic_scale.exponent([1000, 4000], [10.0, 40.0]) == pytest.approx(1.0)
    assert synthetic_scale.exponent([1000, 4000], [10.0, 160.0]) == pytest.approx(2.0)
    assert synthetic_scale.project([1000, 4000], [10.0, 40.0], 12_600) == pytest.approx(126.0)
