"""No event can fail its neighbours at parse: what the envelope or SQS will not carry is quarantined alone."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from risk.common import settings
from risk.common.archive import read_jsonl
from risk.common.envelope import unpack
from risk.events.codec import encode_json
from risk.events.limits import SQS_REFUSED_CHARACTERS
from risk.events.model import RiskEvent
from risk.parse import handler, service
from risk.parse.parser import Parsed, parse_kinesis_payload
from risk.parse.service import ParseDependencies
from stacks.config import ENVIRONMENT_NAMES, load_environment, runtime_environment
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

    def parse(data: Any, **kwargs: Any) -> list[Parsed]:
        (parsed,) = parse_kinesis_payload(data, **kwargs)
        result = parsed.result
        if isinstance(result, RiskEvent) and result.event_id == "evt-deep":
            deep = RiskEvent.from_dict({**result.to_dict(), "metadata": _nested(300)})  # orjson refuses > 254
            return [Parsed(deep, parsed.raw)]
        return [parsed]

    monkeypatch.setattr(service, "parse_kinesis_payload", parse)
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


def test_the_clock_skew_tolerance_comes_from_the_function_environment(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CLOCK_SKEW_TOLERANCE_S (cdk.json clock_skew_tolerance_s via runtime_environment) is what parse applies."""
    monkeypatch.setenv(settings.CLOCK_SKEW_TOLERANCE_S, "5")
    handler._dependencies = None  # a new container reads its environment
    ahead = valid_event(event_id="evt-ahead", occurred_at="2024-05-01T10:00:15Z")  # 10 s after arrival
    payloads: list[bytes | str] = [encode_json(valid_event()), encode_json(ahead)]

    assert handler.lambda_handler(kinesis_event(payloads), FakeContext()) == {"batchItemFailures": []}

    ((line),) = _quarantined(aws)
    assert (line["reason"], line["event_id"]) == ("future_timestamp", "evt-ahead")
    handler._dependencies = None


def test_every_environment_sets_a_clock_skew_tolerance_for_parse_only() -> None:
    for name in ENVIRONMENT_NAMES:
        cfg = load_environment(name)
        resources = {k: "x" for k in (settings.PARSED_QUEUE_URL, settings.ARCHIVE_BUCKET)}
        assert runtime_environment(cfg, "parse", resources)[settings.CLOCK_SKEW_TOLERANCE_S] == str(
            cfg.clock_skew_tolerance_s
        )
        score = runtime_environment(
            cfg, "score", {k: "x" for k in (settings.SCORED_QUEUE_URL, settings.STATE_TABLE, settings.ARCHIVE_BUCKET)}
        )
        assert settings.CLOCK_SKEW_TOLERANCE_S not in score
