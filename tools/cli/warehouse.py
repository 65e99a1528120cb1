"""``riskctl warehouse``: a local PostgreSQL behind the startup-filtering proxy, until Ctrl-C.

It prints the DSN of an empty database that ``make demo ARGS="--dsn ..."`` (and anything else that
uses ``risk.warehouse.connection.connect_dsn``) accepts, so several demo runs can share one
warehouse and the rows can be inspected between them. Stopping removes the server's data directory.
"""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Callable
from types import FrameType
from typing import TextIO


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def serve(database: str, out: TextIO, wait: Callable[[], None] | None = None) -> int:
    """Start the server, print its DSN, wait (for Ctrl-C or SIGTERM), then stop and clean up."""
    from tools.pg.local import LocalPostgres  # noqa: PLC0415 (pgserver or the system binaries: slow to import)

    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    with LocalPostgres.start() as server:
        dsn = server.create_database(database)
        data = getattr(server.server, "directory", None)  # None with WAREHOUSE_TEST_DSN: nothing started
        out.write(
            f"warehouse: PostgreSQL behind the tools/pg proxy, database {database}\n"
            f"DSN: {dsn}\n"
            f'use it: make demo ARGS="--dsn {dsn}"\n'
            f"Ctrl-C stops it{f' and removes its data ({data})' if data else ''}\n"
        )
        out.flush()
        with contextlib.suppress(KeyboardInterrupt):
            (wait or _forever)()
    out.write("warehouse stopped\n")
    return 0


def _forever() -> None:
    while True:
        time.sleep(3600)
