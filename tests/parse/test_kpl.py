"""KPL-aggregated records: the format (byte-exact with awslabs' library), and the parse stage splitting
them so each user record is validated, quarantined and retried on its own."""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

from risk.common.archive import read_jsonl
from risk.common.envelope import unpack
from risk.events.codec import encode_avro, encode_json
from risk.events.model import RiskEvent
from risk.events.reasons import Reason
from risk.parse import handler, kpl, quarantine, service
from risk.parse.parser import Quarantined, parse_payload, parse_record
from risk.parse.service import ParseDependencies
from tests.parse.conftest import ARRIVAL, SHARD, Aws, FakeContext, kinesis_event, sequence_number, valid_event

# Written by awslabs' aws-kinesis-agg 1.2.3 (RecordAggregator) from these three user records; the
# second with an explicit hash key. kpl.aggregate must write the same bytes and read them back.
AWSLABS_RECORDS = [
    kpl.UserRecord("user-1", b'{"a":1}'),
    kpl.UserRecord("user-2", b'{"b":2}', "12345"),
    kpl.UserRecord("user-1", b"\xc3\x01xyz"),
]
AWSLABS_BYTES = bytes.fromhex(
    "f3899ac20a06757365722d310a06757365722d32120531323334351a0b08001a077b2261223a317d1a0d080110001a077b226222"
    "3a327d1a0908001a05c30178797a1495e3c36fd7c1442f88e8b60731dfca"
)


def _doc(i: int, **overrides: Any) -> dict[str, Any]:
    return valid_event(event_id=f"evt-{i:03d}", user_id=f"user-{i % 7}", **overrides)


def _aggregate(payloads: list[bytes]) -> bytes:
    return kpl.aggregate([kpl.UserRecord(f"pk-{i}", p) for i, p in enumerate(payloads)])


def _quarantined(aws: Aws) -> list[dict[str, Any]]:
    return [
        line
        for key in aws.quarantine_keys()
        for line in read_jsonl(aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read())
    ]


def _published(aws: Aws) -> list[str]:
    return [item["event_id"] for m in aws.messages() for item in unpack(m["Body"])]


def test_the_format_is_byte_for_byte_the_awslabs_library() -> None:
    assert kpl.aggregate(AWSLABS_RECORDS) == AWSLABS_BYTES
    assert kpl.deaggregate(AWSLABS_BYTES) == AWSLABS_RECORDS
    assert kpl.aggregated_size(AWSLABS_RECORDS) >= len(AWSLABS_BYTES)


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        (lambda b: b[:-1], "MD5 digest does not match"),
        (lambda b: b[:30] + b[31:], "MD5 digest does not match"),
        (lambda b: kpl.MAGIC + b"\x00" * 5, "too short"),
        (lambda b: _with_digest(b"\x1a\x06\x08\x00\x1a\x09ab"), "runs past the end"),  # data longer than the record
        (lambda b: _with_digest(b"\x0a\x02pk\x1a\x09\x08\x00\x1a\x01a"), "runs past the end"),
        (lambda b: _with_digest(b"\x0a\x02pk\x1a\x05\x08\x03\x1a\x01a"), "index 3 is not in the table"),
        (lambda b: _with_digest(b"\x0a\x02pk\x1a\x02\x08\x00"), "lacks its partition key index or its data"),
        (lambda b: _with_digest(b"\x0a\x02pk"), "holds no user records"),
        (lambda b: _with_digest(b"\x0a\x02\xff\xfe\x1a\x05\x08\x00\x1a\x01a"), "partition key is not UTF-8"),
        (lambda b: _with_digest(b"\x0f"), "wire type 7"),
        (lambda b: _with_digest(b"\x0a" + b"\xff" * 11), "varint"),
    ],
)
def test_a_damaged_aggregate_is_quarantined_whole_with_a_reason(damage: Any, detail: str) -> None:
    data = damage(AWSLABS_BYTES)
    (parsed,) = parse_payload(data, sequence_number="1", arrival=ARRIVAL)
    assert isinstance(parsed.result, Quarantined)
    assert parsed.result.reason == Reason.BAD_AGGREGATE
    assert detail in parsed.result.detail and parsed.result.detail.startswith("KPL aggregated record: ")
    assert parsed.result.raw == data and parsed.raw == data


def _with_digest(body: bytes) -> bytes:
    import hashlib  # noqa: PLC0415

    return kpl.MAGIC + body + hashlib.md5(body, usedforsecurity=False).digest()


def test_an_aggregate_inside_an_aggregate_is_bad_aggregate_and_keeps_its_neighbours() -> None:
    inner = _aggregate([encode_json(_doc(1))])
    outer = _aggregate([encode_json(_doc(0)), inner, encode_json(_doc(2))])
    results = parse_payload(outer, sequence_number="9", arrival=ARRIVAL)
    assert [type(p.result).__name__ for p in results] == ["RiskEvent", "Quarantined", "RiskEvent"]
    nested = results[1].result
    assert isinstance(nested, Quarantined) and nested.reason == Reason.BAD_AGGREGATE
    assert nested.sub_sequence_number == 1 and nested.raw == inner
    # and parse_record never splits: one event was expected there
    single = parse_record(inner, sequence_number="9", arrival=ARRIVAL)
    assert isinstance(single, Quarantined) and single.reason == Reason.BAD_AGGREGATE


def test_fifty_valid_events_in_one_aggregate_are_fifty_events_not_one_quarantine(aws: Aws) -> None:
    """The issue's case: 50 valid events in one aggregated record were quarantined whole as not_utf8."""
    docs = [_doc(i) for i in range(50)]
    data = _aggregate([encode_json(d) for d in docs[:25]] + [encode_avro(d) for d in docs[25:]])
    response = handler.lambda_handler(kinesis_event([data]), FakeContext())

    assert response == {"batchItemFailures": []}
    assert sorted(_published(aws)) == [d["event_id"] for d in docs]
    assert aws.quarantine_keys() == []


def test_each_user_record_is_validated_and_quarantined_on_its_own(aws: Aws) -> None:
    bad_country = encode_json(_doc(1, country="ZZ"))
    not_json = b'{"event_id": "evt-002", '
    data = _aggregate([encode_json(_doc(0)), bad_country, not_json, encode_json(_doc(3))])
    payloads: list[bytes | str] = [encode_json(_doc(10)), data, b"{plain bad"]
    deps = ParseDependencies(s3=aws.s3, sqs=aws.sqs, bucket=aws.bucket, queue_url=aws.queue_url)

    outcome = service.process_batch(kinesis_event(payloads)["Records"], deps, sleep=lambda _: None)

    assert outcome.failed == [] and outcome.received == 3
    assert sorted(_published(aws)) == ["evt-000", "evt-003", "evt-010"]
    lines = _quarantined(aws)
    assert [
        (line["reason"], line["sequence_number"], line["sub_sequence_number"], line["partition_key"]) for line in lines
    ] == [
        ("bad_country", sequence_number(1), 1, "pk-1"),  # the user record's own key, not the aggregate's
        ("not_json", sequence_number(1), 2, "pk-2"),
        ("not_json", sequence_number(2), None, "user-42"),
    ]
    assert [base64.b64decode(line["raw_b64"]) for line in lines] == [bad_country, not_json, b"{plain bad"]
    assert lines[0]["event_id"] == "evt-001" and lines[0]["shard_id"] == SHARD
    assert outcome.by_reason == {Reason.BAD_COUNTRY: 1, Reason.NOT_JSON: 2}


def test_a_user_record_that_fails_to_publish_fails_its_whole_kinesis_record_only(
    aws: Aws, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lambda retries Kinesis records, not user records: the aggregate holding the failed event is
    reported, the others are not, and nothing of it is quarantined."""
    payloads: list[bytes | str] = [
        _aggregate([encode_json(_doc(i)) for i in range(3)]),
        encode_json(_doc(3)),
        _aggregate([encode_json(_doc(i)) for i in range(4, 6)]),
    ]
    original_pack, original_send = service.pack_encoded, service.publish.send_all_with_faults

    def one_per_body(items: Any) -> Any:
        for item in items:
            yield from original_pack([item])

    def refuse_evt_001(sqs: Any, url: str, bodies: list[str], **kwargs: Any) -> tuple[dict[int, str], set[int]]:
        doomed = {i for i, body in enumerate(bodies) if any(e["event_id"] == "evt-001" for e in unpack(body))}
        errors, faults = original_send(sqs, url, [b for i, b in enumerate(bodies) if i not in doomed], **kwargs)
        assert not errors and not faults
        return {i: "ServiceUnavailable" for i in doomed}, set()

    monkeypatch.setattr(service, "pack_encoded", one_per_body)
    monkeypatch.setattr(service.publish, "send_all_with_faults", refuse_evt_001)
    deps = ParseDependencies(s3=aws.s3, sqs=aws.sqs, bucket=aws.bucket, queue_url=aws.queue_url)

    outcome = service.process_batch(kinesis_event(payloads)["Records"], deps, sleep=lambda _: None)

    assert outcome.failed == [sequence_number(0)]
    assert outcome.response() == {"batchItemFailures": [{"itemIdentifier": sequence_number(0)}]}
    assert sorted(_published(aws)) == ["evt-000", "evt-002", "evt-003", "evt-004", "evt-005"]
    assert aws.quarantine_keys() == []


def test_replay_keeps_every_user_record_of_one_kinesis_record_and_drops_repeats() -> None:
    data = _aggregate([encode_json(_doc(0, country="ZZ")), encode_json(_doc(1, currency="EURO"))])
    items = [p.result for p in parse_payload(data, sequence_number="7", arrival=ARRIVAL)]
    assert all(isinstance(i, Quarantined) for i in items)
    lines = [
        quarantine.to_line(i, partition_key="pk", shard_id=SHARD, quarantined_at=ARRIVAL)
        for i in items
        if isinstance(i, Quarantined)
    ]
    body = b"".join(orjson.dumps(line) + b"\n" for line in lines + lines)  # a retried batch wrote them twice
    result = quarantine.replay(body)
    assert sorted(q.reason for q in result.still_bad) == [Reason.BAD_COUNTRY, Reason.BAD_CURRENCY]
    assert [q.sub_sequence_number for q in result.still_bad] == [None, None]  # re-parsed alone: a single record


def test_replay_of_a_damaged_aggregate_splits_it_again_once_it_reads() -> None:
    """A damaged aggregate is kept whole; the same bytes, readable by a fixed parser, give every event."""
    data = _aggregate([encode_json(_doc(0)), encode_json(_doc(1))])
    line = {
        "stage": "parse",
        "reason": "bad_aggregate",
        "raw_b64": base64.b64encode(data).decode(),
        "sequence_number": "7",
        "sub_sequence_number": None,
        "arrival_time": "2024-05-01T10:00:05.123Z",
    }
    result = quarantine.replay(orjson.dumps(line) + b"\n")
    assert [e.event_id for e in result.events] == ["evt-000", "evt-001"]
    assert all(isinstance(e, RiskEvent) for e in result.events) and result.still_bad == []
