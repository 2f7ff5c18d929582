"""cluster.yaml's autoscaling, on this machine: Ray's fake multi-node provider starts and
stops worker raylets with the node types read from cluster.yaml (tests/helpers/fake_cluster.py;
worker counts / SCALE, idle timeout shortened), and a smoke sweep of 12 trials (1 CPU and
0.25 GPU each: 3 GPUs' worth, against 2 workers of 1 GPU) runs against it with --device cpu.
Everything is judged from what the GCS recorded (ray.nodes(), resources in use, pending
placement groups, sampled every second) and what the sweep's driver recorded
(results.csv and each trial's result.json), never from files appearing or sleeps."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from helpers.autoscale_records import (
    peak_concurrent,
    per_gpu,
    summary,
    trial_records,
    worker_timeline,
)
from helpers.fake_cluster import (
    DEMO_TRIALS,
    FAKE_HEAD_NODE_ID,
    HEADER,
    IDLE_TIMEOUT_S,
    ChangePrinter,
    FakeCluster,
    run_demo,
    scaled_layout,
)

#: trials one logical GPU may hold at once: 1 / --gpus-per-trial
PER_GPU = 4


def test_fake_cluster_is_cluster_yaml_scaled(cluster_yaml: dict[str, Any]) -> None:
    """The fake cluster's node types are cluster.yaml's (resources kept, worker counts
    divided by SCALE), and Ray's schema accepts its config."""
    from ray.autoscaler._private.util import validate_config

    layout = scaled_layout()
    head = cluster_yaml["available_node_types"][cluster_yaml["head_node_type"]]
    assert layout["head_resources"] == head["resources"]
    for name, node_type in layout["worker_types"].items():
        original = cluster_yaml["available_node_types"][name]
        assert node_type["resources"] == original["resources"]
        assert 0 < node_type["max_workers"] <= original["max_workers"]
    config = FakeCluster(layout, "/tmp/unused")._config
    validate_config(config)
    assert config["max_workers"] == layout["max_workers"] == 2


def check_scaling(samples: list[dict[str, Any]], started: int, cap: int,
                  worker_resources: dict[str, float]) -> dict[str, dict[str, Any]]:
    """Workers came only while trials pended, reached ``cap`` and never more (while
    trials still pended), had the worker type's resources, and each went after being
    idle for the idle timeout; the worker timeline."""
    assert all(s["workers"] == 0 and s["pending"] == 0 for s in samples[:started])
    assert max(s["workers"] for s in samples) == cap  # scaled out to max_workers...
    assert any(s["workers"] == cap and s["pending"] > 0 for s in samples)  # ...and held there
    timeline = worker_timeline(samples)
    for node, info in timeline.items():
        assert info["pending_before"] > 0, f"{node} added with no trial pending"
        assert info["resources"] == worker_resources, info
        assert info["gone"] is not None, f"{node} still alive"
        # the sampled idle span can only overestimate the autoscaler's (0.5 s: sample skew)
        assert info["idle_s"] >= IDLE_TIMEOUT_S - 0.5, f"{node} removed early: {info}"
    assert samples[-1]["workers"] == 0 and samples[-1]["phase"] == "sweep done"
    return timeline


def check_trials(df, timeline: dict[str, dict[str, Any]], cap: int) -> None:
    """Every trial finished exactly once, on the workers (never on the head), trained on
    CPU, at most PER_GPU at once on each logical GPU, and both workers ran trials."""
    assert len(df) == DEMO_TRIALS and df["trial_id"].is_unique
    assert not df.duplicated(["cell", "seed"]).any()
    assert set(df["status"]) == {"TERMINATED"} and (df["num_failures"] == 0).all()
    assert df["resumed_from"].isna().all() and (df["final_reports"] == 1).all()
    assert set(df["device"]) == {"cpu"}
    assert FAKE_HEAD_NODE_ID not in set(df["node_id"])
    assert set(df["node_id"]) <= set(timeline)  # nodes the GCS listed as workers
    assert df["node_id"].nunique() == cap
    gpus = per_gpu(df)
    assert (gpus["gpu"].astype(str) != "").all() and len(gpus) == cap  # one GPU per worker
    assert gpus["peak_concurrent"].max() <= PER_GPU, gpus


@pytest.mark.slow
def test_gpu_workers_come_with_pending_trials_and_go_when_idle(data_root, tmp_path):
    from lvae.data import get_dataset

    get_dataset("dsprites_procedural", data_root)  # built once, not by each trial
    run = run_demo(tmp_path)
    samples, started, finished = run["samples"], run["started"], run["finished"]
    print("\n" + HEADER)
    show = ChangePrinter()  # the samples where something changed
    for row in samples:
        show(row)
    assert run["returncode"] == 0, run["output"][-4000:]
    df = trial_records(run["exp"])
    print(summary(run, df))
    layout = run["layout"]
    (worker_type,) = layout["worker_types"].values()
    cap = min(layout["max_workers"], worker_type["max_workers"])
    resources = {k: float(v) for k, v in worker_type["resources"].items()}
    timeline = check_scaling(samples, started, cap, resources)
    check_trials(df, timeline, cap)
    assert started < finished < len(samples)
    assert run["stopped"] and run["left"] == []  # its processes found, and none left


W1, W2, W3 = (FAKE_HEAD_NODE_ID[:-5] + f"{i:05d}" for i in (1, 2, 3))
GPU_WORKER = {"CPU": 4.0, "GPU": 1.0}


def synthetic_samples() -> list[dict[str, Any]]:
    """A run as check_scaling expects it: 3 samples before the sweep, 12 trials pend, w1
    then w2 come, both full while 4 pend, idle from t=7 s, both gone at t=14 s."""
    def row(t, gpu, pending, phase="sweep running"):
        return {"t": float(t), "workers": len(gpu), "gpu": gpu, "pending": pending,
                "resources": {n: dict(GPU_WORKER) for n in gpu}, "phase": phase}

    return ([row(t, {}, 0, "before the sweep") for t in range(3)]
            + [row(3, {}, 12), row(4, {W1: 1.0}, 8), row(5, {W1: 1.0, W2: 1.0}, 4),
               row(6, {W1: 1.0, W2: 1.0}, 0)]
            + [row(t, {W1: 0.0, W2: 0.0}, 0) for t in range(7, 14)]
            + [row(14, {}, 0, "sweep done")])


def test_the_checks_fail_on_what_they_guard() -> None:
    good = synthetic_samples()
    check_scaling(good, 3, 2, GPU_WORKER)
    broken = []
    third = copy.deepcopy(good)  # a worker beyond max_workers
    for row in third[5:7]:
        row["gpu"][W3], row["resources"][W3], row["workers"] = 0.0, dict(GPU_WORKER), 3
    broken.append(third)
    unasked = copy.deepcopy(good)  # w2 came although no trial pended
    unasked[4]["pending"] = 0
    broken.append(unasked)
    early = copy.deepcopy(good)  # removed 2 s after its last trial
    for row in early[8:]:
        row["gpu"], row["resources"], row["workers"] = {}, {}, 0
    broken.append(early)
    never_full = copy.deepcopy(good)  # max_workers reached only once nothing pended
    never_full[5]["pending"] = 0
    broken.append(never_full)
    for samples in broken:
        with pytest.raises(AssertionError):
            check_scaling(samples, 3, 2, GPU_WORKER)
    assert peak_concurrent([(0.0, 10.0)] * 5) == 5
    assert peak_concurrent([(0.0, 11.0), (10.0, 20.0), (19.0, 30.0)]) == 1  # whole seconds
    assert peak_concurrent([(0.0, 12.0), (10.0, 20.0)]) == 2
