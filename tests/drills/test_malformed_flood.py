"""Drill: a thousand and more malformed records of every kind, mixed into valid traffic.

Every one quarantined with the reason it was made for, no valid event lost, no unhandled exception.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import orjson

from risk.warehouse.connection import connect_dsn
from tests.drills.conftest import events
from tools.local.malformed import malformed_records
from tools.local.pipeline import LocalPipeline
from tools.local.reconcile import reconcile


def test_malformed_records_are_all_quarantined_and_no_valid_event_is_lost(
    make_pipeline: Callable[..., LocalPipeline], pg_dsn: str
) -> None:
    valid = events(300, seed=4)
    bad = malformed_records(1200, seed=9)
    kinds = Counter(str(m.reason) for m in bad)
    assert len(kinds) >= 12
    mixed: list[tuple[bytes, str, str | None, str | None]] = [
        (orjson.dumps(e), str(e["user_id"]), str(e["event_id"]), None) for e in valid
    ] + [(m.data, f"bad-{i}", None, str(m.reason)) for i, m in enumerate(bad)]
    random.Random(2).shuffle(mixed)

    pipeline = make_pipeline(pg_dsn, shards=4)
    data, keys, ids, reasons = (list(column) for column in zip(*mixed, strict=True))
    pipeline.put(data, keys, ids, reasons)
    pipeline.drain()

    assert pipeline.parse.stats.function_errors == 0  # no unhandled exception, no retried batch
    assert pipeline.parse.stats.records_abandoned == 0
    with connect_dsn(pg_dsn) as warehouse:
        rec = reconcile(pipeline, warehouse)
    assert rec.reason_mismatches == []  # each quarantined with exactly the reason it was made for
    assert rec.unexpected_quarantine == 0
    assert rec.quarantined == dict(kinds)
    assert rec.loaded == len(valid) and rec.missing == []
    assert rec.ok
