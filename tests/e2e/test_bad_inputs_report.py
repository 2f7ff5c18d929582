"""Bad input, as a new user makes it, against ``analysis.report`` (issue #12).

Each case checks the promise of ``lvae.cli`` (tests/helpers/bad_inputs.py says it once):
one ``error: ...`` line naming the input, exit 2, no traceback, nothing left behind.

The CLI runs in-process (``main(argv)``). Nothing here starts Ray or trains.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.analysis_fixtures import TrialSpec, write_experiment
from helpers.bad_inputs import refused

from analysis.report import main as report_main


@pytest.fixture()
def exp_dir(tmp_path) -> Path:
    return write_experiment(tmp_path, "exp", [
        TrialSpec("vae", {}, 0, metrics={"mig": 0.1}),
        TrialSpec("lvae", {"lambda": 0.1}, 0, metrics={"mig": 0.2}),
    ])


def report_argv(exp: Path, out: Path) -> list[str]:
    return [str(exp), "--out", str(out), "--no-models", "--no-figures"]


def set_results(exp: Path, content: bytes) -> Path:
    (exp / "results.csv").write_bytes(content)
    return exp / "results.csv"


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (bytes(range(256)) * 4, "not text"),  # binary: was a UnicodeDecodeError traceback
        ("trial_id,status\n".encode("utf-16"), "not text"),  # another encoding
        # a broken quote
        (b'trial_id,status,objective\n"a1,TERMINATED,vae\n', "not a well-formed CSV"),
        (b"", "empty file"),
        (b"trial_id,status\na,TERMINATED\n", "missing column"),
    ],
)
def test_report_bad_results_csv(exp_dir, capsys, content, found):
    path = set_results(exp_dir, content)
    argv = report_argv(exp_dir, exp_dir.parent / "r")
    refused(capsys, report_main, argv, exp_dir.parent, path, found)


def test_report_results_csv_without_rows(exp_dir, capsys):
    header = (exp_dir / "results.csv").read_text().splitlines()[0] + "\n"
    path = set_results(exp_dir, header.encode())
    argv = report_argv(exp_dir, exp_dir.parent / "r")
    refused(capsys, report_main, argv, exp_dir.parent, path, "no trial rows")


def test_report_second_experiment_without_rows(exp_dir, capsys):
    trials = [TrialSpec("vae", {}, 1, metrics={"mig": 0.3})]
    other = write_experiment(exp_dir.parent, "other", trials)
    header = (other / "results.csv").read_text().splitlines()[0] + "\n"
    path = set_results(other, header.encode())
    argv = [str(exp_dir), *report_argv(other, exp_dir.parent / "r")]
    refused(capsys, report_main, argv, exp_dir.parent, path, "no trial rows")


def test_report_results_csv_is_a_folder(exp_dir, capsys):
    (exp_dir / "results.csv").unlink()
    (exp_dir / "results.csv").mkdir()
    refused(capsys, report_main, report_argv(exp_dir, exp_dir.parent / "r"), exp_dir.parent,
            exp_dir / "results.csv", "folder")


def test_report_experiment_is_a_file(tmp_path, capsys):
    (tmp_path / "exp").write_text("x")
    argv = report_argv(tmp_path / "exp", tmp_path / "r")
    refused(capsys, report_main, argv, tmp_path, tmp_path / "exp")


def test_report_out_is_a_file(exp_dir, capsys):
    (exp_dir.parent / "r").write_text("x")
    refused(capsys, report_main, report_argv(exp_dir, exp_dir.parent / "r"), exp_dir.parent,
            exp_dir.parent / "r", "--out")


def test_report_non_numeric_seed(exp_dir, capsys):
    text = (exp_dir / "results.csv").read_text().replace(",vae,0,", ",vae,zero,", 1)
    path = set_results(exp_dir, text.encode())
    argv = report_argv(exp_dir, exp_dir.parent / "r")
    refused(capsys, report_main, argv, exp_dir.parent, path, "'seed'")

