"""The custom resource handler: the admin secret is read from Secrets Manager (moto) and the
serverless sign-in is replaced by the test PostgreSQL (redshift-connector through the proxy)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from risk.migrate import handler
from risk.warehouse.connection import Warehouse, connect_dsn, connect_serverless
from tests.conftest import SCHEMA_DIR


@pytest.fixture
def on_postgres(monkeypatch: pytest.MonkeyPatch, fresh_database: str) -> Iterator[list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []

    def connect(workgroup: str, database: str, host: str | None = None, **credentials: Any) -> Warehouse:
        calls.append({"workgroup": workgroup, "database": database, "host": host, **credentials})
        return connect_dsn(fresh_database)

    with mock_aws():
        monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        secret = boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
            Name="redshift!risk-dev-admin",
            SecretString=orjson.dumps({"username": "riskadmin", "password": "s3cret-from-redshift"}).decode(),
        )
        monkeypatch.setattr(handler, "connect_serverless", connect)
        monkeypatch.setenv("REDSHIFT_WORKGROUP", "risk-dev")
        monkeypatch.setenv("REDSHIFT_DATABASE", "risk")
        monkeypatch.setenv("REDSHIFT_HOST", "risk-dev.123456789012.eu-west-1.redshift-serverless.amazonaws.com")
        monkeypatch.setenv("REDSHIFT_ADMIN_SECRET_ARN", secret["ARN"])
        yield calls


def test_create_applies_every_migration_as_the_schema_owner_and_update_applies_none(
    on_postgres: list[dict[str, Any]],
) -> None:
    created = handler.on_event({"RequestType": "Create"})
    assert created["PhysicalResourceId"] == "risk-warehouse-schema-risk-dev-risk"
    versions = sorted(int(p.name[1:].split("__")[0]) for p in SCHEMA_DIR.glob("V*.sql"))  # every file
    assert versions[:9] == [1, 2, 3, 4, 5, 6, 7, 8, 9] and {10, 16, 20, 21} <= set(versions)
    listed = ",".join(map(str, versions))
    assert created["Data"] == {"AppliedNow": listed, "Versions": listed, "LatestVersion": str(versions[-1])}
    updated = handler.on_event({"RequestType": "Update", "PhysicalResourceId": created["PhysicalResourceId"]})
    assert updated["Data"]["AppliedNow"] == ""
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    expected = {
        "workgroup": "risk-dev",
        "database": "risk",
        "host": "risk-dev.123456789012.eu-west-1.redshift-serverless.amazonaws.com",
        "user": "riskadmin",
        "password": "s3cret-from-redshift",
    }
    assert on_postgres == [expected, expected]


def test_delete_leaves_the_warehouse_alone(on_postgres: list[dict[str, Any]]) -> None:
    deleted = handler.on_event({"RequestType": "Delete", "PhysicalResourceId": "risk-warehouse-schema-x"})
    assert deleted == {"PhysicalResourceId": "risk-warehouse-schema-x"}
    assert on_postgres == []


def test_password_sign_in_needs_host_and_user() -> None:
    with pytest.raises(ValueError, match="needs the workgroup host"):
        connect_serverless("risk-dev", "risk", user="riskadmin", password="x")
