"""Builders for the load stage's tests: scored events, rows, SQS event shapes, and a statement counter."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from risk.common.envelope import pack
from risk.events.model import Geo, RiskEvent
from risk.load.pseudonymise import Pseudonymiser
from risk.load.rows import to_record, to_row
from risk.score.model import Features, Score, ScoredEvent, ShadowScore
from risk.warehouse.connection import Warehouse
from tools.local.context import FakeLambdaContext

TEST_KEY = b"test-pseudonymisation-key-0123456789abcdef"
OCCURRED = datetime(2024, 5, 1, 23, 59, 30, 250000, tzinfo=UTC)
LOADED = datetime(2024, 5, 2, 0, 0, 5, 500000, tzinfo=UTC)
REGION = "eu-west-1"


@pytest.fixture
def keys() -> Pseudonymiser:
    return Pseudonymiser(TEST_KEY)


def make_scored(event_id: str = "evt-1", *, user_id: str = "user-1", score: float = 0.42, **event: Any) -> ScoredEvent:
    """A realistic scored event; ``event`` overrides fields of the RiskEvent."""
    base = RiskEvent(
        event_id=event_id,
        user_id=user_id,
        event_type="payment",
        occurred_at=OCCURRED,
        ingested_at=OCCURRED + timedelta(seconds=2),
        amount=129.95,
        currency="EUR",
        ip="203.0.113.7",
        geo=Geo(52.52, 13.405),
        country="DE",
        device_id="device-abc",
        merchant_id="m-17",
        channel="app",
        email="  Alice.Example@Mail.TEST ",
        metadata={"campaign": "spring", "nested": {"a": [1, 2]}},
    )
    features = Features(
        count_1m=1,
        count_1h=3,
        count_24h=7,
        amount_sum_1m=129.95,
        amount_sum_1h=250.5,
        amount_sum_24h=980.25,
        amount_zscore=1.75,
        amount_ratio=2.5,
        distance_km=12.3,
        speed_kmh=45.6,
        seconds_since_last=970.0,
        new_device=False,
        new_country=True,
        hour_of_day=23,
        geo_flag=False,
        velocity_flag=False,
        new_device_flag=False,
        high_amount_flag=True,
        high_value_count_1h=2,
        spend_ratio_1h=4.5,
        velocity_ratio_1m=3.0,
        velocity_ratio_1h=1.25,
        device_age=12,
        country_age=0,
    )
    band = "high" if score >= 0.7 else "medium" if score >= 0.3 else "low"
    return ScoredEvent(
        replace(base, **event),
        features,
        Score(score, band, "lr-v1", ("high_amount_flag", "new_country"), (1.25, 0.5)),
        (ShadowScore("xgb-v1", 0.125, "low"),),
    )


def make_rows(count: int, keys: Pseudonymiser, prefix: str = "evt") -> list[tuple[Any, ...]]:
    return [
        to_row(to_record(make_scored(f"{prefix}-{i:05d}", user_id=f"u{i % 7}"), keys, LOADED)) for i in range(count)
    ]


class CountingConnection:
    """The real DB-API connection, counting every statement that reaches the server."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.statements: list[str] = []

    def cursor(self) -> Any:
        return _CountingCursor(self.inner.cursor(), self.statements)

    def commit(self) -> None:
        self.inner.commit()

    def rollback(self) -> None:
        self.inner.rollback()

    def close(self) -> None:
        self.inner.close()


class _CountingCursor:
    def __init__(self, inner: Any, log: list[str]) -> None:
        self._inner = inner
        self._log = log

    def execute(self, operation: str, args: Any = None) -> Any:
        self._log.append(operation)
        return self._inner.execute(operation, args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def counting(warehouse: Warehouse) -> Iterator[tuple[Warehouse, CountingConnection]]:
    """A Warehouse on the same real connection, with every statement counted."""
    connection = CountingConnection(warehouse.connection)
    yield Warehouse(connection, warehouse.dialect), connection


# --- SQS shapes -----------------------------------------------------------------------------------


def FakeContext() -> FakeLambdaContext:  # noqa: N802 (reads as the class it was)
    """The local runner's Lambda context object, shared so every handler test sees the same shape."""
    return FakeLambdaContext("risk-load", 1024, 60)


def sqs_record(body: str, message_id: str) -> dict[str, Any]:
    """One record exactly as the SQS event source delivers it."""
    return {
        "messageId": message_id,
        "receiptHandle": f"AQEB{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1714608000000",
            "SenderId": "AROAEXAMPLE:risk-score",
            "ApproximateFirstReceiveTimestamp": "1714608000100",
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:risk-dev-scored",
        "awsRegion": REGION,
    }


def sqs_event(*bodies: str, id_prefix: str = "msg") -> dict[str, Any]:
    return {"Records": [sqs_record(body, f"{id_prefix}-{i}") for i, body in enumerate(bodies)]}


def envelope_bodies(events: list[ScoredEvent]) -> list[str]:
    return list(pack(e.to_dict() for e in events))
