"""Quarantine lines and replay with the (fixed) parser."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from risk.common.archive import jsonl, read_jsonl
from risk.events.codec import encode_avro, encode_json
from risk.events.model import RiskEvent
from risk.events.reasons import Reason
from risk.parse import parser, quarantine
from risk.parse.parser import PARSER_VERSION, Quarantined, parse_kinesis_data, parse_record
from tests.parse.conftest import ARRIVAL, SHARD, sequence_number, valid_event

NOW = datetime(2024, 5, 1, 10, 0, 6, tzinfo=UTC)


def _line(item: Quarantined) -> dict[str, object]:
    return quarantine.to_line(item, partition_key="user-42", shard_id=SHARD, quarantined_at=NOW)


def test_a_line_carries_everything_needed_to_explain_and_replay() -> None:
    raw = encode_json(valid_event(currency="EURO"))
    item = parse_record(raw, sequence_number=sequence_number(3), arrival=ARRIVAL)
    assert isinstance(item, Quarantined)
    assert _line(item) == {
        "stage": "parse",
        "reason": "bad_currency",
        "detail": "currency 'EURO' is not an ISO 4217 code",
        "raw_b64": base64.b64encode(raw).decode(),
        "sequence_number": sequence_number(3),
        "sub_sequence_number": None,
        "partition_key": "user-42",
        "shard_id": SHARD,
        "event_id": "evt-0001",
        "arrival_time": "2024-05-01T10:00:05.123Z",
        "quarantined_at": "2024-05-01T10:00:06.000Z",
        "parser_version": PARSER_VERSION,
    }


def test_the_object_key_is_per_batch_and_deterministic() -> None:
    key = quarantine.object_key(ARRIVAL, SHARD, sequence_number(0), sequence_number(9))
    assert key == f"quarantine/date=2024-05-01/{SHARD}-{sequence_number(0)}-{sequence_number(9)}.jsonl"


def test_replay_with_a_fixed_parser_recovers_events_and_keeps_the_still_bad(monkeypatch: pytest.MonkeyPatch) -> None:
    good = encode_avro(valid_event(event_id="evt-good"))
    still_bad = b"not json at all"
    bad_b64 = "@@not-base64@@"
    # A parser "bug" quarantined a good record; two records are bad for real.
    monkeypatch.setattr(parser, "validate", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("bug")))
    buggy = parse_record(good, sequence_number=sequence_number(1), arrival=ARRIVAL)
    monkeypatch.undo()
    assert isinstance(buggy, Quarantined) and buggy.reason == Reason.PARSER_ERROR
    items = [
        buggy,
        parse_record(still_bad, sequence_number=sequence_number(2), arrival=ARRIVAL),
        parse_kinesis_data(bad_b64, sequence_number=sequence_number(3), arrival=ARRIVAL),
        buggy,  # the same record quarantined twice (a batch retried from an earlier checkpoint)
    ]
    body = jsonl(_line(q) for q in items if isinstance(q, Quarantined))

    result = quarantine.replay(body)

    assert [e.event_id for e in result.events] == ["evt-good"]
    replayed = result.events[0]
    assert isinstance(replayed, RiskEvent)
    assert replayed.ingested_at == datetime(2024, 5, 1, 10, 0, 5, 123000, tzinfo=UTC)
    assert [(q.reason, q.sequence_number) for q in result.still_bad] == [
        (Reason.NOT_JSON, sequence_number(2)),
        (Reason.BAD_BASE64, sequence_number(3)),
    ]
    assert [q.raw for q in result.still_bad] == [still_bad, bad_b64.encode()]


def test_written_objects_are_json_lines() -> None:
    item = parse_record(b"", sequence_number=sequence_number(0), arrival=ARRIVAL)
    assert isinstance(item, Quarantined)
    body = jsonl([_line(item), _line(item)])
    assert body.count(b"\n") == 2 and [line["reason"] for line in read_jsonl(body)] == ["empty_record"] * 2
