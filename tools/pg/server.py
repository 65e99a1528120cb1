"""A throwaway PostgreSQL for the tests and the local demo (never used in AWS).

Three sources, in order:

1. ``WAREHOUSE_TEST_DSN`` (``postgresql://user:password@host:port/database``): an existing server;
   nothing is started, and stop/restart are not available.
2. pgserver (PyPI): PostgreSQL 16 shipped in a wheel, listening on a unix socket only.
3. The system binaries (``initdb``/``pg_ctl`` of PostgreSQL 15 under ``/usr/lib/postgresql``), run
   as the ``postgres`` user when we are root (PostgreSQL refuses to run as root).

Every server has ``stop()`` and ``restart()`` (the failure drills stop the warehouse mid-run) and
``close()``. The authentication is ``trust``: it listens only on a private socket directory.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from tools.pg.proxy import Upstream

TEST_DSN = "WAREHOUSE_TEST_DSN"
SYSTEM_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SUPERUSER = "postgres"


@dataclass(frozen=True)
class Dsn:
    """The parts of a ``postgresql://`` URL the driver needs."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def parse(cls, dsn: str) -> Dsn:
        parts = urlsplit(dsn)
        if parts.scheme not in ("postgresql", "postgres", "redshift"):
            raise ValueError(f"not a postgresql:// DSN: {dsn!r}")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or SUPERUSER),
            password=unquote(parts.password or ""),
            database=(parts.path or "/").lstrip("/") or "postgres",
        )

    def with_database(self, database: str) -> Dsn:
        return Dsn(self.host, self.port, self.user, self.password, database)

    def url(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"


class PgServer(Protocol):
    """What the harness needs from a server, wherever it comes from."""

    upstream: Upstream
    user: str
    password: str

    def stop(self) -> None: ...
    def restart(self) -> None: ...
    def close(self) -> None: ...


class ExternalServer:
    """A server someone else runs (``WAREHOUSE_TEST_DSN``); we only connect to it."""

    def __init__(self, dsn: str) -> None:
        parsed = Dsn.parse(dsn)
        self.upstream = Upstream(host=parsed.host, port=parsed.port)
        self.user = parsed.user
        self.password = parsed.password

    def stop(self) -> None:
        raise RuntimeError(f"cannot stop a server given by {TEST_DSN}")

    def restart(self) -> None:
        raise RuntimeError(f"cannot restart a server given by {TEST_DSN}")

    def close(self) -> None:
        """Nothing to do: the server is not ours."""


class PgserverServer:
    """PostgreSQL 16 from the pgserver wheel, in a private data directory, on a unix socket."""

    def __init__(self, pgdata: Path) -> None:
        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; /tmp is fine here
            warnings.simplefilter("ignore")
            import pgserver  # noqa: PLC0415 (optional: the system binaries are the fallback)

        self._server = pgserver.get_server(pgdata, cleanup_mode="stop")
        self.user = SUPERUSER
        self.password = ""
        info = self._server.get_postmaster_info()
        self.upstream = Upstream(unix_socket=str(Path(info.socket_dir) / f".s.PGSQL.{info.port}"))

    def stop(self) -> None:
        from pgserver import _commands  # noqa: PLC0415 (optional, see above)

        pg_ctl = _commands.pg_ctl  # type: ignore[attr-defined]  # generated at import time
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def restart(self) -> None:
        # Starts again on the same data directory and socket directory, so the socket path is unchanged.
        self._server.ensure_postgres_running()

    def close(self) -> None:
        self._server.cleanup()


class SystemServer:
    """The distribution's PostgreSQL binaries, initialised in ``pgdata``, listening on a unix socket."""

    def __init__(self, pgdata: Path, bindir: Path) -> None:
        self._pgdata = pgdata
        self._bin = bindir
        self._socket_dir = pgdata / "socket"
        self._run_as = "postgres" if os.geteuid() == 0 else None
        self.user = SUPERUSER
        self.password = ""
        self.upstream = Upstream(unix_socket=str(self._socket_dir / ".s.PGSQL.5432"))
        pgdata.mkdir(parents=True, exist_ok=True)
        self._socket_dir.mkdir(exist_ok=True)
        if self._run_as:
            entry = pwd.getpwnam(self._run_as)
            for path in (pgdata, self._socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(pgdata / "data"), "-U", SUPERUSER, "--auth=trust", "--encoding=utf8")
        self.restart()

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self._bin / tool), *args]
        if self._run_as:
            command = ["runuser", "-u", self._run_as, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self._pgdata / "data"), "-w", "-m", "fast", "stop")

    def restart(self) -> None:
        options = f"-h '' -k {self._socket_dir}"
        log = str(self._pgdata / "postgres.log")
        self._run("pg_ctl", "-D", str(self._pgdata / "data"), "-w", "-o", options, "-l", log, "start")

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()


def _system_bindir() -> Path | None:
    candidates = sorted(glob.glob(SYSTEM_BIN_GLOB), key=lambda p: int(Path(p).parent.name), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    return None


class RemovesItsDirectory:
    """A server in a directory ``start_server`` made for it: ``close()`` also removes the directory.

    Without it every test session and demo left 60-76 MB of data directory in the temp folder.
    Everything else is the wrapped server's (attributes are forwarded).
    """

    def __init__(self, server: PgServer, directory: Path) -> None:
        self.server = server
        self.directory = directory

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)

    def close(self) -> None:
        try:
            self.server.close()
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)


def start_server(workdir: Path | None = None) -> PgServer:
    """Start (or attach to) a PostgreSQL server; see the module docstring for the order.

    Without ``workdir`` the server gets a new temporary directory, removed again by ``close()``.
    """
    if dsn := os.environ.get(TEST_DSN):
        return ExternalServer(dsn)
    if workdir is None or (os.geteuid() == 0 and not _searchable_by_others(Path(workdir).parent)):
        # A directory of our own, removed again by close(). Also instead of e.g. pytest's tmp_path,
        # under a 0700 directory: as root, the server's unprivileged user could not reach it.
        directory = Path(tempfile.mkdtemp(prefix="risk-pg-"))
        try:
            return RemovesItsDirectory(start_server(directory), directory)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
    base = Path(workdir)
    # The server runs as an unprivileged user when we are root: it must be able to reach its directory.
    base.chmod(0o755)
    try:
        return PgserverServer(base / "pgdata")
    except ImportError:
        pass
    bindir = _system_bindir()
    if bindir is None:
        raise RuntimeError(f"no PostgreSQL: install pgserver, or the server binaries, or set {TEST_DSN}")
    shutil.rmtree(base / "pgdata", ignore_errors=True)
    return SystemServer(base / "system", bindir)


def _searchable_by_others(path: Path) -> bool:
    """Whether an unprivileged user can reach ``path`` (every directory on the way is o+x)."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))
