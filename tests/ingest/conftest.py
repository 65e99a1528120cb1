"""Fixtures of the ingestion-path tests: moto (in process) with the pipeline's resources provisioned."""

from __future__ import annotations

import pytest

from stacks.config import EnvironmentConfig
from tools.local.provision import LocalResources, provision


@pytest.fixture
def resources(aws: None, cfg: EnvironmentConfig) -> LocalResources:
    return provision(cfg, shard_count=4)
