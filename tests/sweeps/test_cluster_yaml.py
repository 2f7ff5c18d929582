"""``cluster.yaml`` checked the way ``ray up`` checks it, offline.

``ray up`` has no dry run, and its AWS bootstrap needs credentials and the network. What
it rejects before touching AWS comes from the JSON schema shipped inside Ray and from
Ray's own ``prepare_config`` / ``validate_config``: both run here, on real Ray code. The
raw file also goes through the schema, because ``prepare_config`` silently drops some
mistakes (a top-level ``min_workers``) that the schema rejects. On top come this project's
rules (no trials on the head, CUDA PyTorch, token authentication on, shared storage) and
the autoscaler's own planning for pending GPU trials. The checker is in
tests/helpers/cluster_config.py; every check is also shown to fail on a broken copy in
tests/sweeps/test_cluster_yaml_broken.py.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
import subprocess
import sys
from typing import Any

import pytest
from helpers.cluster_config import (
    AUTH_DISABLED,
    CLUSTER_YAML,
    PROJECT_INSTALL,
    ClusterConfigError,
    first_match,
    gpu_worker_name,
    head_type,
    project_problems,
    ray_schema,
    validate_like_ray_up,
    worker_type,
)
from helpers.paths import REPO
from ray._private.ray_constants import RESOURCES_ENVIRONMENT_VARIABLE
from ray._private.resource_and_label_spec import ResourceAndLabelSpec
from ray.autoscaler._private.node_provider_availability_tracker import NodeAvailabilitySummary
from ray.autoscaler._private.resource_demand_scheduler import (
    _default_utilization_scorer,
    get_bin_pack_residual,
    get_nodes_for,
)
from ray.autoscaler._private.util import prepare_config, validate_config

CLUSTER_DOCS = REPO / "docs" / "cluster.md"

#: One Tune trial as docs/cluster.md runs them (--cpus-per-trial 1 --gpus-per-trial 0.25).
TRIAL_BUNDLE = {"CPU": 1, "GPU": 0.25}

#: sweeps/run.py's command-line flags, read from its own parser.
RUN_FLAGS = {
    flag
    for action in __import__("sweeps.cli", fromlist=["build_parser"]).build_parser()._actions
    for flag in action.option_strings
}
PRESETS = {"smoke", "local", "paper"}


@pytest.fixture(scope="module")
def prepared(cluster_yaml: dict[str, Any]) -> dict[str, Any]:
    return validate_like_ray_up(cluster_yaml)


# --------------------------------------------------------------------------- the real file


def test_ray_schema_is_draft07() -> None:
    assert ray_schema()["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_cluster_yaml_passes_ray_validation(prepared: dict[str, Any]) -> None:
    """What `ray up` would run: every node installs the project, GPU workers check CUDA."""
    cuda_check = "torch.cuda.is_available()"
    for kind in ("head_setup_commands", "worker_setup_commands"):
        assert first_match(PROJECT_INSTALL, prepared[kind]) is not None, kind
    assert any(cuda_check in cmd for cmd in prepared["worker_setup_commands"])
    assert not any(cuda_check in cmd for cmd in prepared["head_setup_commands"])
    assert head_type(prepared)["max_workers"] == 0


def test_validation_needs_no_aws() -> None:
    """The same Ray calls in a fresh interpreter import no AWS provider code nor boto."""
    code = (
        "import sys, yaml\n"
        "from ray.autoscaler._private.util import prepare_config, validate_config\n"
        f"validate_config(prepare_config(yaml.safe_load(open({str(CLUSTER_YAML)!r}))))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')\n"
        "             or m.startswith('ray.autoscaler._private.aws')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_project_rules_hold(cluster_yaml: dict[str, Any], cluster_yaml_text: str) -> None:
    assert project_problems(cluster_yaml, cluster_yaml_text) == []


@pytest.mark.parametrize("role", ["head", "worker"])
def test_raylet_advertises_the_node_type_resources(
    prepared: dict[str, Any], role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `ray start` on each node reports, given what the launcher hands it."""
    node_type = head_type(prepared) if role == "head" else worker_type(prepared)
    resources = node_type["resources"]
    # The launcher passes the node type's resources to `ray start` in this variable.
    monkeypatch.setenv(RESOURCES_ENVIRONMENT_VARIABLE, json.dumps(resources))
    if role == "head":
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # a CPU instance: no GPU detected
    else:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    spec = ResourceAndLabelSpec().resolve(is_head=role == "head", node_ip_address="127.0.0.1")
    assert spec.num_cpus == resources["CPU"]
    assert spec.num_gpus == resources.get("GPU", 0)
    if role == "head":
        assert spec.num_cpus == 0 and spec.num_gpus == 0


def test_no_trial_fits_on_the_head(prepared: dict[str, Any]) -> None:
    unfulfilled, _ = get_bin_pack_residual([head_type(prepared)["resources"]], [TRIAL_BUNDLE])
    assert unfulfilled == [TRIAL_BUNDLE]


@pytest.mark.parametrize("n_trials", [1, 4, 16, 40])
def test_autoscaler_adds_gpu_workers_for_pending_trials(
    prepared: dict[str, Any], n_trials: int
) -> None:
    """Ray's own planner: pending trials start GPU workers, capped by max_workers."""
    worker_name = gpu_worker_name(prepared)
    worker = prepared["available_node_types"][worker_name]
    per_node = min(worker["resources"][k] // v for k, v in TRIAL_BUNDLE.items())
    cap = min(worker["max_workers"], prepared["max_workers"])
    expected_nodes = min(math.ceil(n_trials / per_node), cap)
    scorer = functools.partial(
        _default_utilization_scorer,
        node_availability_summary=NodeAvailabilitySummary(node_availabilities={}),
    )
    to_add, unplaced = get_nodes_for(
        prepared["available_node_types"],
        existing_nodes={prepared["head_node_type"]: 1},
        head_node_type=prepared["head_node_type"],
        max_to_add=prepared["max_workers"],  # max_workers + 1 (head) - 1 running (head)
        resources=[dict(TRIAL_BUNDLE) for _ in range(n_trials)],
        utilization_scorer=scorer,
    )
    assert dict(to_add) == {worker_name: expected_nodes}
    assert len(unplaced) == max(0, n_trials - expected_nodes * per_node)


def test_docs_cover_the_cluster_workflow() -> None:
    docs = CLUSTER_DOCS.read_text()
    for needle in [
        "ray up cluster.yaml",
        "ray down cluster.yaml",
        "ray exec cluster.yaml --tmux",
        "ray attach cluster.yaml --tmux",
        "ray dashboard cluster.yaml",
        "ray get-auth-token --generate",
        "--storage s3://YOUR-BUCKET/",
        "--resume",
        "tensorboard --logdir s3://",
        "aws s3 sync s3://",
        "LVAE_DATA",
        "RAY_AUTH_MODE=token",
        "EFS",
        "lvae-ray-worker",
    ]:
        assert needle in docs, f"{CLUSTER_DOCS}: should mention {needle!r}"
    assert not AUTH_DISABLED.search(docs), f"{CLUSTER_DOCS}: must not tell users to disable auth"


def test_documented_sweep_commands_use_known_flags() -> None:
    commands = re.findall(r"python sweeps/run\.py([^'`\n]*)", CLUSTER_DOCS.read_text())
    assert commands, f"{CLUSTER_DOCS}: no sweeps/run.py command found"
    for args in commands:
        flags = set(re.findall(r"(?<!\S)(--[a-z][a-z-]*)", args))
        assert flags <= RUN_FLAGS, f"unknown sweeps/run.py flags {flags - RUN_FLAGS} in {args}"
        assert "--address auto" in args, args
        assert re.search(r"--storage (s3://|/mnt/efs/)", args), args
        assert set(re.findall(r"--preset (\S+)", args)) <= PRESETS, args


def test_ray_alone_ignores_a_top_level_min_workers(cluster_yaml: dict[str, Any]) -> None:
    """Why the raw file also goes through the schema: prepare_config drops the key."""
    broken = copy.deepcopy(cluster_yaml)
    broken["min_workers"] = 1
    validate_config(prepare_config(broken))  # accepted by Ray's own path...
    with pytest.raises(ClusterConfigError, match="min_workers"):
        validate_like_ray_up(broken)  # ...rejected here
