"""Exactly once under Redshift's semantics: snapshot isolation, no enforced key, loaders racing.

The stand-in is set up as Redshift Serverless behaves (see ``risk.warehouse.dialect`` and
``connect_dsn``); the first tests pin that, so the race tests below cannot pass for a reason
Redshift would not share.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redshift_connector

from risk.load.pseudonymise import Pseudonymiser
from risk.load.rows import to_record, to_row
from risk.warehouse import loader
from risk.warehouse.connection import Warehouse, connect_dsn, is_data_error
from risk.warehouse.loader import LoadResult, load_batch, lookup_ranges
from tests.load.conftest import LOADED, CountingConnection, make_rows, make_scored
from tools.pg.local import LocalPostgres
from tools.pg.server import ExternalServer

ROUNDS = 4


def count(warehouse: Warehouse) -> int:
    return int(warehouse.scalar("SELECT COUNT(*) FROM risk_events"))


def test_every_session_runs_under_snapshot_isolation(warehouse: Warehouse) -> None:
    assert warehouse.scalar("SHOW transaction_isolation") == "repeatable read"
    assert warehouse.scalar("SELECT current_setting('statement_timeout')") == "1min"  # the default 60 s


def test_the_stand_in_enforces_no_key_on_event_id(warehouse: Warehouse, keys: Pseudonymiser) -> None:
    """As in Redshift, the PRIMARY KEY is informational: the same row inserted twice is two rows."""
    row = make_rows(1, keys)
    columns = ", ".join(loader.COLUMN_NAMES)
    for _ in range(2):
        load_batch(warehouse, row)  # the loader dedupes ...
        with warehouse.transaction():  # ... a plain INSERT does not, and nothing stops it
            warehouse.execute(f"INSERT INTO risk_events ({columns}) SELECT {columns} FROM risk_events LIMIT 1")
    assert count(warehouse) == 3


def test_varchar_widths_are_bytes(warehouse: Warehouse, keys: Pseudonymiser) -> None:
    """64 characters of a 2-byte letter are 128 bytes: too wide for VARCHAR(64), as in Redshift."""
    fits = to_row(to_record(make_scored("é" * 32), keys, LOADED))
    too_wide = to_row(to_record(make_scored("é" * 64), keys, LOADED))
    assert load_batch(warehouse, [fits]).inserted == 1
    for bulk_min_rows in (1, 10_000):  # the bulk path and the INSERT path alike
        with pytest.raises(redshift_connector.ProgrammingError) as refused:
            load_batch(warehouse, [too_wide], bulk_min_rows=bulk_min_rows)
        assert is_data_error(refused.value)
    assert count(warehouse) == 1


def _racing(pg_dsn: str, on_statement: Callable[[str], None]) -> Callable[[list[tuple[Any, ...]]], LoadResult]:
    """A loader on its own connection that calls ``on_statement`` before each statement it sends."""

    class Hooked(CountingConnection):
        def cursor(self) -> Any:
            cursor = super().cursor()
            execute = cursor.execute

            def hooked(operation: str, args: Any = None) -> Any:
                on_statement(operation)
                return execute(operation, args)

            cursor.execute = hooked
            return cursor

    def run(rows: list[tuple[Any, ...]]) -> LoadResult:
        with connect_dsn(pg_dsn) as real:
            return load_batch(Warehouse(Hooked(real.connection), real.dialect), rows)

    return run


def _race(loads: list[Callable[[], LoadResult]]) -> list[LoadResult]:
    results: list[Any] = [None] * len(loads)

    def run(i: int) -> None:
        try:
            results[i] = loads[i]()
        except BaseException as exc:  # surfaced below, in the test's thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(loads))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def test_concurrent_loaders_with_overlapping_batches_load_every_event_once(
    pg_dsn: str, warehouse: Warehouse, keys: Pseudonymiser
) -> None:
    """Three loaders stage overlapping batches, then race to publish at the same instant, round after round."""
    for round_number in range(ROUNDS):
        barrier = threading.Barrier(3, timeout=60)

        def at_publish(operation: str, barrier: threading.Barrier = barrier) -> None:
            if operation.startswith("LOCK "):
                barrier.wait()  # every loader has committed its stage: all publish at once

        rows = make_rows(300, keys, prefix=f"r{round_number}")
        batches = [rows[:200], rows[100:300], rows[50:250] + rows[:10]]  # overlapping, with a redelivery inside
        loads = [lambda b=batch: _racing(pg_dsn, at_publish)(b) for batch in batches]
        results = _race(loads)
        assert sum(r.inserted for r in results) == 300
    assert count(warehouse) == ROUNDS * 300
    assert warehouse.scalar("SELECT COUNT(DISTINCT event_id) FROM risk_events") == ROUNDS * 300


def test_without_the_lock_the_same_race_duplicates_rows(
    pg_dsn: str, warehouse: Warehouse, keys: Pseudonymiser, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Why the lock is there: under snapshot isolation, two publishers that each checked first both insert."""
    monkeypatch.setattr(loader, "LOCK_LOADS", "SELECT 1")
    barrier = threading.Barrier(2, timeout=60)

    def before_insert(operation: str) -> None:
        if operation.startswith("INSERT INTO risk_events ("):
            barrier.wait()  # both checked "already loaded?" in their own snapshots

    rows = make_rows(100, keys)
    _race([lambda: _racing(pg_dsn, before_insert)(rows), lambda: _racing(pg_dsn, before_insert)(rows)])
    assert count(warehouse) == 200
    assert warehouse.scalar("SELECT COUNT(DISTINCT event_id) FROM risk_events") == 100


def test_many_loaders_redelivering_the_same_batches_leave_one_row_each(
    pg_dsn: str, warehouse: Warehouse, keys: Pseudonymiser
) -> None:
    """No barrier: natural interleaving of 4 loaders, each loading every batch (as redeliveries would)."""
    batches = [make_rows(150, keys, prefix=f"b{i}") for i in range(4)]

    def everything(order: list[int]) -> Callable[[], LoadResult]:
        def run() -> LoadResult:
            total = LoadResult(0, 0, 0, 0)
            with connect_dsn(pg_dsn) as own:
                for i in order:
                    got = load_batch(own, batches[i], bulk_min_rows=100 if i % 2 else 10_000)
                    total = LoadResult(0, 0, total.inserted + got.inserted, 0)
            return total

        return run

    orders = ([0, 1, 2, 3], [3, 2, 1, 0], [1, 3, 0, 2], [2, 0, 3, 1])
    results = _race([everything(list(order)) for order in orders])
    assert sum(r.inserted for r in results) == 600
    assert count(warehouse) == 600
    assert warehouse.scalar("SELECT COUNT(DISTINCT event_id) FROM risk_events") == 600


def test_lookup_ranges_cover_each_minute_and_merge_neighbours() -> None:
    t = datetime(2026, 11, 24, 10, 15, 30)
    ranges = lookup_ranges([t, t + timedelta(seconds=40), t + timedelta(minutes=3)])
    assert ranges == [
        (datetime(2026, 11, 24, 10, 15), datetime(2026, 11, 24, 10, 17)),
        (datetime(2026, 11, 24, 10, 18), datetime(2026, 11, 24, 10, 19)),
    ]


def test_an_old_backfilled_event_adds_one_narrow_range_not_the_years_between() -> None:
    now = datetime(2026, 11, 24, 10, 15)
    old = datetime(2001, 3, 4, 5, 6, 7)
    assert lookup_ranges([now, old, now + timedelta(seconds=1)]) == [
        (datetime(2001, 3, 4, 5, 6), datetime(2001, 3, 4, 5, 7)),
        (datetime(2026, 11, 24, 10, 15), datetime(2026, 11, 24, 10, 16)),
    ]


def test_ranges_are_never_widened_a_spread_batch_takes_more_lookups(
    counting: tuple[Warehouse, CountingConnection], keys: Pseudonymiser
) -> None:
    """40 events, each in its own minute of a different day: 40 ranges, 3 lookups of 16, all redeliveries found."""
    warehouse, connection = counting
    base = datetime(2026, 1, 1, tzinfo=UTC)
    spread = [
        to_row(to_record(make_scored(f"evt-day-{i}", occurred_at=base + timedelta(days=i, minutes=i)), keys, LOADED))
        for i in range(40)
    ]
    assert len(lookup_ranges([row[loader.OCCURRED_AT] for row in spread])) == 40
    assert load_batch(warehouse, spread[::2]).inserted == 20
    connection.statements.clear()
    assert load_batch(warehouse, spread) == LoadResult(40, 40, 20, 20)
    lookups = [s for s in connection.statements if s == loader.DEDUPE_LOADED]
    assert len(lookups) == 3
    assert len([s for s in connection.statements if not s.startswith("DO $$")]) == loader.statement_budget(
        40, ranges=40
    )
    assert count(warehouse) == 40


def test_a_redelivery_is_found_however_old_the_event(warehouse: Warehouse, keys: Pseudonymiser) -> None:
    """The bounded lookup still sees a loaded event from another year when its redelivery comes with new ones."""
    old = to_row(to_record(make_scored("evt-2001", occurred_at=datetime(2001, 3, 4, 5, 6, tzinfo=UTC)), keys, LOADED))
    load_batch(warehouse, [old])
    assert load_batch(warehouse, [*make_rows(20, keys), old]) == LoadResult(21, 21, 20, 1)
    assert count(warehouse) == 21


def test_any_session_of_the_embedded_server_defaults_to_snapshot_isolation(pg_server: LocalPostgres) -> None:
    """Not only the project's connections: a plain session (psql, a BI tool) gets Redshift's default too."""
    if isinstance(pg_server.server, ExternalServer):
        pytest.skip("an external server keeps its own defaults; connect_dsn still sets the isolation")
    connection = redshift_connector.connect(
        host=pg_server.proxy.host,
        port=pg_server.proxy.port,
        user=pg_server.server.user,
        password=pg_server.server.password,
        database="postgres",
        ssl=False,
    )
    try:
        cursor = connection.cursor()
        cursor.execute("SHOW default_transaction_isolation")
        assert cursor.fetchone()[0] == "repeatable read"
    finally:
        connection.close()
