"""``cluster.yaml`` checked the way ``ray up`` checks it, offline, plus this project's rules;
shared by tests/sweeps/test_cluster_yaml.py (the real file) and
tests/sweeps/test_cluster_yaml_broken.py (every check failing on a broken copy).

``ray up`` has no dry run, and its AWS bootstrap needs credentials and the network. What
it rejects before touching AWS comes from the JSON schema shipped inside Ray and from
Ray's own ``prepare_config`` / ``validate_config``: :func:`validate_like_ray_up` runs both,
on real Ray code. The raw file also goes through the schema, because ``prepare_config``
silently drops some mistakes (a top-level ``min_workers``) that the schema rejects.
:func:`project_problems` adds this project's rules (no trials on the head, CUDA PyTorch,
token authentication on, shared storage).
"""

from __future__ import annotations

import copy
import functools
import json
import re
import shlex
from pathlib import Path
from typing import Any

import jsonschema
import ray
import ray.autoscaler
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from helpers.paths import REPO

CLUSTER_YAML = REPO / "cluster.yaml"
RAY_SCHEMA = Path(ray.autoscaler.__file__).parent / "ray-schema.json"
NT = "available_node_types"

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


# --------------------------------------------------------------------------- project rules


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


def first_match(pattern: re.Pattern[str], commands: list[str]) -> int | None:
    return next((i for i, cmd in enumerate(commands) if pattern.search(cmd)), None)


def head_problems(config: dict[str, Any]) -> list[str]:
    """The head node type offers no CPU (so no trial runs there) and no GPU."""
    problems: list[str] = []
    head_name = config.get("head_node_type")
    head_res = config.get(NT, {}).get(head_name, {}).get("resources", {})
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
    return problems


def _gpu_type_problems(config: dict[str, Any], name: str, node_type: dict[str, Any]) -> list[str]:
    """One GPU worker type: CPUs for the trials and sane autoscaling bounds."""
    problems: list[str] = []
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
    return problems


def gpu_worker_problems(config: dict[str, Any]) -> list[str]:
    """At least one worker node type with a whole GPU, each one well bounded."""
    head_name = config.get("head_node_type")
    gpu_types = {
        name: t
        for name, t in config.get(NT, {}).items()
        if name != head_name and t.get("resources", {}).get("GPU", 0) >= 1
    }
    if not gpu_types:
        return ["available_node_types: needs a worker node type with resources GPU >= 1"]
    return [p for name, t in gpu_types.items() for p in _gpu_type_problems(config, name, t)]


def setup_problems(config: dict[str, Any], text: str) -> list[str]:
    """CUDA PyTorch, then the synced checkout, installed on every node; no CPU build."""
    problems: list[str] = []
    setup = list(config.get("setup_commands", []))
    torch_at = first_match(CUDA_TORCH, setup)
    project_at = first_match(PROJECT_INSTALL, setup)
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
    if config.get("file_mounts", {}).get("~/lvae") not in (".", "./"):
        problems.append("file_mounts/~/lvae: must sync the checkout ('.') that setup installs")
    return problems


def auth_problems(config: dict[str, Any], text: str) -> list[str]:
    """Token authentication on every node, nowhere disabled, the token shipped."""
    problems: list[str] = []
    env = _docker_env(config.get("docker", {}).get("run_options", []))
    if AUTH_DISABLED.search(text):
        problems.append("cluster.yaml: token authentication must stay on (RAY_AUTH_MODE=disabled)")
    if env.get("RAY_AUTH_MODE") != "token":
        problems.append("docker/run_options: expected --env RAY_AUTH_MODE=token on every node")
    if config.get("file_mounts", {}).get("~/.ray/auth_token") != "~/.ray/auth_token":
        problems.append("file_mounts: must ship ~/.ray/auth_token to ~/.ray/auth_token")
    return problems


def docker_env_problems(config: dict[str, Any]) -> list[str]:
    """The data root on every node, and no AWS region other than the provider's."""
    problems: list[str] = []
    env = _docker_env(config.get("docker", {}).get("run_options", []))
    if "LVAE_DATA" not in env:
        problems.append("docker/run_options: expected --env LVAE_DATA=<data root on every node>")
    region = config.get("provider", {}).get("region")
    if env.get("AWS_DEFAULT_REGION", region) != region:
        problems.append(
            f"docker/run_options: AWS_DEFAULT_REGION={env['AWS_DEFAULT_REGION']} "
            f"but provider/region is {region}"
        )
    return problems


def docker_image_problems(config: dict[str, Any]) -> list[str]:
    """The Ray GPU image of the Ray this project is tested with, GPUs in the workers."""
    problems: list[str] = []
    docker = config.get("docker", {})
    image = docker.get("image", "")
    if not re.fullmatch(rf"rayproject/ray:{re.escape(ray.__version__)}-py3\d+-gpu", image):
        problems.append(
            f"docker/image: expected rayproject/ray:{ray.__version__}-py3XX-gpu "
            f"(the Ray this project is tested with), got {image!r}"
        )
    gpu_options = [*docker.get("run_options", []), *docker.get("worker_run_options", [])]
    if "--gpus all" not in gpu_options:
        problems.append("docker/worker_run_options: expected '--gpus all' for the GPU workers")
    return problems


def storage_problems(text: str) -> list[str]:
    if "--storage s3://" not in text:
        return ["cluster.yaml: must document --storage s3://... (shared storage)"]
    return []


def project_problems(config: dict[str, Any], text: str) -> list[str]:
    """This project's rules for cluster.yaml; [] when all hold.

    ``text`` is the whole file (comments included) for the rules about what may or must
    appear anywhere in it.
    """
    return [
        *head_problems(config),
        *gpu_worker_problems(config),
        *setup_problems(config, text),
        *auth_problems(config, text),
        *docker_env_problems(config),
        *docker_image_problems(config),
        *storage_problems(text),
    ]


# --------------------------------------------------------------------------- node types


def head_type(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg[NT][cfg["head_node_type"]]


def gpu_worker_name(cfg: dict[str, Any]) -> str:
    names = [
        n
        for n, t in cfg[NT].items()
        if n != cfg["head_node_type"] and t["resources"].get("GPU", 0) >= 1
    ]
    assert len(names) == 1, names
    return names[0]


def worker_type(cfg: dict[str, Any]) -> dict[str, Any]:
    return cfg[NT][gpu_worker_name(cfg)]
