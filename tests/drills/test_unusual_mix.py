"""Drill: contract-valid but unusual events mixed into ordinary traffic (issue 10, items 5 and 8).

Measured before the fix: 1,500 ordinary events with ~50 unusual ones ended with 2 of the 1,500
loaded. Now: every ordinary and every valid unusual event is loaded exactly once, every invalid
one is quarantined at parse with the reason its kind names, and nothing lands in any DLQ.
Byte widths and SUPER sizes are checked here in bytes, whatever the warehouse stand-in enforces.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import pytest

from risk.events.limits import SUPER_STAGING_BYTES
from risk.score import service
from risk.warehouse.columns import TEXT_COLUMN_BYTES
from risk.warehouse.connection import Warehouse, connect_dsn
from tests.drills.conftest import events, put_events, queue_depth
from tools.local.pipeline import LocalPipeline
from tools.local.reconcile import reconcile
from tools.local.unusual import KINDS, unusual_records

ORDINARY = 1_500
PER_KIND = 2


def test_unusual_events_never_sink_ordinary_ones(make_pipeline: Callable[..., LocalPipeline], pg_dsn: str) -> None:
    ordinary = events(ORDINARY, seed=31)
    unusual = unusual_records(PER_KIND * len(KINDS), seed=5)
    assert len({u.kind for u in unusual}) == len(KINDS) >= 16
    valid_kinds = {name for name, kind in KINDS.items() if kind.expected is None}
    assert len(valid_kinds) >= 16
    mixed: list[tuple[bytes, str, str | None, str | None]] = [
        (orjson.dumps(e), str(e["user_id"]), str(e["event_id"]), None) for e in ordinary
    ] + [(u.data, u.user_id, u.event_id, None if u.expected is None else str(u.expected)) for u in unusual]
    random.Random(3).shuffle(mixed)

    pipeline = make_pipeline(pg_dsn, shards=2)
    data, keys, ids, reasons = (list(column) for column in zip(*mixed, strict=True))
    pipeline.put(data, keys, ids, reasons)
    pipeline.drain()

    # Nothing failed a batch, nothing reached a DLQ or the parse-failures queue.
    for stage in (pipeline.parse, pipeline.score, pipeline.load):
        assert stage.stats.function_errors == 0
    assert pipeline.parse.stats.records_abandoned == 0
    for key in pipeline.resources.dead_letter_queues:
        assert queue_depth(pipeline, key) == 0, key

    with connect_dsn(pg_dsn) as warehouse:
        rec = reconcile(pipeline, warehouse)
        rows = _rows(warehouse)
    assert rec.reason_mismatches == [] and rec.unexpected_quarantine == 0 and rec.missing == []
    expected_quarantine = Counter(str(u.expected) for u in unusual if u.expected is not None)
    assert rec.quarantined == dict(expected_quarantine)  # at parse, each with its kind's reason
    assert rec.metrics.get("ScoreEventsQuarantined", 0) == 0  # nothing needed the later safety net
    assert rec.ok

    # Every ordinary and every valid unusual event exactly once.
    must_load = [str(e["event_id"]) for e in ordinary] + [u.event_id for u in unusual if u.expected is None]
    loaded = Counter(row[0] for row in rows)
    assert all(n == 1 for n in loaded.values())
    assert set(loaded) == set(must_load)

    # What landed fits Redshift's byte semantics, whatever the stand-in enforces.
    for row in rows:
        for name, value in zip(TEXT_COLUMN_BYTES, row[: len(TEXT_COLUMN_BYTES)], strict=True):
            assert value is None or len(value.encode()) <= TEXT_COLUMN_BYTES[name], (name, value)
        assert len(orjson.dumps(row[-1])) <= SUPER_STAGING_BYTES


def _rows(warehouse: Warehouse) -> list[tuple[str, ...]]:
    """Every row's text columns (in ``TEXT_COLUMN_BYTES`` order, event_id first) and its metadata."""
    columns = ", ".join(TEXT_COLUMN_BYTES)
    with warehouse.transaction():
        return [tuple(r) for r in warehouse.fetchall(f"SELECT {columns}, metadata FROM risk_events")]


def test_an_event_that_still_fails_at_score_is_set_aside_alone(
    make_pipeline: Callable[..., LocalPipeline], pg_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The score stage's safety net, end to end: a bug that one event triggers costs that event only."""
    ordinary = events(300, seed=32)
    poison = str(ordinary[137]["event_id"])
    real = service.score_events

    def score_events(store: Any, scorer: Any, batch: Sequence[Any]) -> Any:
        if any(e.event_id == poison for e in batch):
            raise ZeroDivisionError("a bug only this event meets")
        return real(store, scorer, batch)

    monkeypatch.setattr(service, "score_events", score_events)
    pipeline = make_pipeline(pg_dsn, shards=2)
    put_events(pipeline, ordinary)
    pipeline.drain()

    assert pipeline.score.stats.function_errors == pipeline.load.stats.function_errors == 0
    for key in pipeline.resources.dead_letter_queues:
        assert queue_depth(pipeline, key) == 0, key
    with connect_dsn(pg_dsn) as warehouse:
        rec = reconcile(pipeline, warehouse)
    assert rec.quarantined == {"score_error": 1} and rec.missing == [] and rec.ok
    assert rec.loaded == len(ordinary) - 1
    assert rec.metrics["ScoreEventsQuarantined"] == 1
