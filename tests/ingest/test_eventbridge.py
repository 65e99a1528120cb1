"""The bus's rule, as the stack defines it (pattern, input transformer, partition key path from
``stacks.ingestion_config``), on moto's EventBridge delivering to a queue: only the documented
events pass, each forwarded as its detail, which parses to the event the producer meant."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from risk.events.codec import encode_json
from risk.events.model import RiskEvent
from risk.parse.parser import parse_record
from stacks.ingestion_config import (
    EVENT_DETAIL_TYPE,
    EVENT_INPUT_PATHS,
    EVENT_INPUT_TEMPLATE,
    EVENT_PATTERN,
    EVENT_SOURCE,
)
from tools.local.entry import partition_key

REGION = "eu-west-1"
BUS = "risk-scoring-test-events"


@pytest.fixture
def delivered(aws: None) -> Iterator[tuple[Any, Any, str]]:
    events = boto3.client("events", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    events.create_event_bus(Name=BUS)
    url = sqs.create_queue(QueueName="target")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="to-stream", EventBusName=BUS, EventPattern=json.dumps(EVENT_PATTERN))
    events.put_targets(
        Rule="to-stream",
        EventBusName=BUS,
        Targets=[
            {
                "Id": "stream",
                "Arn": arn,
                "InputTransformer": {"InputPathsMap": EVENT_INPUT_PATHS, "InputTemplate": EVENT_INPUT_TEMPLATE},
            }
        ],
    )
    yield events, sqs, url


def _event(i: int) -> dict[str, Any]:
    return {
        "event_id": f"evt-{i}",
        "user_id": f"user-{i}",
        "event_type": "payment",
        "occurred_at": "2024-05-01T11:00:00+02:00",
        "amount": 12.5,
        "currency": "EUR",
        "metadata": {"nested": {"a": [1, 2]}, "note": "ünïcode"},
    }


def test_the_rule_forwards_the_detail_of_documented_events_only(delivered: tuple[Any, Any, str]) -> None:
    events, sqs, url = delivered
    entries = [
        {"Source": EVENT_SOURCE, "DetailType": EVENT_DETAIL_TYPE, "Detail": json.dumps(_event(1)), "EventBusName": BUS},
        {"Source": "other.app", "DetailType": EVENT_DETAIL_TYPE, "Detail": json.dumps(_event(2)), "EventBusName": BUS},
        {"Source": EVENT_SOURCE, "DetailType": "Something", "Detail": json.dumps(_event(3)), "EventBusName": BUS},
        {"Source": EVENT_SOURCE, "DetailType": EVENT_DETAIL_TYPE, "Detail": json.dumps(_event(4)), "EventBusName": BUS},
    ]
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0

    bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]

    assert sorted(json.loads(b)["event_id"] for b in bodies) == ["evt-1", "evt-4"]
    arrival = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    for body in bodies:
        forwarded = parse_record(body.encode(), sequence_number="1", arrival=arrival)
        assert isinstance(forwarded, RiskEvent)
        i = int(forwarded.event_id.split("-")[1])
        sent = parse_record(encode_json(_event(i)), sequence_number="1", arrival=arrival)
        assert isinstance(sent, RiskEvent) and forwarded.to_dict() == sent.to_dict()  # the detail, whole
        assert partition_key(body.encode()) == f"user-{i}"  # the target's partition key path


def test_an_event_without_a_user_id_still_gets_a_partition_key_and_is_quarantined_by_parse() -> None:
    body = json.dumps({k: v for k, v in _event(5).items() if k != "user_id"}).encode()
    assert partition_key(body) == "missing-user-id"
    result = parse_record(body, sequence_number="1", arrival=datetime(2024, 5, 1, 10, 0, tzinfo=UTC))
    assert not isinstance(result, RiskEvent) and result.reason == "missing_field"
