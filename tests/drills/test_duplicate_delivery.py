"""Drill: every event delivered two or three times, in random order.

Exactly one row per event_id, and the per-user feature state equal to the in-memory replay of the
same stream (each user's events in their stream order, copies recognised as duplicates).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime

import orjson

from risk.events.model import RiskEvent
from risk.parse.parser import parse_record
from risk.score.state import replay
from tests.drills.conftest import events, put_events, stored_states, warehouse_ids
from tools.local.pipeline import LocalPipeline


def _as_parsed(event: dict[str, object]) -> RiskEvent:
    """The event as the parse stage hands it on (normalised)."""
    parsed = parse_record(orjson.dumps(event), sequence_number="0", arrival=datetime.now(UTC))
    assert isinstance(parsed, RiskEvent)
    return parsed


def test_two_or_three_deliveries_in_random_order(make_pipeline: Callable[..., LocalPipeline], pg_dsn: str) -> None:
    originals = events(250, seed=21)
    rng = random.Random(5)
    deliveries = [e for e in originals for _ in range(rng.choice((2, 3)))]
    rng.shuffle(deliveries)
    pipeline = make_pipeline(pg_dsn)
    for start in range(0, len(deliveries), 120):  # several producer calls, the consumers working in between
        put_events(pipeline, deliveries[start : start + 120])
        pipeline.step()
    pipeline.drain()

    ids = warehouse_ids(pg_dsn)
    assert len(ids) == len(set(ids)) == len(originals)
    assert set(ids) == {e["event_id"] for e in originals}
    assert pipeline.load.stats.function_errors == pipeline.score.stats.function_errors == 0

    # The state is the in-memory replay of the same per-user stream order (copies included: recognised).
    _, once = replay([_as_parsed(e) for e in deliveries])
    stored = stored_states(pipeline.resources)
    assert set(stored) == set(once)
    assert all(stored[uid] == once[uid] for uid in once)  # content equality: history, sums, devices, countries
