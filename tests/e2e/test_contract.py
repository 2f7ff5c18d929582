"""The shared names are used, not copied: what the trainer logs is what the sweep reports
and what results.csv and the analysis read, through lvae.contract."""

from __future__ import annotations

import ast
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.paths import REPO

from lvae import contract
from sweeps.trainable import _report_record


def test_trainable_reports_every_contract_key_from_a_trainer_record() -> None:
    record = {"step": 7, **{tag: float(i) for i, tag in enumerate(contract.TUNE_KEYS)}}
    record[contract.OBJECTIVE_PREFIX + "beta_stationary"] = 2.5
    out = _report_record(record)
    assert out["step"] == 7
    for tag, key in contract.TUNE_KEYS.items():
        assert out[key] == record[tag]
    assert out["obj_beta_stationary"] == 2.5


def test_renamed_key_flows_through(monkeypatch) -> None:
    """Renaming a Tune key in the contract is a one-line change: the trainable follows it."""
    keys = {**contract.TUNE_KEYS, contract.BETA_TAG: "beta_effective_renamed"}
    monkeypatch.setattr("sweeps.trainable.TUNE_KEYS", keys)
    out = _report_record({"step": 1, contract.BETA_TAG: 3.0})
    assert out["beta_effective_renamed"] == 3.0 and "beta_eff" not in out


def test_active_latents_and_the_collapse_rule() -> None:
    """The KL count of active units, and the one collapse rule (lvae.collapse) at its cuts."""
    from lvae.collapse import collapse_fields

    assert contract.count_active([0.0, 0.005, 0.02, 3.0]) == 2
    assert contract.count_active([math.nan, 0.0]) == 0
    # the study's borderline run: 0.068 nats in all and a reconstruction at the mean image's
    borderline = collapse_fields([0.05, 0.011, 0.007], math.nan, 573.0, 575.0)
    assert borderline["collapsed"] and borderline["active_dims"] == 2
    assert borderline["total_kl"] == pytest.approx(0.068)
    informative = collapse_fields([3.0, 2.0, 1.18], math.nan, 150.0, 575.0)
    assert not informative["collapsed"] and informative["recon_gain"] == pytest.approx(425 / 575)
    # KL alone decides when no baseline was recorded; reconstruction alone can collapse a run
    assert collapse_fields([], 0.5, 150.0, math.nan)["collapsed"]
    assert not collapse_fields([], 6.2, 150.0, math.nan)["collapsed"]
    assert collapse_fields([2.0, 2.0], math.nan, 560.0, 575.0)["collapsed"]  # gain 2.6%
    assert collapse_fields([], math.nan, math.nan, math.nan)["collapsed"] is None


# ------------------------------------------------------------- writer meets reader
#: names changed in lvae/contract.py's source for the rename test: (old line, new line)
RENAMES = (
    ('BETA_TAG = "beta/effective"', 'BETA_TAG = "beta/eff"'),
    ('BETA_TAG: "beta_eff"', 'BETA_TAG: "beta_final"'),
    ('METRIC_PREFIX = "metric."', 'METRIC_PREFIX = "score."'),
    ('KL_DIM_TUNE_PREFIX = "kl_dim_"', 'KL_DIM_TUNE_PREFIX = "kl_final_"'),
    ('KL_DIM_PREFIX = "kl.dim_"', 'KL_DIM_PREFIX = "latent_kl."'),
    ('RUN_DIR = "run"', 'RUN_DIR = "work"'),
    ('RESULTS_FILE = "results.csv"', 'RESULTS_FILE = "trials.csv"'),
)
RENAMED_RUN = """
import sys, types
from pathlib import Path
import lvae
src = Path(sys.argv[1]).read_text()
for old, new in {renames!r}:
    assert src.count(old) == 1, old
    src = src.replace(old, new)
mod = types.ModuleType("lvae.contract")
mod.__file__ = sys.argv[1]
exec(compile(src, sys.argv[1], "exec"), mod.__dict__)
sys.modules["lvae.contract"] = lvae.contract = mod
from helpers import contract_flow
df = contract_flow.check_pipeline(Path(sys.argv[2]))
cols = set(df.columns)
assert {{"beta_final", "score.mig", "latent_kl.00"}} <= cols, sorted(cols)
assert not {{"beta_eff", "metric.mig", "kl.dim_00"}} & cols, sorted(cols)
assert (Path(sys.argv[2]) / "exp" / "trials.csv").is_file() and df["run_dir"][0].endswith("/work")
"""


def test_trainer_result_reaches_the_analysis(tmp_path: Path) -> None:
    """Trainer tags -> trainable's Tune report -> results.csv row -> analysis columns."""
    from helpers.contract_flow import check_pipeline

    check_pipeline(tmp_path)


def test_renaming_in_contract_py_moves_writer_and_reader_together(tmp_path: Path) -> None:
    """Change names in lvae/contract.py's source only: the sweep writes the new names and
    the analysis reads them (a copy of a name anywhere on the way would break this)."""
    code = RENAMED_RUN.format(renames=RENAMES)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)])}
    proc = subprocess.run([sys.executable, "-c", code, str(REPO / "lvae" / "contract.py"),
                           str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]


#: values that are plain column names (status, seed, ...): used everywhere by that name
#: and metric result keys whose names the metric registry owns (the presets list them)
PLAIN_COLUMNS = ("REQUIRED_COLUMNS", "EVAL_SETTINGS", "TRAINING_HPS", "ACTIVE_UNITS_KEY",
                 "DIAGNOSTIC_KEYS")


def contract_strings() -> dict[str, str]:
    """Every name lvae.contract defines (tags, keys, prefixes, file names) -> its constant."""
    out: dict[str, str] = {}
    for name, value in vars(contract).items():
        if name.startswith("_") or name in PLAIN_COLUMNS:
            continue
        values = [value] if isinstance(value, str) else []
        if isinstance(value, dict):
            values = [*value, *value.values()]
        elif isinstance(value, tuple):
            values = list(value)
        out.update({v: name for v in values if isinstance(v, str)})
    return out


def test_sweeps_and_analysis_never_spell_a_contract_name() -> None:
    """Downstream code imports the contract's names; a string literal equal to one is a
    second copy that a rename would leave behind."""
    names = contract_strings()
    assert {"beta/effective", "beta_eff", "metric.", "results.csv", "run"} <= set(names)
    files = [*sorted((REPO / "sweeps").rglob("*.py")), *sorted((REPO / "analysis").rglob("*.py")),
             REPO / "lvae" / "evaluate.py"]
    found = [f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r} is "
             f"lvae.contract.{names[node.value]}"
             for path in files for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Constant) and isinstance(node.value,
                                                              str) and node.value in names]
    assert not found, "\n".join(found)


def test_results_columns_and_eval_settings_match_the_contract() -> None:
    from sweeps.provenance import metric_settings
    from sweeps.results import FIRST_COLUMNS, LOSS_COLUMNS, TAIL_COLUMNS

    assert set(contract.REQUIRED_COLUMNS) <= set(FIRST_COLUMNS + TAIL_COLUMNS)
    assert LOSS_COLUMNS[1:] == [contract.TUNE_KEYS[t] for t in contract.FINAL_TAGS]
    written = {k[len(contract.EVAL_PREFIX):] for k in metric_settings({})}
    assert written == {"metrics", *contract.EVAL_SETTINGS}


def test_analysis_import_stays_light() -> None:
    """analysis reads files: importing it (and the report) loads no torch, scikit-learn,
    Ray or sweeps; lvae.contract gives it the names (docs/architecture.md)."""
    code = ("import sys, analysis, analysis.report\nheavy = sorted({m.split('.')[0] for m in "
            "sys.modules} & {'torch', 'sklearn', 'ray', 'sweeps'})\nassert not heavy, "
            "heavy\nassert 'lvae.contract' in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_every_required_column_missing_fails_loudly(tmp_path: Path) -> None:
    """analysis.io.load refuses a results.csv without any one of the contract's required
    columns (naming it), instead of filling it with NaN."""
    import pandas as pd
    import pytest
    from helpers.analysis_fixtures import TrialSpec, write_experiment

    from analysis import ExperimentError, load_experiments

    exp = write_experiment(tmp_path, "e", [TrialSpec("lvae", {"lambda": 0.1}, 0, {"mig": 0.1})])
    path = exp / contract.RESULTS_FILE
    full = pd.read_csv(path)
    for col in contract.REQUIRED_COLUMNS:
        full.drop(columns=[col]).to_csv(path, index=False)
        with pytest.raises(ExperimentError, match=rf"missing column\(s\) \['{col}'\]"):
            load_experiments(exp)
