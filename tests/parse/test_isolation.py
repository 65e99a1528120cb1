"""No event can fail its neighbours at parse: what the envelope or SQS will not carry is quarantined alone."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from risk.common.archive import read_jsonl
from risk.common.envelope import unpack
from risk.events.codec import encode_json
from risk.events.limits import SQS_REFUSED_CHARACTERS
from risk.events.model import RiskEvent
from risk.parse import handler, service
from risk.parse.parser import parse_kinesis_data
from risk.parse.service import ParseDependencies
from tests.parse.conftest import Aws, FakeContext, kinesis_event, sequence_number, valid_event
from tools.local import moto_fidelity


def _events(aws: Aws) -> list[dict[str, Any]]:
    return [item for message in aws.messages() for item in unpack(message["Body"])]


def _quarantined(aws: Aws) -> list[dict[str, Any]]:
    return [
        line
        for key in aws.quarantine_keys()
        for line in read_jsonl(aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read())
    ]


def _nested(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for _ in range(depth - 1):
        doc = {"n": doc}
    return doc


def test_characters_sqs_refuses_travel_escaped_and_arrive_unchanged(aws: Aws) -> None:
    moto_fidelity.apply()  # moto refuses them now, as SQS does
    odd = {"nonchars": "a\ufffeb\uffffc", "controls": "\x01\x08\x1b\x7f", "key\ufffe": ["\uffff"]}
    payloads: list[bytes | str] = [encode_json(valid_event(event_id=f"evt-{i}", metadata=odd)) for i in range(30)]

    assert handler.lambda_handler(kinesis_event(payloads), FakeContext()) == {"batchItemFailures": []}

    messages = aws.messages()
    assert all(SQS_REFUSED_CHARACTERS.search(m["Body"]) is None for m in messages)
    events = [item for m in messages for item in unpack(m["Body"])]
    assert [e["event_id"] for e in events] == [f"evt-{i}" for i in range(30)]
    assert all(e["metadata"] == odd for e in events)
    assert aws.quarantine_keys() == []


def test_an_event_the_envelope_cannot_carry_is_quarantined_alone(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    """A gap in the validator (here: it is bypassed) must cost one event, not the batch."""

    def parse(data: Any, **kwargs: Any) -> Any:
        result = parse_kinesis_data(data, **kwargs)
        if isinstance(result, RiskEvent) and result.event_id == "evt-deep":
            return RiskEvent.from_dict({**result.to_dict(), "metadata": _nested(300)})  # orjson refuses > 254
        return result

    monkeypatch.setattr(service, "parse_kinesis_data", parse)
    payloads: list[bytes | str] = [encode_json(valid_event(event_id=f"evt-{i}")) for i in range(5)]
    payloads.insert(2, encode_json(valid_event(event_id="evt-deep")))

    assert handler.lambda_handler(kinesis_event(payloads), FakeContext()) == {"batchItemFailures": []}

    assert [e["event_id"] for e in _events(aws)] == [f"evt-{i}" for i in range(5)]
    ((line),) = _quarantined(aws)
    assert (line["reason"], line["event_id"], line["sequence_number"]) == (
        "unpublishable",
        "evt-deep",
        sequence_number(2),
    )


class RefusingSqs:
    """SQS refusing, as a whole call, any SendMessageBatch that holds a body with ``marker``."""

    def __init__(self, sqs: Any, marker: str) -> None:
        self.sqs, self.marker, self.calls = sqs, marker, 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        self.calls += 1
        if any(self.marker in e["MessageBody"] for e in Entries):
            error = {
                "Error": {"Code": "InvalidMessageContents", "Message": "Invalid binary character", "Type": "Sender"}
            }
            raise ClientError(error, "SendMessageBatch")  # type: ignore[arg-type]
        return dict(self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=Entries))


def test_a_message_sqs_refuses_is_split_and_only_the_event_at_fault_is_quarantined(aws: Aws) -> None:
    pad = "x" * 20_000  # about a dozen events per message, several messages per call
    payloads: list[bytes | str] = [
        encode_json(valid_event(event_id=f"evt-{i:03d}", metadata={"pad": pad})) for i in range(60)
    ]
    deps = ParseDependencies.from_environment()
    deps.sqs = RefusingSqs(deps.sqs, "evt-030")
    handler._dependencies = deps

    assert handler.lambda_handler(kinesis_event(payloads), FakeContext()) == {"batchItemFailures": []}

    delivered = sorted(e["event_id"] for e in _events(aws))
    assert delivered == [f"evt-{i:03d}" for i in range(60) if i != 30]
    ((line),) = _quarantined(aws)
    assert (line["reason"], line["event_id"]) == ("unpublishable", "evt-030")
    assert "InvalidMessageContents" in line["detail"]
