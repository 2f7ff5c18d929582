"""cluster.yaml's layout as an autoscaling Ray cluster on this one machine.

``ray.cluster_utils.AutoscalingCluster`` starts a head whose autoscaler uses Ray's fake
multi-node provider: "launching" a worker starts a raylet on this machine with the node
type's resources (GPUs are logical). The head and worker node types (resources,
min/max workers) are read from ``cluster.yaml`` itself; only the worker counts are divided
by one factor, ``SCALE``, so that the demonstration fits a laptop, and the idle timeout is
shortened. Differences from the library class, both for running next to other Ray users
on the same machine: it never runs ``ray stop --force`` (which stops every Ray on the
machine), and the head listens on a free port of its own. The Ray wheel does not ship the
``example.yaml`` that the library class starts from, so the whole config is written here.
"""

from __future__ import annotations

import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from ray.autoscaler._private.fake_multi_node.node_provider import FAKE_HEAD_NODE_ID
from ray.cluster_utils import AutoscalingCluster

REPO = Path(__file__).resolve().parents[2]
CLUSTER_YAML = REPO / "cluster.yaml"

#: the one factor applied to cluster.yaml: worker counts (top level and per node type) are
#: divided by it, rounded up (8 g5.xlarge workers -> 2 fake ones); resources are kept
SCALE = 4
#: seconds an idle fake worker lives (cluster.yaml: idle_timeout_minutes, 10 minutes)
IDLE_TIMEOUT_S = 6
#: the fake provider names the head's node type this way
FAKE_HEAD_TYPE = "ray.head.default"


def scaled_layout(path: Path = CLUSTER_YAML, scale: int = SCALE) -> dict[str, Any]:
    """cluster.yaml's head resources and worker node types, worker counts / ``scale``."""
    config = yaml.safe_load(path.read_text())
    head = config["head_node_type"]
    types = config["available_node_types"]
    workers = {
        name: {
            "resources": dict(t["resources"]),
            "min_workers": math.ceil(t.get("min_workers", 0) / scale),
            "max_workers": math.ceil(t["max_workers"] / scale),
            "node_config": {},
        }
        for name, t in types.items() if name != head
    }
    return {"head_type": head, "head_resources": dict(types[head]["resources"]),
            "worker_types": workers, "max_workers": math.ceil(config["max_workers"] / scale)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FakeCluster(AutoscalingCluster):
    """The autoscaling cluster of ``layout`` (see scaled_layout)."""

    def __init__(self, layout: dict[str, Any], temp_dir: str):
        from ray._private.services import get_node_ip_address

        self.port = _free_port()
        self.address = f"{get_node_ip_address()}:{self.port}"
        self.temp_dir = temp_dir
        self.layout = layout
        super().__init__(dict(layout["head_resources"]), dict(layout["worker_types"]))

    def _generate_config(self, head_resources, worker_node_types, autoscaler_v2=False,
                         **config_kwargs):
        types = {**worker_node_types,
                 FAKE_HEAD_TYPE: {"resources": dict(head_resources), "node_config": {},
                                  "max_workers": 0}}
        return {
            "cluster_name": "lvae-fake", "max_workers": self.layout["max_workers"],
            "upscaling_speed": 1.0, "idle_timeout_minutes": IDLE_TIMEOUT_S / 60,
            "provider": {"type": "fake_multinode", "gcs_address": self.address,
                         "use_node_id_as_ip": True,  # all fake nodes share one IP
                         "use_internal_ips": True, "disable_launch_config_check": True,
                         "disable_node_updaters": True},
            "auth": {"ssh_user": "ubuntu"},
            "available_node_types": types, "head_node_type": FAKE_HEAD_TYPE,
            "docker": {}, "file_mounts": {}, "cluster_synced_files": [],
            "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
            "worker_setup_commands": [], "head_start_ray_commands": [],
            "worker_start_ray_commands": [],
        }

    def start(self, _system_config=None, override_env=None) -> None:
        """``ray start --head`` with the autoscaler, on our port and temp dir."""
        self._config_file = Path(self.temp_dir) / "autoscaling.json"
        self._config_file.write_text(json.dumps(self._config))
        res = dict(self._head_resources)
        cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head",
               f"--port={self.port}", f"--autoscaling-config={self._config_file}",
               f"--temp-dir={self.temp_dir}", "--include-dashboard=false",
               f"--num-cpus={res.pop('CPU', 0)}", f"--num-gpus={res.pop('GPU', 0)}",
               "--object-store-memory=100000000"]
        if res:
            cmd.append(f"--resources={json.dumps(res)}")
        env = {**os.environ, "AUTOSCALER_UPDATE_INTERVAL_S": "1", "RAY_FAKE_CLUSTER": "1",
               # the head's node id is the one the fake provider lists for the head
               "RAY_OVERRIDE_NODE_ID_FOR_TESTING": FAKE_HEAD_NODE_ID,
               "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)

    def shutdown(self) -> None:
        """Stop only this cluster's processes: those whose command line names its temp dir
        (the head's, the autoscaler's and every fake worker's), by process id."""
        for _ in range(20):
            pids = self.processes()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM if _ < 10 else signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)

    def processes(self) -> list[int]:
        """Process ids of this cluster's Ray processes still running."""
        import psutil

        found = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                cmdline = " ".join(proc.info["cmdline"] or [])
            except (psutil.Error, TypeError):
                continue
            if proc.info["pid"] != os.getpid() and (self.temp_dir in cmdline
                                                     or f":{self.port}" in cmdline):
                found.append(proc.info["pid"])
        return found


def new_temp_dir() -> str:
    """A short temp dir (Ray's socket paths must stay under 107 characters)."""
    return tempfile.mkdtemp(prefix="rtfc", dir="/tmp")


# ------------------------------------------------------------------ the demonstration
#: the sweep the demonstration runs: lvae_reg smoke, 2 seeds (8 trials), short trials
#: packed four to a logical GPU, trained on CPU (the GPUs are logical)
DEMO_TRIAL_ARGS = ["--space", "lvae_reg", "--preset", "smoke", "--seeds", "1", "--steps", "20",
                   "--no-report", "--no-matched", "--cpus-per-trial", "1",
                   "--gpus-per-trial", "0.25", "--device", "cpu"]


def sample(t0: float, cluster: FakeCluster) -> dict[str, Any]:
    """What the cluster's GCS records now: alive worker nodes and GPU shares in use."""
    import ray

    workers = [n for n in ray.nodes()
               if n["Alive"] and n["NodeID"] != FAKE_HEAD_NODE_ID]
    gpus = sum(n["Resources"].get("GPU", 0) for n in workers)
    free = ray.available_resources().get("GPU", 0.0)
    return {"t": round(time.monotonic() - t0, 1), "workers": len(workers),
            "gpu_used": round(gpus - free, 2)}


def print_row(row: dict[str, Any], out=sys.stdout) -> None:
    print(f"  {row['t']:6.1f} s  workers {row['workers']}  "
          f"GPU in use {row['gpu_used']:.2f}  {row.get('phase', '')}", file=out, flush=True)


def run_demo(storage: Path, name: str = "autoscale", timeout: float = 170.0,
             show=print_row) -> dict[str, Any]:
    """Start the fake cluster, run the demo sweep against it, wait for the idle workers
    to go, stop everything; what was observed (samples every second, the sweep's
    output, the head's node id, leftover processes)."""
    import ray

    cluster = FakeCluster(scaled_layout(), new_temp_dir())
    samples: list[dict[str, Any]] = []
    proc = None
    t0 = time.monotonic()
    cluster.start()
    try:
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        observe(samples, t0, cluster, show, "before the sweep", lambda: len(samples) >= 3)
        cmd = [sys.executable, str(REPO / "sweeps" / "run.py"), *DEMO_TRIAL_ARGS,
               "--storage", str(storage), "--name", name, "--address", cluster.address]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        started = len(samples)
        observe(samples, t0, cluster, show, "sweep running", lambda: proc.poll() is not None,
                deadline=t0 + timeout)
        finished = len(samples)
        observe(samples, t0, cluster, show, "sweep done",
                lambda: samples[-1]["workers"] == 0, deadline=t0 + timeout + 4 * IDLE_TIMEOUT_S)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        output = proc.communicate()[0] if proc is not None else ""
        ray.shutdown()
        cluster.shutdown()
    return {"samples": samples, "started": started, "finished": finished,
            "returncode": proc.returncode, "output": output, "left": cluster.processes(),
            "layout": cluster.layout, "exp": storage / name}


def observe(samples, t0, cluster, show, phase, done, deadline=None) -> None:
    """Sample the cluster every second until ``done()`` (or the deadline)."""
    while True:
        row = {**sample(t0, cluster), "phase": phase}
        samples.append(row)
        if show is not None:
            show(row)
        if done() or (deadline is not None and time.monotonic() > deadline):
            return
        time.sleep(1.0)


def trials_per_node(exp: Path):
    import pandas as pd

    df = pd.read_csv(exp / "results.csv")
    return df, df.groupby("node_id")["trial_id"].count()


if __name__ == "__main__":  # make cluster-demo
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    storage = Path(tempfile.mkdtemp(prefix="lvae-cluster-demo-"))
    layout = scaled_layout()
    print(f"cluster.yaml, worker counts / {SCALE}: head {layout['head_resources']}, "
          f"workers {layout['worker_types']}; idle timeout {IDLE_TIMEOUT_S} s")
    result = run_demo(storage)
    df, per_node = trials_per_node(result["exp"])
    if result["returncode"]:
        print(result["output"][-4000:])
    print(f"sweep exit code {result['returncode']}; {len(df)} trials in {result['exp']}")
    print("trials per node:\n" + per_node.to_string())
    print(f"processes left: {result['left'] or 'none'}")
    sys.exit(result["returncode"])
