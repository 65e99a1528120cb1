"""Fixtures of the local-run tests: moto (in process) with the pipeline's resources provisioned."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from stacks.config import EnvironmentConfig, load_environment
from tools.local.provision import LocalResources, provision


@pytest.fixture
def cfg() -> EnvironmentConfig:
    return load_environment("dev")


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def resources(aws: None, cfg: EnvironmentConfig) -> LocalResources:
    return provision(cfg, shard_count=2)
