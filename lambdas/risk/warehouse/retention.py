"""Warehouse retention: delete ``risk_events`` rows that occurred before a cutoff.

Like every writer of ``risk_events`` (docs/loading.md), the purge takes ``LOCK risk_events_load_lock``
first, in the same transaction: a load publishing at the same moment waits, and neither sees the
other half-done. The cutoff is computed here (UTC, whole days back from now), so the statement is
the same plain SQL on Redshift and on the PostgreSQL stand-in.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from risk.warehouse.connection import Warehouse

LOCK_LOAD_MUTEX = "LOCK risk_events_load_lock"
DELETE_OLDER_THAN = "DELETE FROM risk_events WHERE occurred_at < %s"


def cutoff(days: int, now: datetime | None = None) -> datetime:
    """The first instant kept: ``days`` days before ``now``, as a naive UTC timestamp (the column's)."""
    if days < 1:
        raise ValueError(f"retention must be at least 1 day, got {days}")
    at = (now or datetime.now(UTC)).astimezone(UTC) - timedelta(days=days)
    return at.replace(tzinfo=None)


def purge_older_than(warehouse: Warehouse, days: int, now: datetime | None = None) -> int:
    """Delete the rows that occurred before :func:`cutoff`; returns how many."""
    before = cutoff(days, now)
    with warehouse.transaction():
        warehouse.execute(LOCK_LOAD_MUTEX)
        return max(0, warehouse.execute(DELETE_OLDER_THAN, (before,)))
