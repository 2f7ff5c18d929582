"""cluster.yaml's layout as an autoscaling Ray cluster on this one machine.

``ray.cluster_utils.AutoscalingCluster`` starts a head whose autoscaler uses Ray's fake
multi-node provider: "launching" a worker starts a raylet on this machine with the node
type's resources (GPUs are logical). The head and worker node types (resources,
min/max workers) are read from ``cluster.yaml`` itself; only the worker counts are divided
by one factor, ``SCALE``, so that the demonstration fits a laptop, and the idle timeout is
shortened. Differences from the library class, both for running next to other Ray users
on the same machine: it never runs ``ray stop --force`` (which stops every Ray on the
machine) but stops its own processes by id, and the head listens on a free port of its
own. The Ray wheel does not ship the ``example.yaml`` that the library class starts from,
so the whole config is written here (fake_config).

``run_demo`` runs a sweep against it and samples the GCS every second; ``cd tests &&
python -m helpers.fake_cluster`` (``make cluster-demo``) prints it as a progress table.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import yaml
from ray.autoscaler._private.fake_multi_node.node_provider import FAKE_HEAD_NODE_ID
from ray.cluster_utils import AutoscalingCluster

from helpers.autoscale_records import short, summary, trial_records

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


def fake_config(layout: dict[str, Any], gcs_address: str | None = None) -> dict[str, Any]:
    """The autoscaler config of ``layout``: cluster.yaml's node types on Ray's fake
    multi-node provider, with nothing to set up (the provider starts raylets itself)."""
    types = {**layout["worker_types"],
             FAKE_HEAD_TYPE: {"resources": dict(layout["head_resources"]), "node_config": {},
                              "max_workers": 0}}
    provider = {"type": "fake_multinode", "use_node_id_as_ip": True,  # nodes share one IP
                "use_internal_ips": True, "disable_launch_config_check": True,
                "disable_node_updaters": True}
    if gcs_address:
        provider["gcs_address"] = gcs_address
    return {
        "cluster_name": "lvae-fake", "max_workers": layout["max_workers"],
        "upscaling_speed": 1.0, "idle_timeout_minutes": IDLE_TIMEOUT_S / 60,
        "provider": provider, "auth": {"ssh_user": "ubuntu"},
        "available_node_types": types, "head_node_type": FAKE_HEAD_TYPE,
        "docker": {}, "file_mounts": {}, "cluster_synced_files": [],
        "initialization_commands": [], "setup_commands": [], "head_setup_commands": [],
        "worker_setup_commands": [], "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


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
        return fake_config(self.layout, self.address)

    def start(self, _system_config=None, override_env=None) -> None:
        """``ray start --head`` with the autoscaler, on our port and temp dir."""
        self._config_file = Path(self.temp_dir) / "autoscaling.json"
        self._config_file.write_text(json.dumps(self._config))
        res = dict(self._head_resources)
        cmd = [str(Path(sys.executable).parent / "ray"), "start", "--head",
               f"--port={self.port}", f"--autoscaling-config={self._config_file}",
               f"--temp-dir={self.temp_dir}", "--include-dashboard=false",
               f"--num-cpus={res.pop('CPU', 0)}", f"--num-gpus={res.pop('GPU', 0)}",
               "--object-store-memory=100000000",
               # free ports, not Ray's fixed defaults (10001, 52365), which another Ray
               # head on this machine may hold
               f"--ray-client-server-port={_free_port()}",
               f"--dashboard-agent-listen-port={_free_port()}"]
        if res:
            cmd.append(f"--resources={json.dumps(res)}")
        env = {**os.environ, "AUTOSCALER_UPDATE_INTERVAL_S": "1", "RAY_FAKE_CLUSTER": "1",
               # the head's node id is the one the fake provider lists for the head
               "RAY_OVERRIDE_NODE_ID_FOR_TESTING": FAKE_HEAD_NODE_ID,
               "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
        subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=120)

    def shutdown(self) -> list[int]:
        """Stop only this cluster's processes (see processes), by process id; the ids it
        found, so that the caller can check that none of them is still alive."""
        seen: set[int] = set()
        for attempt in range(20):
            pids = self.processes()
            seen.update(pids)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGTERM if attempt < 10 else signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.5)
        return sorted(seen)

    def processes(self) -> list[int]:
        """Process ids of this cluster's processes still running: those whose command line
        names its temp dir or its port (the head's, the autoscaler's, every fake worker's
        raylet) and their descendants (the trials' workers, renamed ``ray::...``)."""
        import psutil

        port = re.compile(rf":{self.port}\b")
        found: set[int] = set()
        for proc in psutil.process_iter(["pid", "cmdline", "status"]):
            try:
                cmdline = " ".join(proc.info["cmdline"] or [])
                if proc.info["pid"] == os.getpid() or proc.info["status"] == "zombie":
                    continue
                if self.temp_dir in cmdline or port.search(cmdline):
                    found.add(proc.info["pid"])
                    found.update(c.pid for c in proc.children(recursive=True)
                                 if c.status() != "zombie")
            except (psutil.Error, TypeError):
                continue
        return sorted(found)


def new_temp_dir() -> str:
    """A short temp dir (Ray's socket paths must stay under 107 characters)."""
    return tempfile.mkdtemp(prefix="rtfc", dir="/tmp")


# ------------------------------------------------------------------ the demonstration
#: the sweep the demonstration runs: lvae_reg smoke, 3 seeds: 12 trials of 1 CPU and a quarter
#: of a logical GPU, 3 GPUs' worth, more than the 2 workers cluster.yaml / SCALE allows, so
#: the autoscaler must add both workers and hold at max_workers while trials still pend;
#: trained on CPU (the GPUs are logical)
DEMO_TRIAL_ARGS = ["--space", "lvae_reg", "--preset", "smoke", "--seeds", "3", "--steps", "20",
                   "--no-report", "--no-matched", "--cpus-per-trial", "1",
                   "--gpus-per-trial", "0.25", "--device", "cpu"]
#: trials per seed of lvae_reg at the smoke preset (its 4 cells)
DEMO_TRIALS = 4 * 3


def sample(t0: float) -> dict[str, Any]:
    """What the cluster's GCS records now: the alive worker nodes, the GPU share that
    trials' placement groups hold on each, and the placement groups still pending."""
    import ray
    from ray._private.state import available_resources_per_node
    from ray.util import placement_group_table

    t = round(time.monotonic() - t0, 1)
    alive = [n for n in ray.nodes() if n["Alive"] and n["NodeID"] != FAKE_HEAD_NODE_ID]
    free = available_resources_per_node()
    gpu = {n["NodeID"]: round(n["Resources"].get("GPU", 0)
                              - free.get(n["NodeID"], n["Resources"]).get("GPU", 0), 2)
           for n in alive}
    pending = sum(pg["state"] in ("PENDING", "RESCHEDULING")
                  for pg in placement_group_table().values())
    return {"t": t, "workers": len(alive), "gpu": gpu, "pending": pending,
            "resources": {n["NodeID"]: {k: n["Resources"].get(k) for k in ("CPU", "GPU")}
                          for n in alive}}


#: the progress table's header (format_row's columns)
HEADER = "  t (s)  workers  GPU in use per worker  trials pending  phase"


def format_row(row: dict[str, Any]) -> str:
    """One sample as a line of the progress table (HEADER)."""
    gpu = " ".join(f"{short(n)} {g:.2f}" for n, g in sorted(row["gpu"].items())) or "-"
    return (f"{row['t']:7.1f}  {row['workers']:7d}  {gpu:<21}  {row['pending']:14d}  "
            f"{row['phase']}")


class ChangePrinter:
    """Prints a sample when what it shows (workers, GPU in use, pending, phase) changed."""

    def __init__(self, out: TextIO | None = None):
        self.out, self.last = out, None  # None: sys.stdout when printing (pytest swaps it)

    def __call__(self, row: dict[str, Any]) -> None:
        key = (row["workers"], tuple(sorted(row["gpu"].items())), row["pending"], row["phase"])
        if key != self.last:
            print(format_row(row), file=self.out or sys.stdout, flush=True)
        self.last = key


def run_demo(storage: Path, name: str = "autoscale", timeout: float = 480.0,
             show: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Start the fake cluster, run the demo sweep against it, wait for the idle workers
    to go, stop everything; what was observed (samples every second, the sweep's
    output, the processes found at teardown and those left)."""
    import ray

    cluster = FakeCluster(scaled_layout(), new_temp_dir())
    samples: list[dict[str, Any]] = []
    proc, started, finished, stopped = None, 0, 0, []
    t0 = time.monotonic()
    cluster.start()
    try:
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        observe(samples, t0, show, "before the sweep", lambda: len(samples) >= 3)
        cmd = [sys.executable, str(REPO / "sweeps" / "run.py"), *DEMO_TRIAL_ARGS,
               "--storage", str(storage), "--name", name, "--address", cluster.address]
        # from the repository root: with tests/ on the trials' path, tests/lvae would
        # shadow parts of the lvae package
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                cwd=REPO)
        started = len(samples)
        observe(samples, t0, show, "sweep running", lambda: proc.poll() is not None,
                deadline=t0 + timeout)
        finished = len(samples)
        observe(samples, t0, show, "sweep done", lambda: samples[-1]["workers"] == 0,
                deadline=time.monotonic() + 4 * IDLE_TIMEOUT_S + 30)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        output = proc.communicate()[0] if proc is not None else ""
        ray.shutdown()
        stopped = cluster.shutdown()
    left = sorted(set(cluster.processes()) | {p for p in stopped if alive(p)})
    return {"samples": samples, "started": started, "finished": finished,
            "returncode": proc.returncode if proc is not None else None, "output": output,
            "stopped": stopped, "left": left, "layout": cluster.layout,
            "exp": storage / name, "wall_s": round(time.monotonic() - t0, 1)}


def alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie has ended, only its parent has not reaped it)."""
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def observe(samples: list[dict[str, Any]], t0: float,
            show: Callable[[dict[str, Any]], None] | None, phase: str,
            done: Callable[[], bool], deadline: float | None = None) -> None:
    """Sample the cluster every second until ``done()`` (or the deadline)."""
    while True:
        row = {**sample(t0), "phase": phase}
        samples.append(row)
        if show is not None:
            show(row)
        if done() or (deadline is not None and time.monotonic() > deadline):
            return
        time.sleep(1.0)


if __name__ == "__main__":  # make cluster-demo
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    demo_storage = Path(tempfile.mkdtemp(prefix="lvae-cluster-demo-"))
    demo_layout = scaled_layout()
    print(f"cluster.yaml, worker counts / {SCALE}: head {demo_layout['head_resources']}, "
          f"workers {demo_layout['worker_types']}, max_workers {demo_layout['max_workers']}; "
          f"idle timeout {IDLE_TIMEOUT_S} s")
    print("sweep: sweeps/run.py " + " ".join(DEMO_TRIAL_ARGS) + " --address <the head>")
    print(HEADER)
    demo = run_demo(demo_storage, show=ChangePrinter())
    if demo["returncode"]:
        print(demo["output"][-4000:])
    if (demo["exp"] / "results.csv").is_file():
        print(summary(demo, trial_records(demo["exp"])))
    sys.exit(demo["returncode"] or bool(demo["left"]))
