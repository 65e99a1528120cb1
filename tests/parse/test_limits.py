"""The limits of ``risk.events.limits`` hold for the canonical event: the widest valid event fits every
column, the SUPER staging column and one SQS message (parse and score envelopes), escaped for SQS."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from risk.common.envelope import encode_item, pack, unpack
from risk.events.limits import (
    COLUMN_BYTES,
    MAX_AMOUNT,
    MAX_BODY_BYTES,
    MAX_EVENT_FIELDS_BYTES,
    MAX_JSON_DEPTH,
    SQS_REFUSED_CHARACTERS,
    SUPER_STAGING_BYTES,
)
from risk.events.model import RiskEvent
from risk.events.reasons import Reason
from risk.events.validate import Rejection, validate
from risk.score.model import Features, Score, ScoredEvent
from tests.parse.conftest import ARRIVAL, valid_event

FOUR_BYTES = "\U0001f600"  # 😀


def _valid(**overrides: Any) -> RiskEvent:
    result = validate(valid_event(**overrides), ingested_at=ARRIVAL)
    assert isinstance(result, RiskEvent), result
    return result


def _rejected(**overrides: Any) -> Rejection:
    result = validate(valid_event(**overrides), ingested_at=ARRIVAL)
    assert isinstance(result, Rejection), result
    return result


@pytest.mark.parametrize("char", ["é", "€", FOUR_BYTES])
def test_ids_fit_their_columns_in_bytes_whatever_the_character_width(char: str) -> None:
    width = COLUMN_BYTES["event_id"]
    fits = char * (width // len(char.encode()))
    event = _valid(event_id=fits, user_id=fits, merchant_id=fits)
    assert len(event.event_id.encode()) <= width
    assert _rejected(event_id=fits + char).reason is Reason.TOO_LONG


def test_event_type_is_measured_after_lower_casing() -> None:
    assert len(("\u0130" * 16).encode()) == 32 and len(("\u0130" * 16).lower().encode()) == 48
    assert _rejected(event_type="\u0130" * 16).reason is Reason.TOO_LONG
    assert _valid(event_type="\u0130" * 10).event_type == ("\u0130" * 10).lower()  # 30 bytes


def _nested(depth: int) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for _ in range(depth - 1):
        doc = {"n": doc}
    return doc


def test_nesting_depth_counts_the_event_object() -> None:
    _valid(metadata=_nested(MAX_JSON_DEPTH - 1))  # metadata is level 2 of the event
    assert _rejected(metadata=_nested(MAX_JSON_DEPTH)).reason is Reason.TOO_DEEP
    assert _rejected(metadata={"a": [[[[_nested(250)]]]]}).reason is Reason.TOO_DEEP  # beyond orjson's 254
    wide = {f"k{i}": [{"a": [1]}] for i in range(500)}  # many brackets, shallow: the walk says fine
    _valid(metadata=wide)


def test_unknown_fields_count_towards_depth_and_size() -> None:
    doc = valid_event(metadata=None)
    doc["extra"] = _nested(MAX_JSON_DEPTH - 2)  # metadata._extra.extra: two levels more
    result = validate(doc, ingested_at=ARRIVAL)
    assert isinstance(result, Rejection) and result.reason is Reason.TOO_DEEP


def test_future_timestamps_within_the_tolerance_pass_and_beyond_it_are_quarantined() -> None:
    at = datetime(2024, 5, 1, 10, 0, 5, 123000, tzinfo=UTC)
    assert at == ARRIVAL
    ok = validate(valid_event(occurred_at="2024-05-01T10:05:05Z"), ingested_at=ARRIVAL, clock_skew_tolerance_s=300)
    assert isinstance(ok, RiskEvent)
    late = validate(valid_event(occurred_at="2024-05-01T10:05:06Z"), ingested_at=ARRIVAL, clock_skew_tolerance_s=300)
    assert isinstance(late, Rejection) and late.reason is Reason.FUTURE_TIMESTAMP
    strict = validate(valid_event(occurred_at="2024-05-01T10:00:06Z"), ingested_at=ARRIVAL, clock_skew_tolerance_s=0)
    assert isinstance(strict, Rejection) and strict.reason is Reason.FUTURE_TIMESTAMP


def test_extreme_amounts_are_valid_and_within_the_column() -> None:
    """amount is DECIMAL(18, 4): 10^12 fits, and the column rounds what is below its scale (1e-300 -> 0)."""
    assert _valid(amount=MAX_AMOUNT).amount == MAX_AMOUNT < 1e14
    assert _valid(amount=1e-300).amount == 1e-300
    assert _valid(amount=0).amount == 0.0
    assert _rejected(amount=MAX_AMOUNT * 10).reason is Reason.OUT_OF_RANGE


def _widest_event() -> dict[str, Any]:
    """Every field at its limit, in the characters that cost most once encoded (C0 controls: 6 bytes each)."""
    control = "\x01"
    return valid_event(
        event_id=control * COLUMN_BYTES["event_id"],
        user_id=control * COLUMN_BYTES["user_id"],
        event_type=control * COLUMN_BYTES["event_type"],
        merchant_id=control * COLUMN_BYTES["merchant_id"],
        device_id=control * 128,
        email=("\x01" * 120) + "@" + ("d" * 60) + ".example",
        ip="fe80:0000:0000:0000:0204:61ff:fe9d:f156%eth0",
        occurred_at="2024-05-01T12:00:00.123456789+02:00",
        amount=123456789012.3456,
        geo={"lat": -89.99999999999999, "lon": -179.99999999999997},
        metadata={"pad": ""},
    )


def test_every_field_but_metadata_fits_the_declared_bound() -> None:
    event = _valid(**{k: v for k, v in _widest_event().items() if k != "metadata"})
    fields = {**event.to_dict(), "metadata": {}}
    assert len(orjson.dumps(fields)) <= MAX_EVENT_FIELDS_BYTES


def _at_the_metadata_limit(char: str) -> dict[str, Any]:
    base = len(orjson.dumps({"pad": ""}))
    count = (SUPER_STAGING_BYTES - base) // len(orjson.dumps(char)[1:-1])
    return {"pad": char * count}


@pytest.mark.parametrize("char", ["x", "\ufffe", "\x01", FOUR_BYTES])
def test_the_largest_valid_event_fits_one_message_in_both_envelopes(char: str) -> None:
    metadata = _at_the_metadata_limit(char)
    assert len(orjson.dumps(metadata)) <= SUPER_STAGING_BYTES
    doc = {**_widest_event(), "metadata": metadata}
    # not through Kinesis (the record limit is 64 KiB): the validator is what is under test here
    event = validate(doc, ingested_at=ARRIVAL)
    assert isinstance(event, RiskEvent)
    top = 1e16 - 2
    flags = (True, True, True, True)
    features = Features(9, 99, 999, top, top, top, -50.0, 1e16, 20015.1, 1e5, 1e9, True, True, 23, *flags)
    scored = ScoredEvent(
        event, features, Score(0.999, "high", "m" * 64, ("r" * 40,) * 20, (-1.2345678901234567e-05,) * 20)
    )
    for item in (event.to_dict(), scored.to_dict()):
        encoded = encode_item(item)  # raises if it does not fit one message
        assert len(encoded) < MAX_BODY_BYTES
        (body,) = pack([item])
        assert SQS_REFUSED_CHARACTERS.search(body) is None
        assert unpack(body) == [orjson.loads(orjson.dumps(item))]
    one_more = {"pad": metadata["pad"] + char}
    assert _rejected(metadata=one_more).reason is Reason.TOO_LARGE


_TEXT = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)),
        st.sampled_from(["\ufffe", "\uffff", "\x01", "\x1f", "\u0130", "\U0001f600"]),
    ),
    max_size=40,
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_TEXT, children, max_size=4),
    max_leaves=60,
)


def _deep(value: Any, depth: int) -> Any:
    for _ in range(depth):
        value = [value]
    return value


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    metadata=st.dictionaries(_TEXT, _JSON, max_size=5),
    depth=st.sampled_from([0, 10, 61, 62, 63, 200, 260]),
    event_type=_TEXT,
    ids=_TEXT,
)
def test_whatever_the_validator_accepts_travels_every_stage(
    metadata: dict[str, Any], depth: int, event_type: str, ids: str
) -> None:
    """Valid implies: fits its columns in bytes, its SUPER staging column, and one SQS message per stage."""
    doc = valid_event(metadata={**metadata, "deep": _deep(1, depth)})
    doc["event_type"] = event_type or "x"
    doc["merchant_id"] = ids or "m"
    result = validate(doc, ingested_at=ARRIVAL)
    if isinstance(result, Rejection):
        return
    assert len(result.event_type.encode()) <= COLUMN_BYTES["event_type"]
    assert result.merchant_id is None or len(result.merchant_id.encode()) <= COLUMN_BYTES["merchant_id"]
    assert len(orjson.dumps(result.metadata, option=orjson.OPT_SORT_KEYS)) <= SUPER_STAGING_BYTES
    features = Features(
        1, 1, 1, 1.0, 1.0, 1.0, None, None, None, None, None, False, False, 0, False, False, False, False
    )
    scored = ScoredEvent(result, features, Score(0.5, "medium", "lr-v1", ()))
    for item in (result.to_dict(), scored.to_dict()):
        (body,) = pack([item])
        assert SQS_REFUSED_CHARACTERS.search(body) is None
        assert unpack(body) == [orjson.loads(orjson.dumps(item))]
