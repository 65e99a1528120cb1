"""Shared fixtures: one throwaway PostgreSQL per session, a migrated database per test.

The server is ``tools.pg`` (pgserver's PostgreSQL 16, the system binaries, or ``WAREHOUSE_TEST_DSN``)
behind the proxy that lets redshift-connector, the driver the Lambda functions use, talk to it.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto import mock_aws

from risk.warehouse.connection import Warehouse, connect_dsn
from risk.warehouse.migrations import migrate
from stacks.config import EnvironmentConfig, load_environment
from tools.pg.local import LocalPostgres

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = REPO_ROOT / "redshift_schema"
_database_numbers = itertools.count()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto for every AWS service, with dummy credentials (areas may override with richer fixtures)."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SECURITY_TOKEN", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def cfg() -> EnvironmentConfig:
    """The dev environment of cdk.json: the config the stacks and the local runner share."""
    return load_environment("dev")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[LocalPostgres]:
    """The session's PostgreSQL, started once (stop()/restart() are there for failure drills).

    Its data directory is its own ``mkdtemp``, not pytest's basetemp: pytest prunes old
    basetemps while other sessions may still be running a server there.
    """
    local = LocalPostgres.start()
    yield local
    local.close()


@pytest.fixture
def fresh_database(pg_server: LocalPostgres) -> Iterator[str]:
    """A new, empty database for this test: its DSN. Dropped afterwards."""
    name = f"t{os.getpid()}_{next(_database_numbers)}"
    dsn = pg_server.create_database(name)
    yield dsn
    pg_server.drop_database(name)


@pytest.fixture(scope="session")
def migrated_template(pg_server: LocalPostgres) -> str:
    """A database migrated once per session; each test gets a copy (CREATE DATABASE ... TEMPLATE)."""
    name = f"migrated_{os.getpid()}"
    with connect_dsn(pg_server.create_database(name)) as warehouse:
        migrate(warehouse, SCHEMA_DIR)
    return name


@pytest.fixture
def pg_dsn(pg_server: LocalPostgres, migrated_template: str) -> Iterator[str]:
    """The DSN of this test's own database, migrated to the latest schema. Dropped afterwards."""
    name = f"t{os.getpid()}_{next(_database_numbers)}"
    dsn = pg_server.create_database(name, template=migrated_template)
    yield dsn
    pg_server.drop_database(name)


@pytest.fixture
def warehouse(pg_dsn: str) -> Iterator[Warehouse]:
    """A ``Warehouse`` (dialect postgres) on this test's freshly migrated database."""
    with connect_dsn(pg_dsn) as connected:
        yield connected
