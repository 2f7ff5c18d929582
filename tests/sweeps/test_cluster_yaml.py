"""``cluster.yaml`` checked the way ``ray up`` checks it, offline.

``ray up`` has no dry run, and its AWS bootstrap needs credentials and the network. What
it rejects before touching AWS comes from the JSON schema shipped inside Ray and from
Ray's own ``prepare_config`` / ``validate_config``: both run here, on real Ray code. The
raw file also goes through the schema, because ``prepare_config`` silently drops some
mistakes (a top-level ``min_workers``) that the schema rejects. On top come this project's
rules (no trials on the head, CUDA PyTorch, token authentication on, shared storage) and
the autoscaler's own planning for pending GPU trials. Every check is also shown to fail on
a broken copy.
"""

from __future__ import annotations

import copy
import functools
import json
import math
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import ray
import ray.autoscaler
import yaml
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

CLUSTER_YAML = REPO / "cluster.yaml"
CLUSTER_DOCS = REPO / "docs" / "cluster.md"
RAY_SCHEMA = Path(ray.autoscaler.__file__).parent / "ray-schema.json"

#: One Tune trial as docs/cluster.md runs them (--cpus-per-trial 1 --gpus-per-trial 0.25).
TRIAL_BUNDLE = {"CPU": 1, "GPU": 0.25}

#: sweeps/run.py's command-line flags, read from its own parser.
RUN_FLAGS = {
    flag
    for action in __import__("sweeps.cli", fromlist=["build_parser"]).build_parser()._actions
    for flag in action.option_strings
}
PRESETS = {"smoke", "local", "paper"}

CUDA_TORCH = re.compile(
    r"pip install\b.*\btorch\b.*--index-url[ =]https://download\.pytorch\.org/whl/cu\d+"
)
PROJECT_INSTALL = re.compile(r"pip install\b.*\s-e\s+~/lvae/?(\s|$)")
AUTH_DISABLED = re.compile(r"RAY_AUTH_MODE\s*[=:]\s*[\"']?disabled", re.IGNORECASE)
CPU_TORCH = re.compile(r"whl/cpu|\+cpu\b")


class ClusterConfigError(ValueError):
    """The config would be rejected; the message names the file, the field and why."""


# --------------------------------------------------------------------------- validation


def load_cluster_config(path: Path) -> dict[str, Any]:
    """Parse like ``ray up`` does (``yaml.safe_load``)."""
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ClusterConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(config, dict):
        raise ClusterConfigError(f"{path}: expected a mapping, got {type(config).__name__}")
    return config


@functools.cache
def ray_schema() -> dict[str, Any]:
    schema = json.loads(RAY_SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return schema


def _field(path: Any) -> str:
    return "/".join(str(p) for p in path) or "<top level>"


def validate_like_ray_up(config: dict[str, Any], source: str = "cluster.yaml") -> dict[str, Any]:
    """Return the config as ``ray up`` would use it, or raise :class:`ClusterConfigError`.

    Never calls the AWS provider (its resource autodetection and bootstrap need
    credentials); every node type here declares its resources, so nothing is left for
    autodetection to fill.
    """
    validator = jsonschema.Draft7Validator(ray_schema())
    errors = sorted(validator.iter_errors(config), key=lambda e: [str(p) for p in e.path])
    if errors:
        lines = "\n".join(f"  {_field(e.absolute_path)}: {e.message}" for e in errors)
        raise ClusterConfigError(
            f"{source}: does not match Ray's cluster schema ({RAY_SCHEMA}):\n{lines}"
        )
    try:
        prepared = prepare_config(copy.deepcopy(config))
        validate_config(prepared)
    except jsonschema.ValidationError as exc:
        raise ClusterConfigError(
            f"{source}: {_field(exc.absolute_path)}: {exc.message} (after Ray's defaults)"
        ) from exc
    except (ValueError, RuntimeError, KeyError, AssertionError) as exc:
        raise ClusterConfigError(f"{source}: rejected by Ray's config checks: {exc!r}") from exc
    return prepared


def _docker_env(options: list[str]) -> dict[str, str]:
    """``--env K=V`` / ``-e K=V`` / ``--env=K=V`` from docker run options."""
    words = shlex.split(" ".join(options))
    env: dict[str, str] = {}
    for i, word in enumerate(words):
        if word in ("-e", "--env") and i + 1 < len(words):
            assignment = words[i + 1]
        elif word.startswith("--env="):
            assignment = word.removeprefix("--env=")
        else:
            continue
        key, _, value = assignment.partition("=")
        env[key] = value
    return env


def _first_match(pattern: re.Pattern[str], commands: list[str]) -> int | None:
    return next((i for i, cmd in enumerate(commands) if pattern.search(cmd)), None)


def project_problems(config: dict[str, Any], text: str) -> list[str]:
    """This project's rules for cluster.yaml; [] when all hold.

    ``text`` is the whole file (comments included) for the rules about what may or must
    appear anywhere in it.
    """
    problems: list[str] = []
    types: dict[str, Any] = config.get(NT, {})
    head_name = config.get("head_node_type")
    head_res = types.get(head_name, {}).get("resources", {})
    # Unset CPU would be autodetected on AWS (the head's vCPUs), and trials would run there.
    if head_res.get("CPU") != 0:
        problems.append(
            f"available_node_types/{head_name}/resources/CPU: must be 0 so no trial runs "
            f"on the head, got {head_res.get('CPU')!r}"
        )
    if head_res.get("GPU", 0) != 0:
        problems.append(
            f"available_node_types/{head_name}/resources/GPU: the head runs no trials, "
            f"expected 0 or unset, got {head_res['GPU']!r}"
        )

    gpu_types = {
        name: t
        for name, t in types.items()
        if name != head_name and t.get("resources", {}).get("GPU", 0) >= 1
    }
    if not gpu_types:
        problems.append("available_node_types: needs a worker node type with resources GPU >= 1")
    for name, node_type in gpu_types.items():
        where = f"available_node_types/{name}"
        low, high = node_type.get("min_workers", 0), node_type.get("max_workers")
        if node_type["resources"].get("CPU", 0) < 1:
            problems.append(f"{where}/resources/CPU: trials need CPUs, expected >= 1")
        if high is None:
            problems.append(f"{where}/max_workers: set it (autoscaling bound of the GPU type)")
        elif not 0 <= low <= high:
            problems.append(f"{where}: expected 0 <= min_workers <= max_workers, got {low}, {high}")
        elif not 1 <= high <= config.get("max_workers", 0):
            problems.append(
                f"{where}/max_workers: expected 1..top-level max_workers "
                f"({config.get('max_workers')}), got {high}"
            )

    setup = list(config.get("setup_commands", []))
    torch_at = _first_match(CUDA_TORCH, setup)
    project_at = _first_match(PROJECT_INSTALL, setup)
    if torch_at is None:
        problems.append(
            "setup_commands: needs a CUDA PyTorch install "
            "(pip install torch --index-url https://download.pytorch.org/whl/cuXXX)"
        )
    if project_at is None:
        problems.append("setup_commands: needs `pip install -e ~/lvae` (the synced checkout)")
    elif torch_at is not None and torch_at > project_at:
        problems.append("setup_commands: install CUDA PyTorch before the project")
    if CPU_TORCH.search(text):
        problems.append("cluster.yaml: mentions a CPU-only PyTorch build (whl/cpu or +cpu)")
    file_mounts = config.get("file_mounts", {})
    if file_mounts.get("~/lvae") not in (".", "./"):
        problems.append("file_mounts/~/lvae: must sync the checkout ('.') that setup installs")

    docker = config.get("docker", {})
    env = _docker_env(docker.get("run_options", []))
    if AUTH_DISABLED.search(text):
        problems.append("cluster.yaml: token authentication must stay on (RAY_AUTH_MODE=disabled)")
    if env.get("RAY_AUTH_MODE") != "token":
        problems.append("docker/run_options: expected --env RAY_AUTH_MODE=token on every node")
    if file_mounts.get("~/.ray/auth_token") != "~/.ray/auth_token":
        problems.append("file_mounts: must ship ~/.ray/auth_token to ~/.ray/auth_token")
    if "LVAE_DATA" not in env:
        problems.append("docker/run_options: expected --env LVAE_DATA=<data root on every node>")
    region = config.get("provider", {}).get("region")
    if env.get("AWS_DEFAULT_REGION", region) != region:
        problems.append(
            f"docker/run_options: AWS_DEFAULT_REGION={env['AWS_DEFAULT_REGION']} "
            f"but provider/region is {region}"
        )

    image = docker.get("image", "")
    if not re.fullmatch(rf"rayproject/ray:{re.escape(ray.__version__)}-py3\d+-gpu", image):
        problems.append(
            f"docker/image: expected rayproject/ray:{ray.__version__}-py3XX-gpu "
            f"(the Ray this project is tested with), got {image!r}"
        )
    gpu_options = [*docker.get("run_options", []), *docker.get("worker_run_options", [])]
    if "--gpus all" not in gpu_options:
        problems.append("docker/worker_run_options: expected '--gpus all' for the GPU workers")

    if "--storage s3://" not in text:
        problems.append("cluster.yaml: must document --storage s3://... (shared storage)")
    return problems


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def raw_text() -> str:
    return CLUSTER_YAML.read_text()


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    return load_cluster_config(CLUSTER_YAML)


@pytest.fixture(scope="module")
def prepared(config: dict[str, Any]) -> dict[str, Any]:
    return validate_like_ray_up(config)


def _head(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg["available_node_types"][cfg["head_node_type"]]


def _gpu_worker_name(cfg: dict[str, Any]) -> str:
    names = [
        n
        for n, t in cfg["available_node_types"].items()
        if n != cfg["head_node_type"] and t["resources"].get("GPU", 0) >= 1
    ]
    assert len(names) == 1, names
    return names[0]


def _worker(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg["available_node_types"][_gpu_worker_name(cfg)]


# --------------------------------------------------------------------------- the real file


def test_ray_schema_is_draft07() -> None:
    assert ray_schema()["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_cluster_yaml_passes_ray_validation(prepared: dict[str, Any]) -> None:
    """What `ray up` would run: every node installs the project, GPU workers check CUDA."""
    cuda_check = "torch.cuda.is_available()"
    for kind in ("head_setup_commands", "worker_setup_commands"):
        assert _first_match(PROJECT_INSTALL, prepared[kind]) is not None, kind
    assert any(cuda_check in cmd for cmd in prepared["worker_setup_commands"])
    assert not any(cuda_check in cmd for cmd in prepared["head_setup_commands"])
    assert _head(prepared)["max_workers"] == 0


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


def test_project_rules_hold(config: dict[str, Any], raw_text: str) -> None:
    assert project_problems(config, raw_text) == []


@pytest.mark.parametrize("role", ["head", "worker"])
def test_raylet_advertises_the_node_type_resources(
    prepared: dict[str, Any], role: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What `ray start` on each node reports, given what the launcher hands it."""
    node_type = _head(prepared) if role == "head" else _worker(prepared)
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
    unfulfilled, _ = get_bin_pack_residual([_head(prepared)["resources"]], [TRIAL_BUNDLE])
    assert unfulfilled == [TRIAL_BUNDLE]


@pytest.mark.parametrize("n_trials", [1, 4, 16, 40])
def test_autoscaler_adds_gpu_workers_for_pending_trials(
    prepared: dict[str, Any], n_trials: int
) -> None:
    """Ray's own planner: pending trials start GPU workers, capped by max_workers."""
    worker_name = _gpu_worker_name(prepared)
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


def test_ray_alone_ignores_a_top_level_min_workers(config: dict[str, Any]) -> None:
    """Why the raw file also goes through the schema: prepare_config drops the key."""
    broken = copy.deepcopy(config)
    broken["min_workers"] = 1
    validate_config(prepare_config(broken))  # accepted by Ray's own path...
    with pytest.raises(ClusterConfigError, match="min_workers"):
        validate_like_ray_up(broken)  # ...rejected here


# --------------------------------------------------------------------------- broken copies

Mutation = Callable[[dict[str, Any]], None]
NT = "available_node_types"


def _parent(cfg: dict[str, Any], path: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    """The mapping holding ``path``'s last key; 'HEAD'/'WORKER' name the node types."""
    names = {"HEAD": cfg["head_node_type"], "WORKER": _gpu_worker_name(cfg)}
    *parents, last = (names.get(part, part) for part in path)
    target = cfg
    for key in parents:
        target = target[key]
    return target, last


def _set(path: tuple[str, ...], value: Any) -> Mutation:
    def mutate(cfg: dict[str, Any]) -> None:
        target, key = _parent(cfg, path)
        target[key] = value

    return mutate


def _delete(path: tuple[str, ...]) -> Mutation:
    def mutate(cfg: dict[str, Any]) -> None:
        target, key = _parent(cfg, path)
        del target[key]

    return mutate


def _edit_setup(fn: Callable[[list[str]], list[str]]) -> Mutation:
    def mutate(cfg: dict[str, Any]) -> None:
        cfg["setup_commands"] = fn(list(cfg["setup_commands"]))

    return mutate


#: name -> (mutation, what the error must say)
RAY_REJECTS: dict[str, tuple[Mutation, str]] = {
    "top-level min_workers": (_set(("min_workers",), 1), "'min_workers' was unexpected"),
    "fractional GPU resource": (
        _set((NT, "WORKER", "resources", "GPU"), 0.5),
        "ray.worker.gpu/resources/GPU: 0.5 is not of type 'integer'",
    ),
    "string CPU resource": (
        _set((NT, "HEAD", "resources", "CPU"), "0"),
        "ray.head.cpu/resources/CPU: '0' is not of type 'integer'",
    ),
    "negative resource": (_set((NT, "WORKER", "resources", "CPU"), -1), "minimum of 0"),
    "docker.gpus": (_set(("docker", "gpus"), "all"), "docker: Additional properties"),
    "docker image missing": (_set(("docker", "image"), ""), "image name"),
    # Ray fills in its default head type, which is not one of ours.
    "missing head_node_type": (_delete(("head_node_type",)), "head_node_type` must be one of"),
    "head_node_type not a node type": (
        _set(("head_node_type",), "ray.head.default"),
        "head_node_type` must be one of",
    ),
    "unknown top-level key": (_set(("gpus_per_worker",), 1), "'gpus_per_worker' was unexpected"),
    "unknown node-type key": (_set((NT, "WORKER", "gpus"), 1), "'gpus' was unexpected"),
    "unknown auth key": (_set(("auth", "password"), "hunter2"), "'password' was unexpected"),
    "node type without resources": (
        _delete((NT, "WORKER", "resources")),
        "'resources' is a required property",
    ),
    "node type without node_config": (
        _delete((NT, "WORKER", "node_config")),
        "'node_config' is a required property",
    ),
    "min_workers above global max_workers": (
        _set((NT, "WORKER", "min_workers"), 9),
        "global `max_workers` is smaller",
    ),
    "max_workers not an integer": (_set(("max_workers",), "8"), "max_workers: '8' is not of type"),
    "missing provider": (_delete(("provider",)), "'provider' is a required property"),
    "command not a string": (
        _set(("setup_commands",), [["pip", "install", "-e", "~/lvae"]]),
        "setup_commands/0:",
    ),
}


@pytest.mark.parametrize(("mutate", "expected"), list(RAY_REJECTS.values()), ids=list(RAY_REJECTS))
def test_ray_validation_rejects_broken_copy(
    config: dict[str, Any], mutate: Mutation, expected: str
) -> None:
    broken = copy.deepcopy(config)
    mutate(broken)
    with pytest.raises(ClusterConfigError, match="^cluster.yaml: ") as excinfo:
        validate_like_ray_up(broken)
    assert expected in str(excinfo.value)


PROJECT_REJECTS: dict[str, tuple[Mutation, str]] = {
    "head CPU unset": (_delete((NT, "HEAD", "resources", "CPU")), "no trial runs"),
    "head offers a CPU": (_set((NT, "HEAD", "resources", "CPU"), 1), "no trial runs"),
    "head offers a GPU": (_set((NT, "HEAD", "resources", "GPU"), 1), "runs no trials"),
    "no GPU worker type": (
        _delete((NT, "WORKER", "resources", "GPU")),
        "GPU >= 1",
    ),
    "worker min above max": (_set((NT, "WORKER", "min_workers"), 9), "min_workers"),
    "worker max above global": (_set((NT, "WORKER", "max_workers"), 16), "1..top"),
    "CPU torch": (
        _edit_setup(lambda c: [re.sub(r"whl/cu\d+", "whl/cpu", x) for x in c]),
        "CUDA PyTorch",
    ),
    "no torch install": (
        _edit_setup(lambda c: [x for x in c if not CUDA_TORCH.search(x)]),
        "CUDA PyTorch",
    ),
    "project before torch": (
        _edit_setup(lambda c: sorted(c, key=lambda x: PROJECT_INSTALL.search(x) is None)),
        "before",
    ),
    "no project install": (
        _edit_setup(lambda c: [x for x in c if not PROJECT_INSTALL.search(x)]),
        "pip install -e ~/lvae",
    ),
    "checkout not synced": (_delete(("file_mounts", "~/lvae")), "file_mounts/~/lvae"),
    "auth disabled in docker env": (
        lambda c: c["docker"]["run_options"].append("--env RAY_AUTH_MODE=disabled"),
        "expected --env RAY_AUTH_MODE=token",
    ),
    "auth disabled in a command": (
        _edit_setup(lambda c: ["export RAY_AUTH_MODE=disabled", *c]),
        "token authentication must stay on",
    ),
    "token not shipped": (_delete(("file_mounts", "~/.ray/auth_token")), "auth_token"),
    "ray-ml image": (
        _set(("docker", "image"), "rayproject/ray-ml:2.60.0-py311-gpu"),
        "docker/image",
    ),
    "other Ray version": (
        _set(("docker", "image"), "rayproject/ray:2.40.0-py311-gpu"),
        "docker/image",
    ),
    "region mismatch": (
        lambda c: c["docker"]["run_options"].append("--env AWS_DEFAULT_REGION=eu-west-1"),
        "AWS_DEFAULT_REGION",
    ),
    "no GPU in worker container": (_set(("docker", "worker_run_options"), []), "--gpus all"),
}


@pytest.mark.parametrize(
    ("mutate", "expected"), list(PROJECT_REJECTS.values()), ids=list(PROJECT_REJECTS)
)
def test_project_rules_reject_broken_copy(
    config: dict[str, Any], raw_text: str, mutate: Mutation, expected: str
) -> None:
    broken = copy.deepcopy(config)
    mutate(broken)
    # The whole-file rules see the original text plus the broken values.
    problems = project_problems(broken, raw_text + yaml.safe_dump(broken))
    assert any(expected in p for p in problems), problems


def test_project_rules_need_storage_documented(config: dict[str, Any], raw_text: str) -> None:
    problems = project_problems(config, raw_text.replace("--storage s3://", "--storage "))
    assert any("--storage s3://" in p for p in problems), problems
