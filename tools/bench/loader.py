"""Loader: rows/s loaded by ``load_batch`` against executemany of single-row INSERTs; statements sent;
load time as the table grows.

Both sides run on the same migrated database of the embedded PostgreSQL (set up like Redshift: no
enforced key, snapshot isolation, byte-counting VARCHAR), through the proxy, with redshift-connector
as the tests do, one transaction per batch, on an emptied table. The bulk threshold is the one in
``cdk.json`` (so 1,000 and 10,000 rows take the stand-in's bulk path, 100 rows the INSERT path).
The statement count comes from a wrapper around the real connection that counts every statement the
code sends (the driver's own BEGIN/COMMIT are protocol, not statements of the batch). On Redshift
every statement is a distributed commit step, so the statement count is the figure that transfers;
rows/s does not.

Table size: a 10,000-row batch of new events loaded into ``risk_events`` already holding 0, 1 M and
5 M rows. The preloaded rows are spread evenly over the 30 days up to the batch (about 115 rows a
minute at 5 M, so the lookup's minute ranges hold real rows); the batch is 10 minutes of traffic
(1,000 events a minute) plus one event backfilled from 20 days before, so a wide batch cannot hide.
Each sample loads the batch under new event ids after one unmeasured warm-up load. The baseline is
the empty table, in the same run.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from risk.warehouse.columns import COLUMN_NAMES, RISK_EVENTS_COLUMNS, RISK_EVENTS_TABLE
from risk.warehouse.connection import Warehouse, connect_dsn
from risk.warehouse.loader import OCCURRED_AT, load_batch, lookup_ranges, statement_budget
from risk.warehouse.migrations import default_directory, migrate
from stacks.config import load_environment
from tools.bench.report import Figure
from tools.bench.workload import warehouse_rows

BENCH = "loader"
DEFAULT_SIZES = (100, 1_000, 10_000)
TARGET_SPEEDUP = {1_000: 2.0, 10_000: 3.0}  # the bulk path against executemany (issue 10)
DEFAULT_TABLE_SIZES = (0, 1_000_000, 5_000_000)
TABLE_BATCH = 10_000
TARGET_GROWTH = 1.5  # load time into the largest table / into the empty one
HISTORY = timedelta(days=30)
BATCH_SPAN = timedelta(minutes=10)
BACKFILLED = timedelta(days=20)
EVENT_ID_AT = COLUMN_NAMES.index("event_id")
# Redshift SQL, as a straightforward loader would write it (the PostgreSQL rendering casts SUPER).
_VALUES = ", ".join("JSON_PARSE(%s)" if kind == "super" else "%s" for _, kind in RISK_EVENTS_COLUMNS)
SINGLE_ROW_INSERT = f"INSERT INTO {RISK_EVENTS_TABLE} ({', '.join(COLUMN_NAMES)}) VALUES ({_VALUES})"


def bulk_min_rows() -> int:
    """The threshold deployed (prod's; every environment has the same today)."""
    return load_environment("prod").redshift.bulk_load_min_rows


class CountingCursor:
    """A DB-API cursor that counts the statements sent through it (executemany: one per parameter set)."""

    def __init__(self, cursor: Any, owner: CountingConnection) -> None:
        self._cursor = cursor
        self._owner = owner

    def execute(self, operation: str, args: Any = None) -> Any:
        if not operation.startswith("DO $$"):  # the stand-in's once-per-connection set-up: not sent to Redshift
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


def _load(warehouse: Warehouse, rows: Sequence[Sequence[Any]]) -> None:
    load_batch(warehouse, rows, bulk_min_rows=bulk_min_rows())


def run(
    sizes: Sequence[int] = DEFAULT_SIZES,
    dsn: str | None = None,
    repeats: int = 3,
    table_sizes: Sequence[int] = DEFAULT_TABLE_SIZES,
    table_batch: int = TABLE_BATCH,
) -> list[Figure]:
    rows = warehouse_rows(max([*sizes, table_batch, *(size * repeats for size in sizes if size <= 1_000)]))
    threshold = bulk_min_rows()
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
                loaded = _seconds(warehouse, _load, batches)
                bulk = size >= threshold
                figures.append(Figure(BENCH, f"executemany INSERT, batch {size:,} (baseline)", size / base, "rows/s"))
                speedup = base / loaded
                target = TARGET_SPEEDUP.get(size)
                figures.append(
                    Figure(
                        BENCH,
                        f"load_batch ({'bulk' if bulk else 'INSERT'} path), batch {size:,}",
                        size / loaded,
                        "rows/s",
                        "executemany",
                        speedup,
                        f">= {target:g}x" if target else "",
                        speedup >= target if target else None,
                    )
                )
                # Statements of one batch, counted on the wire side of Warehouse.
                _empty(warehouse)
                counting.statements = 0
                _load(counted, batch)
                ranges = len(lookup_ranges([row[OCCURRED_AT] for row in batch]))
                budget = statement_budget(size, bulk_sources=1 if bulk else 0, ranges=ranges)
                figures.append(
                    Figure(
                        BENCH,
                        f"SQL statements per batch of {size:,}",
                        counting.statements,
                        "stmts",
                        f"{size:,} (one per row)",
                        counting.statements / size,
                        f"<= {budget} (5 + staging + 1 per 16 of its {ranges} minute ranges)",
                        counting.statements <= budget,
                    )
                )
            # Redelivery: the last batch again (its rows are in the table), with half of it repeated
            # inside the batch too: still exactly one row per event_id, nothing inserted.
            last = rows[: sizes[-1]] if sizes else []
            redelivered = list(last) + list(last[: len(last) // 2])
            result = load_batch(warehouse, redelivered, bulk_min_rows=threshold)
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
            figures.extend(_table_growth(warehouse, rows[:table_batch], table_sizes))
        finally:
            counted.close()
            warehouse.close()
    return figures


def _preload(warehouse: Warehouse, template: Sequence[Any], count: int, end: datetime) -> None:
    """``count`` rows with unique event_ids, ``occurred_at`` evenly over ``HISTORY`` up to ``end``, server-side."""
    _empty(warehouse)
    if count == 0:
        return
    columns = ", ".join(COLUMN_NAMES)
    values = []
    params: list[Any] = []
    for name, value in zip(COLUMN_NAMES, template, strict=True):
        if name == "event_id":
            values.append("'pre-' || CAST(n AS VARCHAR)")
        elif name == "user_id":
            values.append("'pu' || CAST(mod(n, 50000) AS VARCHAR)")
        elif name == "occurred_at":
            values.append(f"CAST(%s AS TIMESTAMP) - n * INTERVAL '{HISTORY.total_seconds() / count:.6f} seconds'")
            params.append(end)
        elif value is None:
            values.append("NULL")
        else:
            kind = dict(RISK_EVENTS_COLUMNS)[name]
            values.append("CAST(%s AS JSONB)" if kind == "super" else "%s")
            params.append(value)
    sql = (
        f"INSERT INTO {RISK_EVENTS_TABLE} ({columns}) SELECT {', '.join(values)} "
        f"FROM generate_series(1, {int(count)}) AS n"
    )  # PostgreSQL SQL (generate_series): bench set-up on the stand-in only, run as written
    with warehouse.transaction():
        warehouse.execute_as_written(sql, params)
        warehouse.execute_as_written(f"ANALYZE {RISK_EVENTS_TABLE}")  # Redshift keeps its zone maps itself


def _as_recent(batch: Sequence[Sequence[Any]], end: datetime, tag: str) -> list[tuple[Any, ...]]:
    """``batch`` as ``BATCH_SPAN`` of traffic before ``end`` (its first event backfilled), ids tagged new."""
    step = BATCH_SPAN / max(len(batch), 1)
    rows = []
    for i, row in enumerate(batch):
        values = list(row)
        values[EVENT_ID_AT] = f"{row[EVENT_ID_AT]}~{tag}"
        values[OCCURRED_AT] = end - BACKFILLED if i == 0 else end - BATCH_SPAN + i * step
        rows.append(tuple(values))
    return rows


def _table_growth(warehouse: Warehouse, batch: Sequence[Sequence[Any]], table_sizes: Sequence[int]) -> list[Figure]:
    """Seconds to load ``batch`` (all new events) into a table of each size; the empty table is the baseline."""
    if not table_sizes or not batch:
        return []
    end = max(row[OCCURRED_AT] for row in batch)
    figures: list[Figure] = []
    baseline: float | None = None
    for size in sorted(table_sizes):
        _preload(warehouse, batch[0], size, end)
        samples = []
        for sample in range(4):
            rows = _as_recent(batch, end, f"{size}-{sample}")
            started = time.perf_counter()
            result = load_batch(warehouse, rows, bulk_min_rows=bulk_min_rows())
            if sample:  # the first is the warm-up
                samples.append(time.perf_counter() - started)
            if result.inserted != len({row[EVENT_ID_AT] for row in rows}):
                raise RuntimeError(f"loaded {result.inserted} of a new batch into a table of {size:,}")
        seconds = statistics.median(samples)
        if baseline is None:
            baseline = seconds
            figures.append(Figure(BENCH, f"batch {len(batch):,} into a table of {size:,} (baseline)", seconds, "s"))
            continue
        growth = seconds / baseline
        figures.append(
            Figure(
                BENCH,
                f"batch {len(batch):,} into a table of {size:,}",
                seconds,
                "s",
                f"table of {sorted(table_sizes)[0]:,}",
                growth,
                f"<= {TARGET_GROWTH:g}x",
                growth <= TARGET_GROWTH,
            )
        )
    _empty(warehouse)
    return figures
