"""cluster.yaml's autoscaling, on this machine: Ray's fake multi-node provider starts and
stops worker raylets with the node types read from cluster.yaml (tests/helpers/fake_cluster.py;
worker counts / SCALE, idle timeout shortened), and a smoke sweep runs against it with
--gpus-per-trial 0.25 --device cpu. Everything is judged from what the GCS (ray.nodes())
and the sweep (results.csv) recorded."""

from __future__ import annotations

import pytest
from helpers.fake_cluster import FAKE_HEAD_NODE_ID, run_demo, trials_per_node


@pytest.mark.slow
def test_gpu_workers_come_with_pending_trials_and_go_when_idle(data_root, tmp_path):
    from lvae.data import get_dataset

    get_dataset("dsprites_procedural", data_root)  # built once, not by each trial
    run = run_demo(tmp_path, show=None)
    samples, started, finished = run["samples"], run["started"], run["finished"]
    print("t (s), worker nodes:", [(s["t"], s["workers"]) for s in samples])
    assert run["returncode"] == 0, run["output"][-4000:]
    cap = min(run["layout"]["max_workers"],
              *(t["max_workers"] for t in run["layout"]["worker_types"].values()))
    assert all(s["workers"] == 0 for s in samples[:started])  # none before trials pend
    assert 1 <= max(s["workers"] for s in samples) <= cap
    assert all(s["gpu_used"] <= s["workers"] + 1e-9 for s in samples)  # <= 4 x 0.25 per GPU
    df, per_node = trials_per_node(run["exp"])
    print("trials per node:", per_node.to_dict())
    assert FAKE_HEAD_NODE_ID not in set(df["node_id"])  # no trial on the head
    assert per_node.max() <= 4 * len(per_node) and set(df["device"]) == {"cpu"}
    assert df["trial_id"].is_unique and set(df["status"]) == {"TERMINATED"}
    assert df["resumed_from"].isna().all()  # each trial ran exactly once
    assert samples[-1]["workers"] == 0 and samples[-1]["phase"] == "sweep done"  # idle: gone
    assert finished < len(samples)
    assert run["left"] == []  # nothing left running
