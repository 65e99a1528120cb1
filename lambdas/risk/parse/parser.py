"""Bytes of one Kinesis record -> a :class:`RiskEvent` or a :class:`Quarantined` record. Never raises.

Order of checks: size (empty, oversize), then the encoding (Avro by its single-object marker, else
UTF-8 JSON), then the contract (``risk.events.validate``). A record that fails is kept whole, with
a machine-readable reason, so a fixed parser can replay it (``risk.parse.quarantine``).
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


def _parse(data: bytes, sequence_number: str, arrival: datetime, skew_s: float) -> RiskEvent | Quarantined:
    size = len(data)
    if size == 0:
        return Quarantined(Reason.EMPTY_RECORD, "the record has no bytes", b"", sequence_number, arrival)
    if size > MAX_EVENT_BYTES:
        detail = f"{size} bytes, above the {MAX_EVENT_BYTES}-byte event limit"
        return Quarantined(Reason.OVERSIZE, detail, bytes(data), sequence_number, arrival)

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
