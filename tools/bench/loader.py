"""Loader: rows/s merged by ``load_batch`` against executemany of single-row INSERTs, and statements sent.

Both sides run on the same migrated database of the embedded PostgreSQL (through the proxy, with
redshift-connector, as the tests do), in one transaction per batch, on an emptied table. The statement
count comes from a wrapper around the real connection that counts every statement the code sends (the
driver's own BEGIN/COMMIT are protocol, not statements of the batch). On Redshift every statement is a
distributed commit step, so the statement count is the figure that transfers; rows/s does not.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from risk.warehouse.columns import COLUMN_NAMES, RISK_EVENTS_COLUMNS, RISK_EVENTS_TABLE
from risk.warehouse.connection import Warehouse, connect_dsn
from risk.warehouse.loader import load_batch, statement_budget
from risk.warehouse.migrations import default_directory, migrate
from tools.bench.report import Figure
from tools.bench.workload import warehouse_rows

BENCH = "loader"
DEFAULT_SIZES = (100, 1_000, 10_000)
TARGET_SPEEDUP = 5.0
# Redshift SQL, as a straightforward loader would write it (the PostgreSQL rendering casts SUPER).
_VALUES = ", ".join("JSON_PARSE(%s)" if kind == "super" else "%s" for _, kind in RISK_EVENTS_COLUMNS)
SINGLE_ROW_INSERT = f"INSERT INTO {RISK_EVENTS_TABLE} ({', '.join(COLUMN_NAMES)}) VALUES ({_VALUES})"


class CountingCursor:
    """A DB-API cursor that counts the statements sent through it (executemany: one per parameter set)."""

    def __init__(self, cursor: Any, owner: CountingConnection) -> None:
        self._cursor = cursor
        self._owner = owner

    def execute(self, operation: str, args: Any = None) -> Any:
        self._owner.statements += 1
        return self._cursor.execute(operation, args)

    def executemany(self, operation: str, param_sets: Any) -> Any:
        param_sets = list(param_sets)
        self._owner.statements += len(param_sets)
        return self._cursor.executemany(operation, param_sets)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)


class CountingConnection:
    """Wraps the real redshift-connector connection; ``Warehouse`` works on it unchanged."""

    def __init__(self, connection: Any) -> None:
        self._connection = connection
        self.statements = 0
        self.commits = 0

    def cursor(self) -> CountingCursor:
        return CountingCursor(self._connection.cursor(), self)

    def commit(self) -> None:
        self.commits += 1
        self._connection.commit()

    def rollback(self) -> None:
        self._connection.rollback()

    def close(self) -> None:
        self._connection.close()


@contextmanager
def migrated_database(dsn: str | None = None) -> Iterator[str]:
    """A DSN of a migrated database: ``dsn`` as given, or an embedded throwaway server."""
    if dsn:
        with connect_dsn(dsn) as warehouse:
            migrate(warehouse, default_directory())
        yield dsn
        return
    from tools.pg.local import LocalPostgres  # noqa: PLC0415 (not needed with a DSN)

    with (
        tempfile.TemporaryDirectory(prefix="risk-bench-pg-") as workdir,
        LocalPostgres.start(Path(workdir)) as pg,
    ):
        created = pg.create_database("bench")
        with connect_dsn(created) as warehouse:
            migrate(warehouse, default_directory())
        yield created


def _empty(warehouse: Warehouse) -> None:
    with warehouse.transaction():
        warehouse.execute(f"TRUNCATE TABLE {RISK_EVENTS_TABLE}")


def _count(warehouse: Warehouse) -> tuple[int, int]:
    with warehouse.transaction():
        row = warehouse.fetchone(f"SELECT COUNT(*), COUNT(DISTINCT event_id) FROM {RISK_EVENTS_TABLE}")
    assert row is not None
    return int(row[0]), int(row[1])


def executemany_insert(warehouse: Warehouse, rows: Sequence[Sequence[Any]]) -> None:
    """The baseline: one INSERT per row (executemany), one transaction, no dedupe."""
    with warehouse.transaction():
        warehouse.executemany(SINGLE_ROW_INSERT, rows)


def _seconds(warehouse: Warehouse, action: Any, batches: Sequence[Sequence[Sequence[Any]]]) -> float:
    """Median seconds of ``action`` over ``batches`` (each a different set of events, as in production:
    a repeated batch would let the driver reuse its parse of an identical statement text)."""
    samples = []
    for batch in batches:
        _empty(warehouse)
        started = time.perf_counter()
        action(warehouse, batch)
        samples.append(time.perf_counter() - started)
        loaded, _ = _count(warehouse)
        if loaded != len(batch):
            raise RuntimeError(f"{action.__name__} left {loaded} rows for a batch of {len(batch)}")
    return statistics.median(samples)


def run(sizes: Sequence[int] = DEFAULT_SIZES, dsn: str | None = None, repeats: int = 3) -> list[Figure]:
    rows = warehouse_rows(max([*sizes, *(size * repeats for size in sizes if size <= 1_000)]))
    figures: list[Figure] = []
    with migrated_database(dsn) as database:
        counting = CountingConnection(connect_dsn(database).connection)
        warehouse = connect_dsn(database)
        counted = Warehouse(counting, warehouse.dialect)
        try:
            for size in sizes:
                batch = rows[:size]
                batches = [rows[k * size : (k + 1) * size] for k in range(repeats if size <= 1_000 else 1)]
                base = _seconds(warehouse, executemany_insert, batches)
                merged = _seconds(warehouse, load_batch, batches)
                figures.append(Figure(BENCH, f"executemany INSERT, batch {size:,} (baseline)", size / base, "rows/s"))
                speedup = base / merged
                figures.append(
                    Figure(
                        BENCH,
                        f"load_batch (stage + MERGE), batch {size:,}",
                        size / merged,
                        "rows/s",
                        "executemany",
                        speedup,
                        f">= {TARGET_SPEEDUP:g}x",
                        speedup >= TARGET_SPEEDUP,
                    )
                )
                # Statements of one batch, counted on the wire side of Warehouse.
                _empty(warehouse)
                counting.statements = 0
                load_batch(counted, batch)
                budget = statement_budget(size)
                figures.append(
                    Figure(
                        BENCH,
                        f"SQL statements per batch of {size:,}",
                        counting.statements,
                        "stmts",
                        f"{size:,} (one per row)",
                        counting.statements / size,
                        f"<= {budget} (4 + 1 per 1,000 rows)",
                        counting.statements <= budget,
                    )
                )
            # Redelivery: the last batch again (its rows are in the table), with half of it repeated
            # inside the batch too: still exactly one row per event_id, nothing inserted.
            last = rows[: sizes[-1]] if sizes else []
            redelivered = list(last) + list(last[: len(last) // 2])
            result = load_batch(warehouse, redelivered)
            total, distinct = _count(warehouse)
            figures.append(
                Figure(
                    BENCH,
                    f"rows after redelivery / distinct events ({len(last):,})",
                    total / max(distinct, 1),
                    "ratio",
                    target="= 1.00",
                    met=total == distinct == len(last) and result.inserted == 0,
                )
            )
        finally:
            counted.close()
            warehouse.close()
    return figures
