"""The one DB-API path to the warehouse: the loader, the migration runner, the tests and the tools.

SQL is written in Redshift's dialect. On Redshift it runs as written; on the PostgreSQL stand-in
it is rendered by :mod:`risk.warehouse.dialect` (cached per statement text; ``%s`` placeholders
survive). Both go through redshift-connector, so the tests exercise the driver the Lambda uses
(locally through the startup-filtering proxy in ``tools/pg``).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from risk.common import aws
from risk.warehouse.dialect import DIALECTS, POSTGRES, REDSHIFT, Dialect, render_postgres

Params = Sequence[Any] | None


class Cursor(Protocol):
    rowcount: int

    def execute(self, operation: str, args: Any = None) -> Any: ...
    def executemany(self, operation: str, param_sets: Any) -> Any: ...
    def fetchall(self) -> Any: ...
    def fetchone(self) -> Any: ...
    def close(self) -> None: ...


class Connection(Protocol):
    def cursor(self) -> Any: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


DRIVER_STATEMENT_CACHE_LIMIT = 64
DEFAULT_STATEMENT_TIMEOUT_S = 60
SOCKET_TIMEOUT_MARGIN_S = 5  # the driver's socket timeout: a server that stops answering fails after this much more


# SQLSTATE classes of errors caused by the statement's data (22 data exception, 23 integrity
# constraint, 54 program limit): splitting the batch isolates the row; retrying it whole cannot help.
DATA_ERROR_CLASSES = ("22", "23", "54")


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a server error as redshift-connector raises it (``args[0]`` is the error fields)."""
    fields = exc.args[0] if exc.args else None
    code = fields.get("C") if isinstance(fields, dict) else None
    return code if isinstance(code, str) else None


def is_data_error(exc: BaseException) -> bool:
    """The server refused this batch's data (not the connection, not a conflict, not a timeout).

    Redshift reports a COPY that rejected rows as XX000 "Load into table ... failed".
    """
    code = sqlstate(exc)
    if code is None:
        return False
    if code[:2] in DATA_ERROR_CLASSES:
        return True
    message = exc.args[0].get("M", "") if isinstance(exc.args[0], dict) else ""
    return code == "XX000" and str(message).startswith("Load into table")


def _driver() -> ModuleType:
    """redshift-connector, imported at the first connection, not at the load function's cold start
    (with asn1crypto and scramp it is the heaviest import of the load handler)."""
    import redshift_connector  # noqa: PLC0415

    return redshift_connector


def is_connection_error(exc: BaseException) -> bool:
    """The session itself failed (socket, timeout, server gone): nothing more can run on it."""
    driver = sys.modules.get("redshift_connector")  # not imported: no connection was ever made
    if driver is None:
        return isinstance(exc, OSError)
    return isinstance(exc, driver.InterfaceError | driver.OperationalError | OSError)


def _session_setup(connection: Any, statement_timeout_s: int, *statements: str) -> None:
    """Per-session settings, committed before any work: a statement timeout below the function's."""
    cursor = connection.cursor()
    try:
        cursor.execute(f"SET statement_timeout TO {int(statement_timeout_s) * 1000}")
        for statement in statements:
            cursor.execute(statement)
    finally:
        cursor.close()
    connection.commit()


class Warehouse:
    """A DB-API connection plus the dialect its SQL is rendered for.

    Not thread-safe (a DB-API connection is not): one per Lambda container, one per thread in tests.
    """

    def __init__(self, connection: Connection, dialect: Dialect) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown dialect {dialect!r}; expected one of {DIALECTS}")
        self.connection = connection
        self.dialect = dialect
        self._prepared: set[str] = set()  # the stand-in's idempotent prerequisites already run here

    def render(self, sql: str) -> str | None:
        """What actually runs for ``sql``; None when the statement has no form on this engine.

        On the stand-in, the rendering's prerequisites (the byte-counting VARCHAR domains) run first,
        once per connection.
        """
        if self.dialect == REDSHIFT:
            return sql
        rendered = render_postgres(sql)
        for statement in rendered.before:
            if statement not in self._prepared:
                self._run(statement, None)
                self._prepared.add(statement)
        return rendered.sql

    def _run(self, text: str, params: Params) -> int:
        cursor = self.connection.cursor()
        try:
            cursor.execute(text, params)
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def execute(self, sql: str, params: Params = None) -> int:
        """Run one statement; returns the affected row count (-1 if unknown or skipped)."""
        text = self.render(sql)
        if text is None:
            return -1
        count = self._run(text, params)
        if self.dialect == POSTGRES:
            for statement in render_postgres(sql).after:
                self._run(statement, None)
        return count

    def execute_as_written(self, sql: str, params: Params = None) -> int:
        """Run a statement that is already in this engine's dialect (no rendering); returns the row count."""
        return self._run(sql, params)

    def executemany(self, sql: str, param_sets: Sequence[Sequence[Any]]) -> None:
        text = self.render(sql)
        if text is None:
            return
        cursor = self.connection.cursor()
        try:
            cursor.executemany(text, param_sets)
        finally:
            cursor.close()

    def fetchall(self, sql: str, params: Params = None) -> list[tuple[Any, ...]]:
        text = self.render(sql)
        if text is None:
            return []
        cursor = self.connection.cursor()
        try:
            cursor.execute(text, params)
            rows = cursor.fetchall() or []
            return [tuple(row) for row in rows]
        finally:
            cursor.close()

    def fetchone(self, sql: str, params: Params = None) -> tuple[Any, ...] | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: Params = None) -> Any:
        row = self.fetchone(sql, params)
        return None if row is None else row[0]

    def commit(self) -> None:
        self.connection.commit()
        self._bound_driver_cache()

    def rollback(self) -> None:
        self._prepared.clear()  # a rolled-back transaction may have taken a prerequisite with it
        self.connection.rollback()
        self._bound_driver_cache()

    def _bound_driver_cache(self) -> None:
        """Keep redshift-connector's per-statement-text cache bounded in a long-lived container.

        The driver caches its paramstyle conversion of every distinct statement text, forever
        (its prepared statements are LRU-bounded, this cache is not). The loader's multi-row
        INSERTs are distinct texts of ~200 kB, so a warm load function would grow without limit.
        Private API, guarded: if the driver changes shape, nothing happens.
        """
        caches = getattr(self.connection, "_caches", None)
        if not isinstance(caches, dict):
            return
        for by_pid in caches.values():
            for cache in by_pid.values() if isinstance(by_pid, dict) else ():
                statements = cache.get("statement") if isinstance(cache, dict) else None
                if isinstance(statements, dict) and len(statements) > DRIVER_STATEMENT_CACHE_LIMIT:
                    statements.clear()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Warehouse]:
        """Commit when the block succeeds, roll back when it raises (the driver opens transactions itself)."""
        try:
            yield self
        except BaseException:
            with contextlib.suppress(Exception):
                self.rollback()
            raise
        self.commit()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.connection.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


REDSHIFT_PORT = 5439
CREDENTIALS_DURATION_S = 3600  # the longest GetCredentials grants; a warm container reconnects after failures


def serverless_credentials(client: Any, workgroup: str, database: str) -> tuple[str, str]:
    """Temporary database credentials for the caller's IAM identity (its RedshiftDbRoles tag maps its roles)."""
    answer = client.get_credentials(workgroupName=workgroup, dbName=database, durationSeconds=CREDENTIALS_DURATION_S)
    return str(answer["dbUser"]), str(answer["dbPassword"])


def workgroup_host(client: Any, workgroup: str) -> str:
    """The workgroup's endpoint address, when the environment does not give it."""
    return str(client.get_workgroup(workgroupName=workgroup)["workgroup"]["endpoint"]["address"])


def connect_serverless(
    workgroup: str,
    database: str,
    host: str | None = None,
    *,
    user: str | None = None,
    password: str | None = None,
    statement_timeout_s: int = DEFAULT_STATEMENT_TIMEOUT_S,
) -> Warehouse:
    """Redshift Serverless: by default the function's role signs in through GetCredentials, no password.

    ``host`` is the workgroup endpoint (or a VPC endpoint); without it, it is looked up
    (GetWorkgroup). ``user``/``password`` are for the schema owner only (the migration function,
    which must CREATE ROLE and masking policies that an IAM identity may not). Create once per
    container. Every statement is limited to ``statement_timeout_s`` on the server, and the socket
    gives up a few seconds later, so a hung warehouse fails the batch before the function times out.
    The IAM sign-in calls GetCredentials itself, through :mod:`risk.common.aws`, rather than letting
    the driver build a boto3 client with botocore's unbounded defaults.
    """
    if password is None:
        serverless = aws.client("redshift-serverless")
        user, password = serverless_credentials(serverless, workgroup, database)
        host = host or workgroup_host(serverless, workgroup)
    if not (host and user):
        raise ValueError("password sign-in needs the workgroup host and a user")
    options: dict[str, Any] = {
        "host": host,
        "port": REDSHIFT_PORT,
        "database": database,
        "user": user,
        "password": password,
        "ssl": True,
        "timeout": statement_timeout_s + SOCKET_TIMEOUT_MARGIN_S,
    }
    connection = _driver().connect(**options)
    _session_setup(connection, statement_timeout_s)
    return Warehouse(connection, REDSHIFT)


def connect_dsn(dsn: str, *, statement_timeout_s: int = DEFAULT_STATEMENT_TIMEOUT_S) -> Warehouse:
    """PostgreSQL for local runs and tests: ``postgresql://user:password@host:port/database``.

    The endpoint must accept redshift-connector's startup (the ``tools.pg`` proxy does). The
    session is set up as Redshift Serverless runs: UTC (so TIMESTAMP columns and GETDATE() agree)
    and snapshot isolation (``REPEATABLE READ`` is PostgreSQL's snapshot isolation; Redshift
    Serverless workgroups default to SNAPSHOT), with the same statement timeout.
    """
    parts = urlsplit(dsn)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(f"not a postgresql:// DSN: {dsn!r}")
    connection = _driver().connect(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        database=(parts.path or "/").lstrip("/") or "postgres",
        ssl=False,
        timeout=statement_timeout_s + SOCKET_TIMEOUT_MARGIN_S,
    )
    # PostgreSQL syntax on purpose: session settings of the stand-in, not Redshift SQL, not rendered.
    _session_setup(
        connection,
        statement_timeout_s,
        "SET TIME ZONE 'UTC'",
        "SET default_transaction_isolation TO 'repeatable read'",
    )
    return Warehouse(connection, POSTGRES)
