"""The floor/ceiling study of an experiment folder: settings read from results.csv, the
cache in <exp>/metric_reference/, the per-cell table and its CLI
(analysis/studies/reference.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from helpers.analysis_fixtures import TrialSpec, write_experiment
from helpers.paths import REPO

from analysis.studies.reference import (
    INIT_SEEDS,
    cache_path,
    default_compute,
    floor_and_ceiling,
    main,
)
from analysis.studies.stability import eval_noise
from lvae.contract import REFERENCE_DIR, REFERENCE_FILE

EVAL = {"metrics": "mig,dci", "probe": "hgb", "num_train": 200, "num_test": 100, "num_bins": 20,
        "representation": "mean", "seed": 0}
STUDY = REPO / "docs" / "results" / "lvae_reg-study"


class FakeCompute:
    """Known floor and ceiling per metric family, counting what it is asked for."""

    def __init__(self):
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, group, families, init_seeds):
        self.calls.append(tuple(families))
        keys = {"mig": ["mig"], "dci": ["dci.disentanglement", "dci.completeness"]}
        floor = {s: {k: 0.10 + 0.01 * s for f in families for k in keys[f]} for s in init_seeds}
        return floor, {k: 0.90 for f in families for k in keys[f]}


def experiment(tmp_path: Path, values: dict[str, list[float]], eval_settings: dict | None = None,
               dataset: str = "toy", name: str = "exp") -> Path:
    """One cell per entry of ``values`` (a beta), its seeds scoring those MIG / DCI values."""
    trials = [TrialSpec("beta_vae", {"beta": beta, "latent_dim": 4}, seed, dataset=dataset,
                        metrics={"mig": v, "dci.disentanglement": v, "dci.completeness": v})
              for beta, vs in enumerate(values.values(), start=1) for seed, v in enumerate(vs)]
    settings = EVAL if eval_settings is None else eval_settings
    return write_experiment(tmp_path, name, trials, eval_settings=settings)


def test_normalised_scores_and_the_above_the_floor_rule(tmp_path):
    exp = experiment(tmp_path, {"high": [0.5, 0.6, 0.7, 0.8, 0.9, 0.5],
                                "one_low": [0.5, 0.6, 0.7, 0.8, 0.9, 0.12]})
    reference, cells = floor_and_ceiling(exp, compute=FakeCompute())
    mig = reference.set_index("metric").loc["mig"]
    # the floor's 95% range: normal prediction interval over the 5 init seeds 0.10..0.14
    half = scipy.stats.t.ppf(0.975, 4) * np.std([0.10, 0.11, 0.12, 0.13, 0.14],
                                                ddof=1) * np.sqrt(1.2)
    assert mig["floor_mean"] == pytest.approx(0.12) and mig["floor_low"] == pytest.approx(
        0.12 - half
    )
    assert mig["floor_high"] == pytest.approx(0.12 + half) and mig["ceiling"] == pytest.approx(0.90)
    assert mig["n_init_seeds"] == len(INIT_SEEDS)
    assert np.isnan(mig["eval_noise_sd"])  # no report, so no stability table yet
    rows = cells[cells["metric"] == "mig"].set_index("cell")
    high, low = rows.loc["beta_vae beta=1"], rows.loc["beta_vae beta=2"]
    assert high["median"] == pytest.approx(0.65) and high["n_seeds"] == 6
    assert high["normalised"] == pytest.approx((0.65 - 0.12) / (0.90 - 0.12))
    assert (high["median_lo"], high["median_hi"]) == (0.5, 0.9)  # 6 seeds: [min, max] at 97%
    # one seed at 0.12, inside the floor's range
    assert high["above_floor"] and not low["above_floor"]
    assert set(cells["metric"]) == {"mig", "dci.disentanglement", "dci.completeness"}


def test_the_cache_is_reused_only_under_the_same_settings(tmp_path):
    compute = FakeCompute()
    exp = experiment(tmp_path, {"a": [0.5, 0.6]})
    first, _ = floor_and_ceiling(exp, compute=compute)
    assert cache_path(exp) == exp / REFERENCE_DIR / REFERENCE_FILE and cache_path(exp).exists()
    assert compute.calls == [("dci", "mig")]
    again, _ = floor_and_ceiling(exp, compute=compute)
    assert compute.calls == [("dci", "mig")]  # nothing recomputed
    pd.testing.assert_frame_equal(first, again)
    floor_and_ceiling(exp, init_seeds=(0, 1), compute=compute)
    assert compute.calls[-1] == ("dci", "mig")  # other init seeds: recomputed

    changes = (("eval.probe", "gbt", ("dci",)), ("eval.num_train", 300, ("dci", "mig")))
    for column, value, redone in changes:
        table = pd.read_csv(exp / "results.csv")
        table[column] = value
        table.to_csv(exp / "results.csv", index=False)
        calls = len(compute.calls)
        reference, _ = floor_and_ceiling(exp, compute=compute)
        assert compute.calls[calls:] == [redone]  # the probe changes DCI only
        sizes = {json.loads(s)["num_train"] for s in reference["settings"]}
        assert sizes == {int(table["eval.num_train"][0])}
    cached = pd.read_csv(cache_path(exp))
    assert cached["settings"].nunique() == 5  # every key kept: MIG at 2 sizes, DCI at 3 probe/sizes
    assert not list(cache_path(exp).parent.glob(".*tmp"))  # atomic write left no temporary


class BrokenFor(FakeCompute):
    """FakeCompute that fails for one dataset, as a dataset missing on this machine does."""

    def __init__(self, dataset: str):
        super().__init__()
        self.dataset = dataset

    def __call__(self, group, families, init_seeds):
        if group.dataset == self.dataset:
            raise FileNotFoundError(f"{group.dataset}: no such dataset here")
        return super().__call__(group, families, init_seeds)


def test_a_group_that_fails_leaves_the_others_cached(tmp_path):
    from analysis.io.load import load_experiments
    from analysis.studies.reference import cached_reference, read_cache, trial_groups

    exp = experiment(tmp_path, {"a": [0.5, 0.6]})
    table = pd.read_csv(exp / "results.csv")
    broken = table.assign(dataset="gone", trial_id=table["trial_id"] + "g")
    pd.concat([table, broken]).to_csv(exp / "results.csv", index=False)
    groups = trial_groups(load_experiments(exp)).tolist()
    assert {g.dataset for g in groups} == {"toy", "gone"}
    errors = {}
    rows = cached_reference(exp, groups, compute=BrokenFor("gone"), errors=errors)
    assert set(rows["dataset"]) == {"toy"} and set(read_cache(exp)["dataset"]) == {"toy"}
    assert [(g.dataset, why) for g, why in errors.items()] == [
        ("gone", "FileNotFoundError: gone: no such dataset here")]
    # the module's API (and its CLI) names the group that failed, after caching the others
    with pytest.raises(ValueError, match=r"not computed for gone/conv/4 latents \(FileNotFound"):
        floor_and_ceiling(exp, compute=BrokenFor("gone"))


def test_an_unreadable_cache_is_recomputed(tmp_path, caplog):
    compute = FakeCompute()
    exp = experiment(tmp_path, {"a": [0.5]})
    floor_and_ceiling(exp, compute=compute)
    cache_path(exp).write_text("not,a\ncache\n")
    floor_and_ceiling(exp, compute=compute)
    assert len(compute.calls) == 2 and "recomputing" in caplog.text


def test_evaluation_noise_comes_from_the_stability_table(tmp_path):
    scores = pd.DataFrame(
        {
            "trial": ["A", "A", "B", "B", "A"],
            "setting": ["reference", "eval_seed1", "reference", "eval_seed1", "bins10"],
            "metric": ["mig"] * 5,
            "value": [0.1, 0.3, 0.2, 0.2, 5.0],
        }
    )
    noise = eval_noise(scores).set_index("metric")
    # sqrt((0.02 + 0) / 2): the variances over seeds, pooled; other settings ignored
    assert noise.loc["mig", "eval_noise_sd"] == pytest.approx(0.1)
    assert noise.loc["mig", "eval_noise_models"] == 2
    exp = experiment(tmp_path, {"a": [0.5]})
    (exp / "report").mkdir()
    scores.to_csv(exp / "report" / "stability_scores.csv", index=False)
    reference, _ = floor_and_ceiling(exp, compute=FakeCompute())
    by_metric = reference.set_index("metric")
    assert by_metric.loc["mig", "eval_noise_sd"] == pytest.approx(0.1)
    assert np.isnan(by_metric.loc["dci.disentanglement", "eval_noise_sd"])


def test_real_floor_and_ceiling_on_a_toy_dataset_through_the_cli(tmp_path, capsys):
    from helpers.toy_data import register

    register()
    exp = experiment(tmp_path, {"a": [0.5, 0.6]}, {**EVAL, "metrics": "mig"}, dataset="toy_squares")
    assert main([str(exp), "--init-seeds", "0,1", "--n-jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "floor_mean" in out and "above_floor" in out and str(cache_path(exp)) in out
    cached = pd.read_csv(cache_path(exp)).set_index("metric")
    assert cached.loc["mig", "ceiling"] > 0.9  # size, x, y as codes (3, 6, 6 classes in 20 bins)
    assert cached.loc["mig", "floor_high"] < cached.loc["mig", "ceiling"] - 0.3
    reference, _ = floor_and_ceiling(exp, init_seeds=(0, 1), compute=default_compute(n_jobs=1))
    assert reference.set_index("metric").loc["mig", "ceiling"] == cached.loc["mig", "ceiling"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no_eval", "does not record eval.probe"),
        ("no_latent", "hp.latent_dim"),
        ("no_finished", "no finished trial"),
        ("bad_seeds", "--init-seeds must be"),
    ],
)
def test_bad_input_is_one_error_line(tmp_path, capsys, change, message):
    exp = experiment(tmp_path, {"a": [0.5]}, eval_settings={} if change == "no_eval" else None)
    table = pd.read_csv(exp / "results.csv")
    if change == "no_latent":
        table = table.drop(columns=["hp.latent_dim"])
    if change == "no_finished":
        table["status"] = "ERROR"
    table.to_csv(exp / "results.csv", index=False)
    argv = [str(exp), *(["--init-seeds", "0,x"] if change == "bad_seeds" else [])]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_missing_folder_is_one_error_line(tmp_path, capsys):
    assert main([str(tmp_path / "nope")]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_import_loads_neither_torch_nor_sklearn():
    code = (
        "import sys, analysis.studies.reference\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'sklearn'})\n"
        "assert not heavy, heavy"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-2000:]


@pytest.mark.slow
def test_acceptance_study_floor_below_the_vae_and_ceiling_above_08(tmp_path, data_root):
    """At the committed study's settings (dsprites_procedural, conv, 10 latents, eval.*
    from its results.csv): ceiling > 0.8 and the floor's whole range below the trained VAE
    cell's median, for MIG and DCI disentanglement."""
    exp = tmp_path / STUDY.name
    exp.mkdir()
    shutil.copy(STUDY / "results.csv", exp / "results.csv")
    t0 = time.perf_counter()
    reference, cells = floor_and_ceiling(
        exp, metrics=["mig", "dci"], compute=default_compute(str(data_root), n_jobs=None)
    )
    seconds = time.perf_counter() - t0
    ref = reference.set_index("metric")
    vae = cells[cells["cell"] == "vae"].set_index("metric")
    for key in ("mig", "dci.disentanglement"):
        r = ref.loc[key]
        print(
            f"{key}: floor mean {r['floor_mean']:.4f} "
            f"[{r['floor_low']:.4f}, {r['floor_high']:.4f}] "
            f"over {r['n_init_seeds']} init seeds, ceiling {r['ceiling']:.4f}, "
            f"VAE median {vae.loc[key, 'median']:.4f} ({seconds:.0f} s)"
        )
        assert r["ceiling"] > 0.8
        assert r["floor_high"] < vae.loc[key, "median"]
