"""Builders for the score tests: events, SQS event shapes and a Lambda context."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from risk.common.envelope import pack
from risk.events.model import Geo, RiskEvent
from tools.local.context import FakeLambdaContext

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PARIS = (48.8566, 2.3522)
LONDON = (51.5074, -0.1278)
_ids = itertools.count()


def event(
    seconds: float = 0.0,
    *,
    user: str = "u-1",
    event_id: str | None = None,
    amount: float | None = 20.0,
    geo: tuple[float, float] | None = PARIS,
    device: str | None = "dev-a",
    country: str | None = "FR",
    event_type: str = "payment",
) -> RiskEvent:
    """An event ``seconds`` after T0 (RiskEvent as the parse stage hands it on)."""
    at = T0 + timedelta(seconds=seconds)
    return RiskEvent(
        event_id=event_id or f"e-{next(_ids):06d}",
        user_id=user,
        event_type=event_type,
        occurred_at=at,
        ingested_at=at,
        amount=amount,
        currency=None if amount is None else "EUR",
        geo=None if geo is None else Geo(*geo),
        country=country,
        device_id=device,
    )


def sqs_record(
    body: str, message_id: str, queue_arn: str = "arn:aws:sqs:eu-west-1:123456789012:parsed"
) -> dict[str, Any]:
    """One record exactly as Lambda's SQS event source mapping delivers it."""
    return {
        "messageId": message_id,
        "receiptHandle": f"rh-{message_id}",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1772366400000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1772366400001",
        },
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": "eu-west-1",
    }


def sqs_event(*messages: list[RiskEvent] | str) -> dict[str, Any]:
    """An SQS event: each message is a list of events (packed as one envelope) or a raw body."""
    records = []
    for n, message in enumerate(messages):
        if isinstance(message, str):
            body = message
        else:
            bodies = list(pack(e.to_dict() for e in message))
            assert len(bodies) == 1
            body = bodies[0]
        records.append(sqs_record(body, f"m-{n}"))
    return {"Records": records}


def FakeContext() -> FakeLambdaContext:  # noqa: N802 (reads as the class it was)
    """The local runner's Lambda context object, shared so every handler test sees the same shape."""
    return FakeLambdaContext("risk-scoring-test-score", 1024, 60)
