"""Bytes of one Kinesis record -> a :class:`RiskEvent` or a :class:`Quarantined` record. Never raises.

Order of checks: size (empty, oversize), then the encoding (Avro by its single-object marker, else
UTF-8 JSON), then the contract (``risk.events.validate``). A record that fails is kept whole, with
a machine-readable reason, so a fixed parser can replay it (``risk.parse.quarantine``).

A Kinesis record the Kinesis Producer Library aggregated (``risk.parse.kpl``) carries many user
records: :func:`parse_payload` splits it and parses each user record on its own, so one bad event
quarantines that event alone (with its sub-sequence number), never its neighbours.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from risk.events import avro
from risk.events.limits import DEFAULT_CLOCK_SKEW_TOLERANCE_S, MAX_EVENT_BYTES, MAX_ID_LENGTH
from risk.events.model import RiskEvent
from risk.events.reasons import Reason
from risk.events.validate import DEFAULT_SCHEMA_VERSION, Rejection, validate
from risk.parse import kpl

# Bump when a change would parse some recorded input differently; quarantine records carry it,
# so a replay can tell which parser rejected a record.
PARSER_VERSION = "1.0.0"
_UTF8_BOM = b"\xef\xbb\xbf"
_MAX_DETAIL = 200


@dataclass(frozen=True, slots=True)
class Quarantined:
    """A record that did not parse, with everything needed to find, explain and replay it."""

    reason: Reason
    detail: str
    raw: bytes  # the record's bytes (for bad_base64: the UTF-8 of the Kinesis data text as received)
    sequence_number: str
    arrival: datetime  # Kinesis approximate arrival time, UTC
    event_id: str | None = None  # when the document had a usable one: the log's correlation id
    sub_sequence_number: int | None = None  # the user record's index in a KPL aggregate; None: not aggregated


@dataclass(frozen=True, slots=True)
class Parsed:
    """One user record's outcome: a Kinesis record carries one, or many when KPL-aggregated."""

    result: RiskEvent | Quarantined
    raw: bytes  # the user record's bytes (what a quarantine line keeps and a replay re-parses)
    sub_sequence_number: int | None = None
    partition_key: str | None = None  # a user record's own key in an aggregate; None: the Kinesis record's


def parse_record(
    data: bytes,
    *,
    sequence_number: str,
    arrival: datetime,
    clock_skew_tolerance_s: float = DEFAULT_CLOCK_SKEW_TOLERANCE_S,
) -> RiskEvent | Quarantined:
    """Decode and validate one record's bytes. Total: any input gives an event or a quarantine."""
    arrival = arrival.astimezone(UTC)
    try:
        return _parse(data, sequence_number, arrival, clock_skew_tolerance_s)
    except Exception as exc:  # a parser bug must not fail the neighbours: keep the record for replay
        detail = f"{type(exc).__name__}: {exc}"[:_MAX_DETAIL]
        return Quarantined(Reason.PARSER_ERROR, detail, bytes(data), sequence_number, arrival)


def parse_kinesis_data(
    b64: Any,
    *,
    sequence_number: str,
    arrival: datetime,
    clock_skew_tolerance_s: float = DEFAULT_CLOCK_SKEW_TOLERANCE_S,
) -> RiskEvent | Quarantined:
    """The ``kinesis.data`` field of a Lambda event record (base64 text) -> as :func:`parse_record`."""
    if not isinstance(b64, str):
        raw = b"" if b64 is None else repr(b64).encode()
        return Quarantined(Reason.BAD_BASE64, "data is not a string", raw, sequence_number, arrival.astimezone(UTC))
    try:
        data = base64.b64decode(b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raw = b64.encode("utf-8", "surrogatepass")
        detail = f"data is not valid base64: {exc}"[:_MAX_DETAIL]
        return Quarantined(Reason.BAD_BASE64, detail, raw, sequence_number, arrival.astimezone(UTC))
    return parse_record(
        data, sequence_number=sequence_number, arrival=arrival, clock_skew_tolerance_s=clock_skew_tolerance_s
    )


def parse_kinesis_payload(
    b64: Any,
    *,
    sequence_number: str,
    arrival: datetime,
    clock_skew_tolerance_s: float = DEFAULT_CLOCK_SKEW_TOLERANCE_S,
) -> list[Parsed]:
    """The ``kinesis.data`` field -> one outcome per user record (many for a KPL aggregate)."""
    if isinstance(b64, str):
        try:
            data = base64.b64decode(b64, validate=True)
        except (binascii.Error, ValueError):
            data = None
        if data is not None:
            return parse_payload(
                data, sequence_number=sequence_number, arrival=arrival, clock_skew_tolerance_s=clock_skew_tolerance_s
            )
    bad = parse_kinesis_data(b64, sequence_number=sequence_number, arrival=arrival)  # the bad_base64 quarantine
    assert isinstance(bad, Quarantined)
    return [Parsed(bad, bad.raw)]


def parse_payload(
    data: bytes,
    *,
    sequence_number: str,
    arrival: datetime,
    clock_skew_tolerance_s: float = DEFAULT_CLOCK_SKEW_TOLERANCE_S,
) -> list[Parsed]:
    """A Kinesis record's bytes -> one outcome per user record; a damaged aggregate is quarantined whole."""
    if not kpl.is_aggregated(data):
        result = parse_record(
            data, sequence_number=sequence_number, arrival=arrival, clock_skew_tolerance_s=clock_skew_tolerance_s
        )
        return [Parsed(result, data)]
    arrival = arrival.astimezone(UTC)
    try:
        records = kpl.deaggregate(data)
    except kpl.AggregateError as exc:
        detail = f"KPL aggregated record: {exc}"[:_MAX_DETAIL]
        return [Parsed(Quarantined(Reason.BAD_AGGREGATE, detail, bytes(data), sequence_number, arrival), data)]
    out: list[Parsed] = []
    for sub, record in enumerate(records):
        result = parse_record(
            record.data, sequence_number=sequence_number, arrival=arrival, clock_skew_tolerance_s=clock_skew_tolerance_s
        )
        if isinstance(result, Quarantined):
            result = _with_sub_sequence(result, sub)
        out.append(Parsed(result, record.data, sub, record.partition_key))
    return out


def _with_sub_sequence(item: Quarantined, sub: int) -> Quarantined:
    return Quarantined(item.reason, item.detail, item.raw, item.sequence_number, item.arrival, item.event_id, sub)


def _parse(data: bytes, sequence_number: str, arrival: datetime, skew_s: float) -> RiskEvent | Quarantined:
    size = len(data)
    if size == 0:
        return Quarantined(Reason.EMPTY_RECORD, "the record has no bytes", b"", sequence_number, arrival)
    if size > MAX_EVENT_BYTES:
        detail = f"{size} bytes, above the {MAX_EVENT_BYTES}-byte event limit"
        return Quarantined(Reason.OVERSIZE, detail, bytes(data), sequence_number, arrival)
    if kpl.is_aggregated(data):  # deaggregation is parse_payload's: here, one event was expected
        detail = "a KPL aggregated record where one event was expected (nested, or not split)"
        return Quarantined(Reason.BAD_AGGREGATE, detail, bytes(data), sequence_number, arrival)

    default_version = DEFAULT_SCHEMA_VERSION
    if avro.is_avro(data):
        try:
            doc, schema = avro.decode(data)
        except avro.AvroDecodeError as exc:
            return Quarantined(exc.reason, exc.detail, bytes(data), sequence_number, arrival)
        default_version = schema.version
    else:
        body = data[3:] if data[:3] == _UTF8_BOM else data
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            return _undecodable(data, exc, sequence_number, arrival)
        if type(doc) is not dict:
            detail = f"the JSON document is {_kind(doc)}, not an object"
            return Quarantined(Reason.NOT_AN_OBJECT, detail, bytes(data), sequence_number, arrival)

    result = validate(doc, ingested_at=arrival, default_schema_version=default_version, clock_skew_tolerance_s=skew_s)
    if isinstance(result, Rejection):
        return Quarantined(
            result.reason, result.detail[:_MAX_DETAIL], bytes(data), sequence_number, arrival, _event_id(doc)
        )
    return result


def _undecodable(data: bytes, exc: Exception, sequence_number: str, arrival: datetime) -> Quarantined:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as utf8_error:
        detail = f"neither Avro nor UTF-8: {utf8_error.reason} at byte {utf8_error.start}"
        return Quarantined(Reason.NOT_UTF8, detail, bytes(data), sequence_number, arrival)
    return Quarantined(Reason.NOT_JSON, f"not JSON: {exc}"[:_MAX_DETAIL], bytes(data), sequence_number, arrival)


def _event_id(doc: dict[str, Any]) -> str | None:
    value = doc.get("event_id")
    if isinstance(value, str) and 0 < len(value.strip()) <= MAX_ID_LENGTH:
        return value.strip()
    return None


def _kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
