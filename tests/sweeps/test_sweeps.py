"""The sweep system end to end on a real multi-node Ray cluster (no mocks).

One ``ray.cluster_utils.Cluster`` serves the whole module: a head with one CPU and a
worker with one CPU and one logical GPU. ``sweeps/run.py`` runs as a subprocess joined
to it with ``--address``, exactly as on a real cluster.
"""

from __future__ import annotations

import glob
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers.sweep_helpers import RUN, run_sweep, smoke_args, trial_span, tune_results
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sweeps.presets import get_preset


def start_sweep(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(RUN + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)


def results(exp: Path) -> pd.DataFrame:
    return pd.read_csv(exp / "results.csv")


def tb_scalars(run_dir: Path, tag: str) -> list[float]:
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"scalars": 0})
    acc.Reload()
    return [e.value for e in acc.Scalars(tag)]


def checkpoint_registered(exp: Path) -> bool:
    """Whether Tune's driver has registered a trial's checkpoint: its result.json (written by
    the driver) logs a result after the one that carried the checkpoint. The driver saves
    the checkpoint before it lets the trial train on (results are not buffered); the folder
    on disk appears before that, when the worker writes it."""
    for path in exp.glob("*/result.json"):
        lines = []
        for line in path.read_text().splitlines():
            try:
                lines.append(json.loads(line))
            except ValueError:  # a line the driver is still writing
                break
        marked = [i for i, r in enumerate(lines) if r.get("checkpoint_dir_name")]
        if marked and marked[0] < len(lines) - 1:
            return True
    return False


def wait_for(predicate, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def test_smoke_sweep_results_and_tensorboard(smoke_experiment):
    exp, proc = smoke_experiment
    df = results(exp)
    # lvae_reg/smoke: lambda in {0.1, 1} + VAE + beta-VAE(4), one seed each
    assert len(df) == 4 and set(df["status"]) == {"TERMINATED"}
    assert set(df["objective"]) == {"lvae", "vae", "beta_vae"}
    assert sorted(df["hp.lambda"].dropna()) == [0.1, 1.0]
    for column in ("trial_id", "cell", "seed", "steps", "loss_total",
                   "loss_recon", "loss_kl", "beta_eff",
                   "metric.mig", "metric.dci.disentanglement",
                   "metric.dci.completeness", "metric.sap",
                   "node", "wall_time_s", "trial_dir", "space",
                   "preset", "dataset", "architecture"):
        assert column in df.columns, column
    smoke = get_preset("smoke")
    assert (df["steps"] == smoke.steps).all() and df["metric.mig"].between(0, 1).all()
    assert df["trial_id"].is_unique
    for trial_dir in df["trial_dir"]:
        run_dir = exp / trial_dir / "run"
        beta = tb_scalars(run_dir, "beta/effective")
        assert len(beta) == smoke.steps // smoke.log_every
        assert json.loads((run_dir / "metrics.json").read_text())["metrics"]["mig"] >= 0
    assert "results:" in proc.stdout and "tensorboard --logdir" in proc.stdout
    assert "report:" in proc.stdout and (exp / "report" / "report.html").is_file()
    # the sweep's wall time is kept with its settings: what the report's cost is measured against
    assert json.loads((exp / "sweep.json").read_text())["wall_time_s"] > 0
    # nothing for a user to act on: no warnings from Tune or Ray (issue #12)
    warnings = [line for line in (proc.stdout + proc.stderr).splitlines()
                if re.search(r"WARNING \S+\.py:\d+ --", line)]
    assert not warnings, warnings
    # the summary is rebuilt, never appended: rerunning it keeps one row per trial
    from sweeps.results import write_results

    write_results(exp)
    assert len(results(exp)) == 4


@pytest.mark.slow
def test_trials_spread_over_nodes_and_gpu_trials_land_on_gpu_node(cluster, tmp_path):
    import ray

    proc = run_sweep(smoke_args(tmp_path, "spread", cluster, "--max-concurrent", "2"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = results(tmp_path / "spread")
    assert df["node_id"].nunique() == 2, df[["trial_id", "node_id"]]

    proc = run_sweep(smoke_args(tmp_path, "gpu", cluster, "--gpus-per-trial",
                                "0.5", "--seeds", "1"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = results(tmp_path / "gpu")
    ray.init(address=cluster.address)
    try:
        gpu_nodes = {n["NodeID"] for n in ray.nodes()
                     if n["Resources"].get("GPU", 0) > 0 and n["Alive"]}
    finally:
        ray.shutdown()
    assert set(df["node_id"]) <= gpu_nodes and len(gpu_nodes) == 1
    assert set(df["device"]) == {"cpu"} and set(df["status"]) == {"TERMINATED"}
    assert "CUDA is not available" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_fractional_gpus_pack_trials_on_one_gpu(cluster, tmp_path):
    """--gpus-per-trial 0.25 packs trials on one GPU: a node with one logical GPU and 3 CPUs
    runs two or more trials of the sweep at the same time (Ray's fractional GPUs)."""
    import ray

    packed_node = cluster.add_node(num_cpus=3, num_gpus=1)
    cluster.wait_for_nodes()
    try:
        args = smoke_args(tmp_path, "pack", cluster, "--gpus-per-trial",
                          "0.25", "--max-concurrent", "4")
        proc = run_sweep(args)
        ray.init(address=cluster.address)
        try:  # while the added node is alive (a removed node lists no resources)
            gpu_nodes = {n["NodeID"] for n in ray.nodes() if n["Resources"].get("GPU", 0) > 0}
        finally:
            ray.shutdown()
    finally:
        cluster.remove_node(packed_node)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = results(tmp_path / "pack")
    assert len(df) == 4 and set(df["status"]) == {"TERMINATED"} and set(df["device"]) == {"cpu"}
    assert set(df["node_id"]) <= gpu_nodes and len(gpu_nodes) == 2  # never on the head
    overlaps = 0
    for _, group in df.groupby("node_id"):
        spans = [trial_span(tune_results(tmp_path / "pack" / d)) for d in group["trial_dir"]]
        overlaps += sum(
            1 for i, a in enumerate(spans) for b in spans[i + 1 :]
            if min(a[1], b[1]) - max(a[0], b[0]) > 1.0
        )
    # two trials shared one GPU at once
    assert overlaps >= 1, df[["trial_id", "node_id", "wall_time_s"]]


@pytest.mark.slow
def test_killed_trial_resumes_from_checkpoint(cluster, tmp_path):
    args = smoke_args(tmp_path, "kill", cluster, "--seeds", "1",
                      "--steps", "400", "--max-concurrent", "1")
    args[1] = "seeds"  # the seeds space: two cells
    sweep = start_sweep(args)
    try:
        pattern = f"{os.environ['RAY_TMPDIR']}/**/kill/working_dirs/*/run/worker.json"

        def checkpointed_worker():
            # Tune's driver must have registered the checkpoint, not only the worker written
            # it: a kill in between restarts the trial from scratch (resumed_from NaN); one
            # trial runs at a time, so it is this one's
            if not checkpoint_registered(tmp_path / "kill"):
                return None
            for path in glob.glob(pattern, recursive=True):
                run_dir = Path(path).parent
                if (run_dir / "checkpoint.pt").exists():
                    return json.loads(Path(path).read_text())["pid"], run_dir
            return None

        pid, run_dir = wait_for(checkpointed_worker, 300, "a trial's first checkpoint")
        os.kill(pid, signal.SIGKILL)
        out, _ = sweep.communicate(timeout=600)
    finally:
        sweep.kill()
    assert sweep.returncode == 0, out[-4000:]
    df = results(tmp_path / "kill")
    assert set(df["status"]) == {"TERMINATED"} and (df["steps"] == 400).all()
    killed = df[df["num_failures"] > 0]
    assert len(killed) == 1 and killed["resumed_from"].iloc[0] > 0


def test_deterministic_failure_is_recorded_and_others_finish(cluster, tmp_path, monkeypatch):
    from sweeps.cli import build_parser
    from sweeps.run import run_sweep
    from sweeps.spaces import SPACES, Space, cell

    # w_K = exp(100) overflows float32 at the first step: a non-finite loss, every time
    space = Space("nan_test", "test "
                              "only",
                  lambda preset: [cell("lvae", init_s_kl=-100.0, warm_start=False), cell("vae")])
    monkeypatch.setitem(SPACES, "nan_test", space)
    args = build_parser().parse_args(
        ["--space", "nan_test", *smoke_args(tmp_path, "nan", cluster)[2:]]
    )
    import ray

    try:
        assert run_sweep(args) == 0
    finally:
        ray.shutdown()
    df = results(tmp_path / "nan").set_index("objective")
    assert df.loc["vae", "status"] == "TERMINATED"
    assert df.loc["lvae", "status"] == "ERROR"
    assert "non-finite loss at step 1" in df.loc["lvae", "error"]
    assert df.loc["lvae", "num_failures"] == 0  # not retried: it would fail the same way


def running_trial(exp: Path) -> str | None:
    """The folder of a trial that has checkpointed but not finished, once there is one."""
    for ckpt in glob.glob(str(exp / "*" / "checkpoint_000000")):
        trial = Path(ckpt).parent
        if not (trial / "run" / "result.json").exists():
            return trial.name
    return None


@pytest.mark.slow
def test_sigint_then_resume_runs_every_trial_once(cluster, tmp_path):
    args = smoke_args(tmp_path, "intr", cluster, "--max-concurrent", "1", "--steps", "60")
    sweep = start_sweep(args)
    exp = tmp_path / "intr"
    try:
        finished = wait_for(lambda: glob.glob(str(exp / "*" /
                                                  "run" / "result.json")), 400, "a finished trial")
        first = Path(finished[0])
        stamp = first.stat().st_mtime_ns
        interrupted = wait_for(lambda: running_trial(exp), 300, "a trial training after the first")
        t_signal = time.monotonic()
        sweep.send_signal(signal.SIGINT)
        out, _ = sweep.communicate(timeout=300)
        exit_s = time.monotonic() - t_signal
    finally:
        sweep.kill()
    assert sweep.returncode == 130, out[-4000:]
    print(f"prompt back {exit_s:.1f} s after Ctrl-C")
    assert exit_s < 10, f"the prompt came back {exit_s:.1f} s after Ctrl-C"
    resume_hint = [line for line in out.splitlines() if line.startswith("interrupted:")]
    assert resume_hint and "--resume" in resume_hint[0], out[-3000:]
    assert "--steps 60" in resume_hint[0], out[-3000:]
    assert "python -m analysis.report" in out  # the report is deferred, with its command
    partial = results(exp).set_index("trial_dir")
    # the trial Ctrl-C stopped is INTERRUPTED with its last step; PENDING means never started
    row = partial.loc[interrupted]
    assert row["status"] == "INTERRUPTED" and row["steps"] > 0, row
    assert f"interrupted at step {row['steps']}" in row["error"]
    assert set(partial["status"]) <= {"TERMINATED", "INTERRUPTED", "PENDING"}
    assert (partial["status"] == "TERMINATED").sum() >= 1
    first_wall = json.loads((exp / "sweep.json").read_text())["wall_time_s"]
    assert first_wall > 0

    proc = run_sweep(smoke_args(tmp_path, "intr", cluster, "--max-concurrent",
                                "2", "--steps", "60", "--resume"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = results(exp)
    assert len(df) == 4 and df["trial_id"].is_unique and set(df["status"]) == {"TERMINATED"}
    assert (df["steps"] == 60).all()
    assert first.stat().st_mtime_ns == stamp  # the trial finished before Ctrl-C was not rerun
    # summed over sessions
    assert json.loads((exp / "sweep.json").read_text())["wall_time_s"] > first_wall


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--space", "nope"], "valid spaces: lvae_reg"),
        (["--space", "lvae_reg", "--dataset", "mnist"], "valid names"),
        (["--space", "lvae_reg", "--address", "127.0.0.1:1"], "cannot reach a Ray cluster"),
        (["--space", "lvae_reg", "--metric", "metric.mig"], "only applies to the lvae_optuna"),
        (["--space", "lvae_reg", "--gpus-per-trial", "-1"], "--gpus-per-trial"),
        (["--space", "lvae_reg", "--seeds", "0"], "--seeds"),
        ([], "--space is required"),
    ],
)
def test_bad_requests_fail_before_anything_starts(tmp_path, args, message):
    proc = run_sweep([*args, "--storage", str(tmp_path)], timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_resume_of_a_folder_that_is_not_an_experiment(tmp_path):
    (tmp_path / "lvae_reg-smoke").mkdir()
    proc = run_sweep(["--space", "lvae_reg", "--preset", "smoke",
                      "--storage", str(tmp_path), "--resume"])
    assert proc.returncode == 2 and "not an experiment" in proc.stderr


def test_existing_experiment_needs_resume(tmp_path):
    (tmp_path / "lvae_reg-smoke").mkdir()
    proc = run_sweep(["--space", "lvae_reg", "--preset", "smoke", "--storage", str(tmp_path)])
    assert proc.returncode == 2 and "--resume" in proc.stderr


def test_list_prints_every_space_with_counts():
    proc = run_sweep(["--list"], timeout=120)
    assert proc.returncode == 0
    for name in ("lvae_reg", "baselines", "arch", "seeds", "lvae_optuna"):
        assert name in proc.stdout
    assert "smoke: 4 trials" in proc.stdout  # lvae_reg smoke: 4 cells x 1 seed


def test_optuna_space_repeats_each_suggestion_over_seeds(cluster, tmp_path):
    args = smoke_args(tmp_path, "optuna", cluster, "--seeds", "2", "--metric", "metric.mig")
    args[1] = "lvae_optuna"
    proc = run_sweep(args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    df = results(tmp_path / "optuna")
    assert len(df) == 4 and set(df["status"]) == {"TERMINATED"}  # smoke: 2 suggestions x 2 seeds
    for _, group in df.groupby("hp.lambda"):
        assert sorted(group["seed"]) == [0, 1] and group["hp.lr"].nunique() == 1
    assert df["hp.lambda"].nunique() == 2 and df["metric.mig"].notna().all()
