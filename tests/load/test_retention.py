"""The warehouse retention purge on PostgreSQL: old rows go, recent ones stay, under the load lock."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from risk.load.pseudonymise import Pseudonymiser
from risk.load.rows import to_record, to_row
from risk.warehouse.connection import Warehouse, connect_dsn
from risk.warehouse.loader import load_batch
from risk.warehouse.retention import cutoff, purge_older_than
from tests.load.conftest import LOADED, make_scored

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def _load(warehouse: Warehouse, keys: Pseudonymiser, ages_days: list[float]) -> None:
    rows = [
        to_row(to_record(make_scored(f"evt-{i}", occurred_at=NOW - timedelta(days=age)), keys, LOADED))
        for i, age in enumerate(ages_days)
    ]
    load_batch(warehouse, rows)


def _ids(warehouse: Warehouse) -> list[str]:
    with warehouse.transaction():
        return sorted(str(r[0]) for r in warehouse.fetchall("SELECT event_id FROM risk_events"))


def test_rows_older_than_the_retention_are_deleted_and_the_rest_kept(warehouse: Warehouse, keys: Pseudonymiser) -> None:
    _load(warehouse, keys, [100, 31, 30.5, 29.9, 1])
    assert purge_older_than(warehouse, 30, now=NOW) == 3
    assert _ids(warehouse) == ["evt-3", "evt-4"]
    assert purge_older_than(warehouse, 30, now=NOW) == 0  # idempotent


def test_the_purge_waits_for_a_load_holding_the_lock(pg_dsn: str, keys: Pseudonymiser) -> None:
    with connect_dsn(pg_dsn) as loader, connect_dsn(pg_dsn) as purger:
        _load(loader, keys, [100])
        done: list[float] = []
        with loader.transaction():
            loader.execute("LOCK risk_events_load_lock")
            thread = threading.Thread(target=lambda: done.append(purge_older_than(purger, 30, now=NOW)))
            thread.start()
            time.sleep(0.5)
            assert done == []  # blocked behind the "load"
        thread.join(timeout=10)
        assert done == [1]


def test_cutoff_is_naive_utc_whole_days_back() -> None:
    assert cutoff(30, NOW) == datetime(2024, 5, 2, 12, 0)
    with pytest.raises(ValueError, match="at least 1 day"):
        cutoff(0, NOW)
