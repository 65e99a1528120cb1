"""The parse Lambda handler end to end on moto: real Kinesis event shapes in, S3 quarantine and SQS out."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from risk.common.archive import read_jsonl
from risk.common.envelope import SOURCE_KEY, unpack
from risk.common.telemetry import (
    EVENTS_PARSED,
    EVENTS_QUARANTINED,
    NAMESPACE,
    QUARANTINED_BY_REASON,
    RECORDS_RECEIVED,
)
from risk.events.codec import encode_avro, encode_json
from risk.events.model import RiskEvent
from risk.parse import handler
from risk.parse.service import ParseDependencies
from tests.parse.conftest import SHARD, Aws, FakeContext, kinesis_event, sequence_number, valid_event

SQS_MESSAGE_LIMIT = 256 * 1024


def _invoke(event: dict[str, Any]) -> dict[str, Any]:
    return handler.lambda_handler(event, FakeContext())


def _events(aws: Aws) -> list[dict[str, Any]]:
    return [item for message in aws.messages() for item in unpack(message["Body"])]


def _stdout_json(out: str) -> list[dict[str, Any]]:
    docs = []
    for line in out.splitlines():
        if line.startswith("{"):
            docs.append(orjson.loads(line))
    return docs


@pytest.fixture
def log_stream() -> Iterator[io.StringIO]:
    """The handler's JSON log lines (Powertools' logger holds the stream it was created with)."""
    stream = io.StringIO()
    previous = handler.logger.registered_handler.setStream(stream)
    yield stream
    handler.logger.registered_handler.setStream(previous)


def test_a_mixed_batch(aws: Aws, capsys: pytest.CaptureFixture[str], log_stream: io.StringIO) -> None:
    payloads: list[bytes | str] = [
        encode_json(valid_event(event_id="evt-json")),
        b"{not json",
        encode_avro(valid_event(event_id="evt-avro", country="fr")),
        encode_json(valid_event(event_id="evt-bad-country", country="ZZ")),
        "%%%",  # not base64
    ]
    response = _invoke(kinesis_event(payloads))

    assert response == {"batchItemFailures": []}
    events = _events(aws)
    assert [e["event_id"] for e in events] == ["evt-json", "evt-avro"]
    assert events[1]["country"] == "FR"
    # The wire form the score stage reads, and where the record entered (carried on to the load).
    assert RiskEvent.from_dict(events[0]).to_dict() == {k: v for k, v in events[0].items() if k != SOURCE_KEY}
    assert events[0][SOURCE_KEY] == {"shard_id": SHARD, "sequence_number": sequence_number(0)}

    (key,) = aws.quarantine_keys()
    assert key == f"quarantine/date=2024-05-01/{SHARD}-{sequence_number(0)}-{sequence_number(4)}.jsonl"
    head = aws.s3.head_object(Bucket=aws.bucket, Key=key)
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == aws.kms_key_arn
    lines = read_jsonl(aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read())
    assert [(line["reason"], line["sequence_number"]) for line in lines] == [
        ("not_json", sequence_number(1)),
        ("bad_country", sequence_number(3)),
        ("bad_base64", sequence_number(4)),
    ]
    assert base64.b64decode(lines[0]["raw_b64"]) == b"{not json"
    assert all(line["partition_key"] == "user-42" and line["shard_id"] == SHARD for line in lines)

    docs = _stdout_json(capsys.readouterr().out)
    emf = [d for d in docs if "_aws" in d]
    values = {}
    for doc in emf:
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        assert doc["environment"] == "test" and doc["service"] == "risk-scoring"
        for metric in directive["Metrics"]:
            key_ = (metric["Name"], doc.get("reason"))
            values[key_] = values.get(key_, 0) + sum(
                doc[metric["Name"]] if isinstance(doc[metric["Name"]], list) else [doc[metric["Name"]]]
            )
            if metric["Name"] == QUARANTINED_BY_REASON.name:
                assert sorted(directive["Dimensions"][0]) == ["environment", "reason", "service"]
    assert values == {
        (RECORDS_RECEIVED.name, None): 5,
        (EVENTS_PARSED.name, None): 2,
        (EVENTS_QUARANTINED.name, None): 3,
        (QUARANTINED_BY_REASON.name, "bad_base64"): 1,
        (QUARANTINED_BY_REASON.name, "bad_country"): 1,
        (QUARANTINED_BY_REASON.name, "not_json"): 1,
    }
    logged = [d for d in _stdout_json(log_stream.getvalue()) if d.get("message") == "record quarantined"]
    assert [(d["reason"], d.get("correlation_id")) for d in logged] == [
        ("not_json", None),
        ("bad_country", "evt-bad-country"),
        ("bad_base64", None),
    ]
    # The log says which rule broke, never the value (the quarantine object keeps the full detail).
    assert logged[1]["detail"] == "country ***** is not an ISO 3166-1 alpha-2 code"
    assert "'ZZ'" in lines[1]["detail"]
    assert not [d for d in logged if "ZZ" in str(d) or "%%%" in str(d) or "not json" in str(d)]


def test_a_redelivered_batch_overwrites_its_quarantine_object(aws: Aws) -> None:
    event = kinesis_event([b"", encode_json(valid_event())])
    _invoke(event)
    _invoke(event)
    (key,) = aws.quarantine_keys()
    assert len(read_jsonl(aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read())) == 1


def test_a_thousand_events_travel_in_few_messages(aws: Aws) -> None:
    payloads: list[bytes | str] = [
        encode_json(valid_event(event_id=f"evt-{i:04d}", user_id=f"user-{i % 37}")) for i in range(1000)
    ]
    assert _invoke(kinesis_event(payloads)) == {"batchItemFailures": []}
    messages = aws.messages()
    assert 1 < len(messages) <= 5
    assert all(len(m["Body"].encode()) < SQS_MESSAGE_LIMIT for m in messages)
    ids = [item["event_id"] for m in messages for item in unpack(m["Body"])]
    assert sorted(ids) == [f"evt-{i:04d}" for i in range(1000)]


class FailingMessage:
    """The real client, except that the message holding ``event_id`` is always throttled."""

    def __init__(self, sqs: Any, event_id: str) -> None:
        self.sqs, self.marker = sqs, f'"event_id":"{event_id}"'
        self.failed_bodies: list[str] = []

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        bad = [e for e in Entries if self.marker in e["MessageBody"]]
        good = [e for e in Entries if e not in bad]
        self.failed_bodies.extend(e["MessageBody"] for e in bad)
        ok = self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=good)["Successful"] if good else []
        failed = [{"Id": e["Id"], "SenderFault": False, "Code": "ThrottlingException", "Message": "x"} for e in bad]
        return {"Successful": ok, "Failed": failed}


def test_a_message_that_cannot_be_sent_fails_exactly_its_records(aws: Aws) -> None:
    pad = "x" * 20_000  # about a dozen events per message
    payloads: list[bytes | str] = [
        encode_json(valid_event(event_id=f"evt-{i:03d}", metadata={"pad": pad})) for i in range(60)
    ]
    deps = ParseDependencies.from_environment()
    flaky = FailingMessage(deps.sqs, "evt-030")
    deps.sqs = flaky
    handler._dependencies = deps

    response = _invoke(kinesis_event(payloads))

    failed_ids = {item["event_id"] for item in unpack(flaky.failed_bodies[0])}
    assert "evt-030" in failed_ids and 1 < len(failed_ids) < 60
    expected = [sequence_number(i) for i in range(60) if f"evt-{i:03d}" in failed_ids]
    assert response == {"batchItemFailures": [{"itemIdentifier": seq} for seq in expected]}
    delivered = {e["event_id"] for e in _events(aws)}
    assert delivered == {f"evt-{i:03d}" for i in range(60)} - failed_ids
    assert len(set(flaky.failed_bodies)) == 1 and len(flaky.failed_bodies) > 1  # retried, then given up


def test_a_failed_quarantine_write_fails_those_records_and_nothing_else(aws: Aws) -> None:
    deps = ParseDependencies.from_environment()
    deps.bucket = "no-such-bucket"
    handler._dependencies = deps
    payloads: list[bytes | str] = [encode_json(valid_event(event_id="evt-ok")), b"", b"[]"]

    response = _invoke(kinesis_event(payloads))

    assert response == {
        "batchItemFailures": [{"itemIdentifier": sequence_number(1)}, {"itemIdentifier": sequence_number(2)}]
    }
    assert [e["event_id"] for e in _events(aws)] == ["evt-ok"]


def test_an_empty_batch(aws: Aws) -> None:
    assert _invoke({"Records": []}) == {"batchItemFailures": []}
    assert aws.messages() == [] and aws.quarantine_keys() == []
