"""The local PostgreSQL harness: redshift-connector through the proxy, on the session server."""

from __future__ import annotations

import pytest
import redshift_connector

from risk.warehouse.connection import Warehouse, connect_dsn
from tools.pg.local import LocalPostgres
from tools.pg.proxy import filter_startup, plain_server_version


def test_redshift_connector_runs_queries_with_parameters_through_the_proxy(fresh_database: str) -> None:
    with connect_dsn(fresh_database) as warehouse:
        assert warehouse.dialect == "postgres"
        assert warehouse.fetchall("SELECT %s + 1, %s", (41, "x")) == [(42, "x")]
        assert warehouse.scalar("SHOW TIME ZONE") == "UTC"


def test_startup_filter_keeps_known_parameters_and_drops_the_rest() -> None:
    body = b"\x00\x03\x00\x00" + b"user\x00postgres\x00client_protocol_version\x002\x00database\x00db\x00\x00"
    filtered, dropped = filter_startup(body)
    assert filtered == b"\x00\x03\x00\x00user\x00postgres\x00database\x00db\x00\x00"
    assert dropped == ["client_protocol_version"]


def test_server_version_is_reduced_to_a_plain_version() -> None:
    debian = b"server_version\x0015.8 (Debian 15.8-1.pgdg120+1)\x00"
    assert plain_server_version(debian) == b"server_version\x0015.8\x00"
    other = b"TimeZone\x00Etc/UTC\x00"
    assert plain_server_version(other) == other


def test_a_stopped_server_fails_connections_and_a_restart_brings_it_back(
    pg_server: LocalPostgres, fresh_database: str
) -> None:
    with connect_dsn(fresh_database) as warehouse:
        warehouse.execute("CREATE TABLE kept (n INTEGER)")
        warehouse.execute("INSERT INTO kept VALUES (%s)", (7,))
        warehouse.commit()
    pg_server.stop()
    try:
        with pytest.raises(redshift_connector.InterfaceError):
            connect_dsn(fresh_database)
    finally:
        pg_server.restart()
    with connect_dsn(fresh_database) as warehouse:
        assert isinstance(warehouse, Warehouse)
        assert warehouse.fetchall("SELECT n FROM kept") == [(7,)]
