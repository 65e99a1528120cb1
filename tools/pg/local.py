"""A local PostgreSQL that redshift-connector can use: a server (``tools.pg.server``) behind the proxy.

Test and local infrastructure only. ``dsn(database)`` is what ``risk.warehouse.connection.connect_dsn``
takes; ``stop()``/``restart()`` let a drill take the warehouse away mid-run and bring it back.
"""

from __future__ import annotations

import re
from pathlib import Path

import redshift_connector

from tools.pg.proxy import StartupFilterProxy
from tools.pg.server import ExternalServer, PgServer, start_server

_DATABASE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class LocalPostgres:
    def __init__(self, server: PgServer) -> None:
        self.server = server
        self.proxy = StartupFilterProxy(server.upstream)

    @classmethod
    def start(cls, workdir: Path | None = None) -> LocalPostgres:
        local = cls(start_server(workdir))
        if not isinstance(local.server, ExternalServer):
            local.behave_like_redshift()
        return local

    def behave_like_redshift(self) -> None:
        """Snapshot isolation for every session (Redshift Serverless's default), psql's included.

        ``connect_dsn`` sets it per session as well, so a server given by ``WAREHOUSE_TEST_DSN``
        behaves the same for the project's own code.
        """
        self._admin("ALTER SYSTEM SET default_transaction_isolation = 'repeatable read'")
        self._admin("SELECT pg_reload_conf()")

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.server.user}:{self.server.password}@{self.proxy.host}:{self.proxy.port}/{database}"

    def _admin(self, statement: str) -> None:
        connection = redshift_connector.connect(
            host=self.proxy.host,
            port=self.proxy.port,
            user=self.server.user,
            password=self.server.password,
            database="postgres",
            ssl=False,
        )
        try:
            connection.autocommit = True
            cursor = connection.cursor()
            cursor.execute(statement)
            cursor.close()
        finally:
            connection.close()

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create a database (empty, or a copy of ``template``, which must have no sessions); return its DSN."""
        for database in (name, template or name):
            if not _DATABASE_NAME.match(database):
                raise ValueError(f"not a plain database name: {database!r}")
        self._admin(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
        return self.dsn(name)

    def drop_database(self, name: str) -> None:
        if not _DATABASE_NAME.match(name):
            raise ValueError(f"not a plain database name: {name!r}")
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        self.server.stop()

    def restart(self) -> None:
        self.server.restart()

    def close(self) -> None:
        self.proxy.close()
        self.server.close()

    def __enter__(self) -> LocalPostgres:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
