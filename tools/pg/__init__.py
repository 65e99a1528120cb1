"""Embedded PostgreSQL for the tests and the local demo: a server, and a proxy redshift-connector can use."""

from tools.pg.local import LocalPostgres
from tools.pg.proxy import StartupFilterProxy, Upstream
from tools.pg.server import start_server

__all__ = ["LocalPostgres", "StartupFilterProxy", "Upstream", "start_server"]
