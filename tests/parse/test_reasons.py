"""Every quarantine reason code has an input that produces it, through the parser's public entry
points; the codes a document can break are produced from JSON and from Avro alike."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from risk.events import avro
from risk.events.codec import encode_avro, encode_json
from risk.events.limits import MAX_EVENT_BYTES
from risk.events.model import RiskEvent
from risk.events.reasons import Reason
from risk.parse import parser
from risk.parse.parser import Quarantined, parse_kinesis_data, parse_record
from tests.parse.conftest import ARRIVAL, valid_event

SEQ = "49590000000000000000000000000000000000000000000000000001"


def _nested(depth: int) -> dict[str, Any]:
    """An object ``depth`` levels deep: {"n": {"n": ... {}}}."""
    doc: dict[str, Any] = {}
    for _ in range(depth - 1):
        doc = {"n": doc}
    return doc


# Documents that break one rule of the contract: (reason, overrides of the valid event, detail fragment).
DOCUMENT_CASES: list[tuple[Reason, dict[str, Any], str]] = [
    (Reason.MISSING_FIELD, {"user_id": "   "}, "user_id is blank"),
    (Reason.MISSING_FIELD, {"event_type": ""}, "event_type is blank"),
    (Reason.TOO_LONG, {"event_id": "e" * 65}, "event_id is longer than 64 bytes"),
    (Reason.TOO_LONG, {"user_id": "é" * 33}, "user_id is longer than 64 bytes"),  # 33 chars, 66 bytes
    (Reason.TOO_LONG, {"event_type": "x" * 33}, "event_type is longer than 32 bytes"),
    (Reason.TOO_LONG, {"merchant_id": "m" * 65}, "merchant_id"),
    # 16 characters, 32 bytes as sent; lower-cased (as stored) 'i' + U+0307 is 3 bytes each: 48 bytes.
    (Reason.TOO_LONG, {"event_type": "\u0130" * 16}, "event_type is longer than 32 bytes"),
    (Reason.FUTURE_TIMESTAMP, {"occurred_at": "2099-01-01T00:00:00Z"}, "beyond the clock-skew tolerance"),
    (Reason.TOO_DEEP, {"metadata": _nested(70)}, "nested deeper than 63 levels"),
    (Reason.BAD_TIMESTAMP, {"occurred_at": "2024-05-01T12:00:00"}, "no UTC offset"),
    (Reason.BAD_TIMESTAMP, {"occurred_at": "2024-05-01"}, "not an RFC 3339"),
    (Reason.BAD_TIMESTAMP, {"occurred_at": "yesterday"}, "not an RFC 3339"),
    (Reason.BAD_TIMESTAMP, {"occurred_at": "2024-02-30T00:00:00Z"}, "not a valid instant"),
    (Reason.BAD_TIMESTAMP, {"occurred_at": "2024-05-01T12:00:00+24:00"}, "not a valid instant"),
    (Reason.OUT_OF_RANGE, {"occurred_at": "1969-12-31T23:59:59Z"}, "occurred_at is outside"),
    (Reason.OUT_OF_RANGE, {"amount": -0.01}, "amount must be between"),
    (Reason.OUT_OF_RANGE, {"amount": 1e13}, "amount must be between"),
    (Reason.OUT_OF_RANGE, {"geo": {"lat": 90.5, "lon": 0}}, "geo.lat"),
    (Reason.OUT_OF_RANGE, {"geo": {"lat": 0, "lon": -180.01}}, "geo.lon"),
    (Reason.BAD_CURRENCY, {"currency": None}, "amount is given without a currency"),
    (Reason.BAD_CURRENCY, {"currency": "EURO"}, "not an ISO 4217 code"),
    (Reason.BAD_CURRENCY, {"currency": "E1R"}, "not an ISO 4217 code"),
    (Reason.BAD_COUNTRY, {"country": "XK"}, "not an ISO 3166-1 alpha-2 code"),
    (Reason.BAD_COUNTRY, {"country": "DEU"}, "not an ISO 3166-1 alpha-2 code"),
    (Reason.BAD_CHANNEL, {"channel": "pos"}, "not one of web, app, api"),
    (Reason.BAD_IP, {"ip": "300.1.2.3"}, "not an IPv4 or IPv6 address"),
    (Reason.BAD_EMAIL, {"email": "alice@localhost"}, "local@domain.tld"),
    (Reason.BAD_EMAIL, {"email": "a b@example.test"}, "local@domain.tld"),
    (Reason.UNSUPPORTED_SCHEMA_VERSION, {"schema_version": 2}, "schema_version 2 is not supported"),
]
# Wrong JSON types and absent required fields cannot be written with the (typed) Avro schema: JSON only.
JSON_ONLY_CASES: list[tuple[Reason, dict[str, Any], str]] = [
    (Reason.MISSING_FIELD, {"occurred_at": None}, "occurred_at is required"),
    (Reason.MISSING_FIELD, {"event_id": None}, "event_id is required"),
    (Reason.WRONG_TYPE, {"event_id": 17}, "event_id must be a string, got number"),
    (Reason.WRONG_TYPE, {"amount": "12.50"}, "amount must be a number, got string"),
    (Reason.WRONG_TYPE, {"amount": True}, "amount must be a number, got boolean"),
    (Reason.WRONG_TYPE, {"schema_version": "1"}, "schema_version must be an integer"),
    (Reason.WRONG_TYPE, {"schema_version": 1.0}, "schema_version must be an integer"),
    (Reason.WRONG_TYPE, {"geo": [52.5, 13.4]}, "geo must be an object, got array"),
    (Reason.WRONG_TYPE, {"geo": {"lat": 1, "lon": 2, "alt": 3}}, "geo accepts only lat and lon"),
    (Reason.WRONG_TYPE, {"metadata": "campaign=spring"}, "metadata must be an object, got string"),
    (Reason.WRONG_TYPE, {"device_id": "dev\u0000ice"}, "NUL"),
    (Reason.WRONG_TYPE, {"metadata": {"note": "a\u0000b"}}, "metadata contains a NUL"),
    (Reason.WRONG_TYPE, {"metadata": {"_extra": 1}, "unknown_field": 2}, "metadata._extra is reserved"),
    (Reason.MISSING_FIELD, {"geo": {"lat": 1}}, "geo needs both lat and lon"),
]


def _parse(data: bytes) -> RiskEvent | Quarantined:
    return parse_record(data, sequence_number=SEQ, arrival=ARRIVAL)


def _expect(result: RiskEvent | Quarantined, reason: Reason, detail: str = "") -> Quarantined:
    assert isinstance(result, Quarantined), f"expected {reason}, parsed {result}"
    assert result.reason == reason, result.detail
    assert detail in result.detail
    return result


@pytest.mark.parametrize(("reason", "overrides", "detail"), DOCUMENT_CASES + JSON_ONLY_CASES)
def test_json_document_rules(reason: Reason, overrides: dict[str, Any], detail: str) -> None:
    raw = encode_json(valid_event(**overrides))
    q = _expect(_parse(raw), reason, detail)
    assert q.raw == raw
    assert q.sequence_number == SEQ and q.arrival == ARRIVAL


@pytest.mark.parametrize(("reason", "overrides", "detail"), DOCUMENT_CASES)
def test_avro_document_rules(reason: Reason, overrides: dict[str, Any], detail: str) -> None:
    raw = encode_avro(valid_event(**overrides))
    assert avro.is_avro(raw)
    _expect(_parse(raw), reason, detail)


def test_the_event_id_of_a_rejected_document_is_kept_for_the_logs() -> None:
    assert _expect(_parse(encode_json(valid_event(country="XX"))), Reason.BAD_COUNTRY).event_id == "evt-0001"
    assert _expect(_parse(encode_json(valid_event(event_id=None))), Reason.MISSING_FIELD).event_id is None


def test_empty_record() -> None:
    _expect(_parse(b""), Reason.EMPTY_RECORD)


def test_oversize_by_one_byte_and_the_limit_itself() -> None:
    doc = valid_event(metadata={"pad": ""})
    base = len(encode_json(doc))
    at_limit = encode_json(valid_event(metadata={"pad": "x" * (MAX_EVENT_BYTES - base)}))
    assert len(at_limit) == MAX_EVENT_BYTES
    assert isinstance(_parse(at_limit), RiskEvent)
    q = _expect(_parse(at_limit[:-2] + b" " + at_limit[-2:]), Reason.OVERSIZE, str(MAX_EVENT_BYTES + 1))
    assert len(q.raw) == MAX_EVENT_BYTES + 1  # kept whole, for replay


def test_not_utf8() -> None:
    _expect(_parse(b'{"event_id": "\xff\xfe"}'), Reason.NOT_UTF8, "neither Avro nor UTF-8")


def test_not_json() -> None:
    _expect(_parse(b'{"event_id": "e1",'), Reason.NOT_JSON)
    _expect(_parse(b"event_id=e1"), Reason.NOT_JSON)
    _expect(_parse(b'{"amount": NaN}'), Reason.NOT_JSON)


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"[1, 2]", "an array"), (b'"text"', "a string"), (b"null", "null"), (b"42", "a number"), (b"true", "a boolean")],
)
def test_not_an_object(raw: bytes, kind: str) -> None:
    _expect(_parse(raw), Reason.NOT_AN_OBJECT, kind)


def test_unknown_fingerprint() -> None:
    raw = encode_avro(valid_event())
    forged = raw[:2] + bytes(8) + raw[10:]
    _expect(_parse(forged), Reason.UNKNOWN_FINGERPRINT, "0000000000000000")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda raw: raw[:5],  # marker and half a fingerprint
        lambda raw: raw[:40],  # truncated record
        lambda raw: raw + b"\x00",  # a byte after the record
        lambda raw: raw[:10] + b"\x03" + raw[11:],  # event_id length becomes negative (zig-zag -2)
    ],
)
def test_avro_decode_error(mutate: Any) -> None:
    _expect(_parse(mutate(encode_avro(valid_event()))), Reason.AVRO_DECODE_ERROR)


def test_avro_metadata_that_is_not_a_json_object_is_a_wrong_type() -> None:
    record = dict.fromkeys(
        ("schema_version", "amount", "currency", "ip", "geo", "country", "device_id", "merchant_id", "channel", "email")
    )
    record.update(
        event_id="e1", user_id="u1", event_type="login", occurred_at="2024-05-01T00:00:00Z", metadata="not json {"
    )
    _expect(_parse(avro.encode_record(record)), Reason.WRONG_TYPE, "metadata must be an object, got string")


def test_metadata_is_measured_as_re_encoded_not_as_sent() -> None:
    """25 kB as sent, 100 kB re-encoded (``1e15`` -> ``1000000000000000.0``): the canonical size counts."""
    raw = encode_json(valid_event(metadata={"grows": [0] * 5000})).replace(b"0,", b"1e15,")
    assert len(raw) < MAX_EVENT_BYTES
    _expect(_parse(raw), Reason.TOO_LARGE, "above the 65535-byte SUPER limit")
    fits = encode_json(valid_event(metadata={"grows": [0] * 3000})).replace(b"0,", b"1e15,")  # 60 kB re-encoded
    assert isinstance(_parse(fits), RiskEvent)


def test_bad_base64() -> None:
    q = parse_kinesis_data("eyJldmVudF9pZCI6!!", sequence_number=SEQ, arrival=ARRIVAL)
    _expect(q, Reason.BAD_BASE64, "not valid base64")
    assert isinstance(q, Quarantined) and q.raw == b"eyJldmVudF9pZCI6!!"  # the text as received
    _expect(parse_kinesis_data("ZQ", sequence_number=SEQ, arrival=ARRIVAL), Reason.BAD_BASE64)  # bad padding
    _expect(parse_kinesis_data(None, sequence_number=SEQ, arrival=ARRIVAL), Reason.BAD_BASE64)


def test_good_base64_is_parsed() -> None:
    b64 = base64.b64encode(encode_json(valid_event())).decode()
    assert isinstance(parse_kinesis_data(b64, sequence_number=SEQ, arrival=ARRIVAL), RiskEvent)


def test_parser_error_is_the_last_line_of_defence(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise KeyError("a bug")

    monkeypatch.setattr(parser, "validate", broken)
    raw = encode_json(valid_event())
    q = _expect(_parse(raw), Reason.PARSER_ERROR, "KeyError")
    assert q.raw == raw


def test_every_reason_code_is_produced_by_a_test_in_this_module() -> None:
    produced = {reason for reason, _, _ in DOCUMENT_CASES + JSON_ONLY_CASES}
    produced |= {
        Reason.EMPTY_RECORD,
        Reason.OVERSIZE,
        Reason.NOT_UTF8,
        Reason.NOT_JSON,
        Reason.NOT_AN_OBJECT,
        Reason.UNKNOWN_FINGERPRINT,
        Reason.AVRO_DECODE_ERROR,
        Reason.BAD_BASE64,
        Reason.PARSER_ERROR,
        Reason.TOO_LARGE,
        Reason.BAD_AGGREGATE,  # a damaged KPL aggregate: tests/parse/test_kpl.py
        Reason.UNPUBLISHABLE,  # not the parser's: tests/parse/test_isolation.py
        Reason.SCORE_ERROR,  # not the parser's: tests/score/test_isolation.py
    }
    assert produced == set(Reason)


def test_a_json_document_is_the_raw_record_and_not_reencoded() -> None:
    raw = b'{"event_id":"e1","user_id":"u1","event_type":"login","occurred_at":"2024-05-01T00:00:00Z","channel":"tv"}'
    assert _expect(_parse(raw), Reason.BAD_CHANNEL).raw == raw
