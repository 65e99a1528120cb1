"""The inputs every benchmark shares: generated events, in each form a stage receives them.

One generator (``tools.generator``, seeded) feeds all benchmarks, so the figures describe the same
realistic traffic (many users, fraud bursts, geo and devices) the model was trained on and the demo runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import orjson

from risk.events.model import RiskEvent
from risk.load.pseudonymise import Pseudonymiser
from risk.load.rows import to_record, to_row
from risk.score.model import ScoredEvent
from risk.score.scorers import load_scorer
from risk.score.state import replay
from tools.generator import generate

SEED = 7
BENCH_KEY = Pseudonymiser(b"benchmark-only-key-not-a-secret!" * 2)
LOADED_AT = datetime(2026, 1, 6, tzinfo=UTC)


@cache
def producer_events(count: int, seed: int = SEED) -> tuple[dict[str, Any], ...]:
    """The dicts producers send (the event contract), sorted by time."""
    return tuple(g.event for g in generate(count, seed=seed))


def json_records(count: int, seed: int = SEED) -> list[bytes]:
    """What parse reads from Kinesis: one JSON document per record."""
    return [orjson.dumps(e) for e in producer_events(count, seed)]


def risk_events(count: int, seed: int = SEED) -> list[RiskEvent]:
    """Validated events, as the parse stage hands them on (ingested when they occurred)."""
    return [RiskEvent.from_dict({**e, "ingested_at": e["occurred_at"]}) for e in producer_events(count, seed)]


def scored_events(count: int, seed: int = SEED) -> list[ScoredEvent]:
    """Events with their features and scores, as the load stage receives them."""
    events = risk_events(count, seed)
    features, _ = replay(events)
    scores = load_scorer({}).score_batch(events, features)
    return [ScoredEvent(e, f, s) for e, f, s in zip(events, features, scores, strict=True)]


def warehouse_rows(count: int, seed: int = SEED) -> list[tuple[Any, ...]]:
    """``risk_events`` rows in column order, pseudonymised, as ``load_batch`` takes them."""
    return [to_row(to_record(s, BENCH_KEY, LOADED_AT)) for s in scored_events(count, seed)]
