"""The real ``cluster.yaml``, parsed and as text, for tests/sweeps/test_cluster_yaml*.py."""

from __future__ import annotations

from typing import Any

import pytest
from helpers.cluster_config import CLUSTER_YAML, load_cluster_config


@pytest.fixture(scope="module")
def cluster_yaml_text() -> str:
    return CLUSTER_YAML.read_text()


@pytest.fixture(scope="module")
def cluster_yaml() -> dict[str, Any]:
    return load_cluster_config(CLUSTER_YAML)
