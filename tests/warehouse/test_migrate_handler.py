"""The custom resource handler, with the serverless connection replaced by the test PostgreSQL."""

from __future__ import annotations

import pytest

from risk.migrate import handler
from risk.warehouse.connection import Warehouse, connect_dsn


@pytest.fixture
def on_postgres(monkeypatch: pytest.MonkeyPatch, fresh_database: str) -> list[tuple[str, str]]:
    calls: list[tuple[str, str]] = []

    def connect(workgroup: str, database: str, host: str | None = None) -> Warehouse:
        calls.append((workgroup, database))
        return connect_dsn(fresh_database)

    monkeypatch.setattr(handler, "connect_serverless", connect)
    monkeypatch.setenv("REDSHIFT_WORKGROUP", "risk-dev")
    monkeypatch.setenv("REDSHIFT_DATABASE", "risk")
    return calls


def test_create_applies_every_migration_and_update_applies_none(on_postgres: list[tuple[str, str]]) -> None:
    created = handler.on_event({"RequestType": "Create"})
    assert created["PhysicalResourceId"] == "risk-warehouse-schema-risk-dev-risk"
    assert created["Data"] == {"AppliedNow": "1,2,3,4", "Versions": "1,2,3,4", "LatestVersion": "4"}
    updated = handler.on_event({"RequestType": "Update", "PhysicalResourceId": created["PhysicalResourceId"]})
    assert updated["Data"]["AppliedNow"] == ""
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert on_postgres == [("risk-dev", "risk"), ("risk-dev", "risk")]


def test_delete_leaves_the_warehouse_alone(on_postgres: list[tuple[str, str]]) -> None:
    deleted = handler.on_event({"RequestType": "Delete", "PhysicalResourceId": "risk-warehouse-schema-x"})
    assert deleted == {"PhysicalResourceId": "risk-warehouse-schema-x"}
    assert on_postgres == []
