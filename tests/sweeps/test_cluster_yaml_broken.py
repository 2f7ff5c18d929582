"""Every check of ``cluster.yaml`` (tests/helpers/cluster_config.py: Ray's schema and
config checks, this project's rules) shown to fail on a broken copy of the real file."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from helpers.cluster_config import (
    CUDA_TORCH,
    NT,
    PROJECT_INSTALL,
    ClusterConfigError,
    gpu_worker_name,
    project_problems,
    validate_like_ray_up,
)

Mutation = Callable[[dict[str, Any]], None]


def _parent(cfg: dict[str, Any], path: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    """The mapping holding ``path``'s last key; 'HEAD'/'WORKER' name the node types."""
    names = {"HEAD": cfg["head_node_type"], "WORKER": gpu_worker_name(cfg)}
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
    cluster_yaml: dict[str, Any], mutate: Mutation, expected: str
) -> None:
    broken = copy.deepcopy(cluster_yaml)
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
    cluster_yaml: dict[str, Any], cluster_yaml_text: str, mutate: Mutation, expected: str
) -> None:
    broken = copy.deepcopy(cluster_yaml)
    mutate(broken)
    # The whole-file rules see the original text plus the broken values.
    problems = project_problems(broken, cluster_yaml_text + yaml.safe_dump(broken))
    assert any(expected in p for p in problems), problems


def test_project_rules_need_storage_documented(
    cluster_yaml: dict[str, Any], cluster_yaml_text: str
) -> None:
    text = cluster_yaml_text.replace("--storage s3://", "--storage ")
    problems = project_problems(cluster_yaml, text)
    assert any("--storage s3://" in p for p in problems), problems
