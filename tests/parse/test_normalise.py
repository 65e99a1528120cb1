"""Normalisation, the JSON/Avro equivalence, and properties of the parser over generated input."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from risk.events import avro
from risk.events.codec import encode_avro, encode_json
from risk.events.model import RiskEvent
from risk.events.reasons import Reason
from risk.events.validate import EXTRA_KEY, Rejection, validate
from risk.parse.parser import Quarantined, parse_record
from tests.parse.conftest import ARRIVAL, valid_event

SEQ = "49590000000000000000000000000000000000000000000000000007"


def parse(data: bytes) -> RiskEvent | Quarantined:
    return parse_record(data, sequence_number=SEQ, arrival=ARRIVAL)


def parsed(doc: dict[str, Any]) -> RiskEvent:
    result = parse(encode_json(doc))
    assert isinstance(result, RiskEvent), result
    return result


def test_a_full_event_normalised() -> None:
    event = parsed(
        valid_event(
            event_id="  evt-0001 ",
            event_type=" Payment",
            occurred_at="2024-05-01T12:00:00.250+02:00",
            currency=" eur ",
            country="de",
            channel="APP",
            ip="2001:0DB8:0000:0000:0000:0000:0000:0001",
            email="  alice@example.test ",
            amount=0,
        )
    )
    assert event.to_dict() == {
        "event_id": "evt-0001",
        "user_id": "user-42",
        "event_type": "payment",
        "occurred_at": "2024-05-01T10:00:00.250Z",
        "ingested_at": "2024-05-01T10:00:05.123Z",
        "schema_version": 1,
        "amount": 0.0,
        "currency": "EUR",
        "ip": "2001:db8::1",
        "geo": {"lat": 52.52, "lon": 13.405},
        "country": "DE",
        "device_id": "device-abc",
        "merchant_id": "m-17",
        "channel": "app",
        "email": "alice@example.test",
        "metadata": {"campaign": "spring", "nested": {"a": [1, 2]}},
    }
    assert event.occurred_at.tzinfo is UTC and event.ingested_at.tzinfo is UTC


def test_timezones_normalise_to_utc() -> None:
    cases = {
        "2024-05-01T00:30:00-05:30": datetime(2024, 5, 1, 6, 0, tzinfo=UTC),
        "2024-05-01t00:30:00z": datetime(2024, 5, 1, 0, 30, tzinfo=UTC),
        "2024-05-01 00:30:00+00:00": datetime(2024, 5, 1, 0, 30, tzinfo=UTC),
        "2024-01-01T01:00:00.123456789+14:00": datetime(2023, 12, 31, 11, 0, 0, 123456, tzinfo=UTC),
        "2024-05-01T00:30:00.5Z": datetime(2024, 5, 1, 0, 30, 0, 500000, tzinfo=UTC),
    }
    for text, expected in cases.items():
        assert parsed(valid_event(occurred_at=text)).occurred_at == expected, text


def test_minimal_event_defaults() -> None:
    doc = {"event_id": "e", "user_id": "u", "event_type": "login", "occurred_at": "2024-05-01T00:00:00Z"}
    event = parsed(doc)
    assert (event.schema_version, event.amount, event.currency, event.geo, event.metadata) == (1, None, None, None, {})


def test_blank_optional_strings_are_absent_and_nulls_are_absent() -> None:
    event = parsed(valid_event(device_id="  ", merchant_id="", ip=" ", metadata=None) | {"email": None})
    assert (event.device_id, event.merchant_id, event.ip, event.email, event.metadata) == (None, None, None, None, {})


def test_event_type_is_any_short_string_lower_cased() -> None:
    assert parsed(valid_event(event_type="Chargeback_Dispute")).event_type == "chargeback_dispute"


def test_negative_zero_and_integers_become_one_float() -> None:
    assert math.copysign(1, parsed(valid_event(amount=-0.0)).amount or 0.0) == 1.0
    assert parsed(valid_event(amount=12)).amount == 12.0


def test_unknown_top_level_fields_are_kept_in_metadata() -> None:
    event = parsed(valid_event(referrer="newsletter", risk_hint={"x": 1}))
    assert event.metadata == {
        "campaign": "spring",
        "nested": {"a": [1, 2]},
        EXTRA_KEY: {"referrer": "newsletter", "risk_hint": {"x": 1}},
    }


def test_metadata_is_kept_as_is() -> None:
    metadata = {"a": [1, 2.5, None, True, {"b": "\u00e9\U0001f600"}], "  spaced  ": " kept ", "text": "\\u0000"}
    assert parsed(valid_event(metadata=metadata)).metadata == metadata


def test_a_utf8_bom_is_tolerated() -> None:
    assert isinstance(parse(b"\xef\xbb\xbf" + encode_json(valid_event())), RiskEvent)


def test_json_and_avro_of_the_same_event_are_identical_downstream() -> None:
    for doc in (
        valid_event(),
        valid_event(referrer="newsletter", metadata=None),
        {"event_id": "e", "user_id": "u", "event_type": "LOGIN", "occurred_at": "2024-05-01T00:00:00+01:00"},
        valid_event(amount=10, geo={"lat": -90, "lon": 180}, email=None, ip="::ffff:10.0.0.1"),
    ):
        from_json, from_avro = parse(encode_json(doc)), parse(encode_avro(doc))
        assert isinstance(from_json, RiskEvent) and isinstance(from_avro, RiskEvent)
        assert from_json.to_dict() == from_avro.to_dict()
        assert orjson.dumps(from_json.to_dict(), option=orjson.OPT_SORT_KEYS) == orjson.dumps(
            from_avro.to_dict(), option=orjson.OPT_SORT_KEYS
        )


def test_avro_null_schema_version_means_the_schema_files_version() -> None:
    event = parse(encode_avro(valid_event(schema_version=None)))
    assert isinstance(event, RiskEvent) and event.schema_version == avro.latest().version == 1


def test_to_dict_round_trips_through_from_dict() -> None:
    event = parsed(valid_event())
    assert RiskEvent.from_dict(orjson.loads(orjson.dumps(event.to_dict()))).to_dict() == event.to_dict()


# --- properties ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2048))
def test_any_bytes_give_an_event_or_a_quarantine(data: bytes) -> None:
    result = parse(data)
    assert isinstance(result, (RiskEvent, Quarantined))
    if isinstance(result, Quarantined):
        assert result.reason != Reason.PARSER_ERROR, result.detail
        assert result.raw == data


@settings(max_examples=300)
@given(st.binary(max_size=600))
def test_any_avro_body_after_a_known_header_decodes_or_is_quarantined(body: bytes) -> None:
    result = parse(avro.latest().header + body)
    if isinstance(result, Quarantined):
        assert result.reason != Reason.PARSER_ERROR, result.detail


@settings(max_examples=300)
@given(st.data())
def test_mutated_valid_avro_never_breaks_the_parser(data: st.DataObject) -> None:
    raw = bytearray(encode_avro(valid_event()))
    for _ in range(data.draw(st.integers(1, 4))):
        raw[data.draw(st.integers(10, len(raw) - 1))] = data.draw(st.integers(0, 255))
    result = parse(bytes(raw))
    if isinstance(result, Quarantined):
        assert result.reason != Reason.PARSER_ERROR, result.detail


def _mostly(good: st.SearchStrategy[Any], weight: int = 20) -> st.SearchStrategy[Any]:
    """A well-typed value ``weight`` times in ``weight + 1``, else any JSON value (wrong type, null, ...)."""
    return st.integers(0, weight).flatmap(lambda pick: json_values if pick == 0 else good)


_INSTANTS = st.datetimes(datetime(1960, 1, 1), datetime(2100, 12, 31))
_OFFSETS = st.sampled_from(["Z", "+00:00", "-05:30", "+14:00", "-23:59", ""])
near_valid = st.fixed_dictionaries(
    {
        "event_id": _mostly(st.text(min_size=1, max_size=70)),
        "user_id": _mostly(st.text(st.characters(codec="utf-8"), min_size=1, max_size=40)),
        "event_type": _mostly(st.sampled_from(["order", "Payment ", "login", "content_post", "", "x" * 40])),
        "occurred_at": _mostly(st.builds(lambda d, o: d.isoformat() + o, _INSTANTS, _OFFSETS)),
    },
    optional={
        name: _mostly(good, 40)
        for name, good in {
            "schema_version": st.sampled_from([1, 2, 0]),
            "amount": st.floats(-10, 1e13) | st.integers(-5, 10**15),
            "currency": st.sampled_from(["eur", "USD", "usd ", "EU"]),
            "ip": st.ip_addresses().map(str) | st.text(max_size=10),
            "geo": st.fixed_dictionaries({"lat": st.floats(-100, 100), "lon": st.floats(-200, 200)}),
            "country": st.sampled_from(["de", "US", "XX", "GBR"]),
            "channel": st.sampled_from(["web", "APP", "api", "pos"]),
            "email": st.sampled_from(["a@b.example", " Bob.Smith@Mail.TEST ", "nobody", "a@b"]),
            "metadata": st.dictionaries(st.text(max_size=5), json_values, max_size=3),
            "unexpected": json_values,
        }.items()
    },
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid)
def test_near_valid_documents_give_a_normalised_event_or_a_precise_reason(doc: dict[str, Any]) -> None:
    result = parse(encode_json(doc))
    event(f"outcome: {result.reason if isinstance(result, Quarantined) else 'event'}")
    if isinstance(result, Quarantined):
        assert result.reason != Reason.PARSER_ERROR, result.detail
        return
    # Whatever got through satisfies the contract's invariants.
    assert result.event_id == result.event_id.strip() and 0 < len(result.event_id.encode()) <= 64
    assert result.event_type == result.event_type.lower()
    assert result.occurred_at.tzinfo is UTC
    assert result.currency is None or (len(result.currency) == 3 and result.currency.isupper())
    assert (result.amount is None) or (result.currency is not None and 0 <= result.amount <= 1e12)
    assert result.channel in (None, "web", "app", "api")
    if "unexpected" in doc:
        assert result.metadata[EXTRA_KEY] == {"unexpected": doc["unexpected"]}
    # The stage's wire form re-serialises, and the Avro encoding of the same document agrees.
    orjson.dumps(result.to_dict())
    try:
        as_avro = encode_avro(doc)
    except (ValueError, TypeError):
        return  # not representable in the typed schema (e.g. a number where a string belongs)
    assert isinstance(from_avro := parse(as_avro), RiskEvent)
    assert from_avro.to_dict() == result.to_dict()


def test_validate_directly_rejects_python_values_json_cannot_carry() -> None:
    result = validate(valid_event(metadata={"when": object()}), ingested_at=ARRIVAL)
    assert isinstance(result, Rejection) and result.reason == Reason.WRONG_TYPE
    result = validate(valid_event(amount=10**400), ingested_at=ARRIVAL)
    assert isinstance(result, Rejection) and result.reason == Reason.OUT_OF_RANGE
