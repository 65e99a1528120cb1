"""Validate and normalise one decoded event document into a :class:`RiskEvent`.

The hot path of the parse stage: hand-written checks on the dict that ``orjson`` (JSON) or
``risk.events.avro`` (Avro) produced, no schema library. Both encodings go through this one
function, so the same event gives the same :class:`RiskEvent` whichever way it was sent.

Rules (``docs/event-contract.md`` is the reader's version):

* Strings are trimmed. A required string that is absent, null or blank is ``missing_field``;
  an optional one that is blank is treated as absent.
* Length limits are in UTF-8 bytes: Redshift's ``VARCHAR(n)`` counts bytes, so a 64-character
  id of accented letters would not fit a 64-"character" column. They are checked on the value as
  stored, i.e. after case mapping (``'İ'.lower()`` is 3 bytes).
* Every limit comes from ``risk.events.limits`` and is checked on the canonical form: ``metadata``
  (with the unknown fields) is measured as ``orjson`` re-encodes it (``1e15`` comes back as
  ``1000000000000000.0``), against the SUPER staging size and the nesting depth.
* ``occurred_at`` later than the arrival time plus the clock-skew tolerance is ``future_timestamp``.
* ``occurred_at`` is RFC 3339 with an offset (``Z`` or ``+hh:mm``); it is normalised to UTC.
* Unknown top-level fields are kept, never dropped: they go into ``metadata["_extra"]``. That key
  is reserved: an event that has unknown fields *and* its own ``metadata["_extra"]`` is rejected
  rather than have one overwrite the other.
* No string may contain a NUL character (PostgreSQL and Redshift cannot store it; one such event
  would fail every load batch it is part of).
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import lru_cache
from socket import AF_INET, inet_ntop, inet_pton
from typing import Any

import orjson

from risk.events.countries import ISO_3166_ALPHA2
from risk.events.limits import (
    COLUMN_BYTES,
    DEFAULT_CLOCK_SKEW_TOLERANCE_S,
    EARLIEST_YEAR,
    LATEST_YEAR,
    MAX_AMOUNT,
    MAX_DEVICE_ID_BYTES,
    MAX_EMAIL_BYTES,
    MAX_ID_LENGTH,
    MAX_IP_CHARS,
    MAX_JSON_DEPTH,
    SUPER_STAGING_BYTES,
)
from risk.events.model import CHANNELS, Geo, RiskEvent
from risk.events.reasons import Reason

SUPPORTED_SCHEMA_VERSIONS = frozenset({1})
DEFAULT_SCHEMA_VERSION = 1
EXTRA_KEY = "_extra"  # metadata key that holds unknown top-level fields
MAX_CODE_BYTES = 64  # country and channel: longer is still "not a code", checked against the list
_EVENT_TYPE_BYTES = COLUMN_BYTES["event_type"]
_MERCHANT_ID_BYTES = COLUMN_BYTES["merchant_id"]
# metadata is level 2 of the event: its own depth may be at most MAX_JSON_DEPTH - 1.
_METADATA_DEPTH = MAX_JSON_DEPTH - 1

KNOWN_FIELDS = frozenset(
    {
        "event_id",
        "user_id",
        "event_type",
        "occurred_at",
        "schema_version",
        "amount",
        "currency",
        "ip",
        "geo",
        "country",
        "device_id",
        "merchant_id",
        "channel",
        "email",
        "metadata",
    }
)

_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))?"
)
_EMAIL = re.compile(r"[^@\s]+@[^@\s.]+(?:\.[^@\s.]+)+")
_CHANNELS = frozenset(CHANNELS)
# \u0000 in orjson output, not preceded by an escaped backslash (the text "\\u0000" is harmless)
_ESCAPED_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a document is not a valid event: a machine-readable reason and a human detail."""

    reason: Reason
    detail: str


class _Reject(Exception):  # noqa: N818 - internal control flow, never escapes this module
    def __init__(self, reason: Reason, detail: str) -> None:
        self.reason = reason
        self.detail = detail


def validate(
    doc: dict[str, Any],
    *,
    ingested_at: datetime,
    default_schema_version: int = DEFAULT_SCHEMA_VERSION,
    clock_skew_tolerance_s: float = DEFAULT_CLOCK_SKEW_TOLERANCE_S,
) -> RiskEvent | Rejection:
    """The normalised event, or the first rule it breaks. Never raises for a dict of JSON values.

    ``clock_skew_tolerance_s``: how far after ``ingested_at`` (the arrival time) ``occurred_at`` may be.
    """
    ingested_at = ingested_at.astimezone(UTC)
    try:
        return _build(doc, ingested_at, ingested_at + _tolerance(clock_skew_tolerance_s), default_schema_version)
    except _Reject as exc:
        return Rejection(exc.reason, exc.detail)


@lru_cache(maxsize=8)
def _tolerance(seconds: float) -> timedelta:
    """The skew tolerance as a timedelta, built once: constructing one per event costs more than the check."""
    return timedelta(seconds=seconds)


def _build(doc: dict[str, Any], ingested_at: datetime, latest: datetime, default_version: int) -> RiskEvent:
    event_id = _required_text(doc, "event_id", MAX_ID_LENGTH)
    user_id = _required_text(doc, "user_id", MAX_ID_LENGTH)
    # Case mapping can change the byte length ('İ' lower-cases to 3 bytes): measure what is stored.
    event_type = _required_text(doc, "event_type", 4 * _EVENT_TYPE_BYTES).lower()
    _fits("event_type", event_type, _EVENT_TYPE_BYTES)
    occurred_at = _timestamp(doc.get("occurred_at"))
    if occurred_at > latest:
        raise _Reject(
            Reason.FUTURE_TIMESTAMP,
            f"occurred_at is {(occurred_at - ingested_at).total_seconds():.0f} s after its arrival, beyond the "
            f"clock-skew tolerance of {(latest - ingested_at).total_seconds():.0f} s",
        )
    schema_version = _schema_version(doc.get("schema_version"), default_version)
    amount = _amount(doc.get("amount"))
    currency = _currency(doc.get("currency"), amount)
    ip = _ip(doc.get("ip"))
    geo = _geo(doc.get("geo"))
    country = _optional_text(doc, "country", MAX_CODE_BYTES)
    if country is not None:
        country = country.upper()
        if country not in ISO_3166_ALPHA2:
            raise _Reject(Reason.BAD_COUNTRY, f"country {country!r} is not an ISO 3166-1 alpha-2 code")
    device_id = _optional_text(doc, "device_id", MAX_DEVICE_ID_BYTES)
    merchant_id = _optional_text(doc, "merchant_id", _MERCHANT_ID_BYTES)
    channel = _optional_text(doc, "channel", MAX_CODE_BYTES)
    if channel is not None:
        channel = channel.lower()
        if channel not in _CHANNELS:
            raise _Reject(Reason.BAD_CHANNEL, f"channel {channel!r} is not one of {', '.join(CHANNELS)}")
    email = _optional_text(doc, "email", MAX_EMAIL_BYTES)
    if email is not None and _EMAIL.fullmatch(email) is None:
        raise _Reject(Reason.BAD_EMAIL, "email is not of the form local@domain.tld")
    metadata = _metadata(doc)
    return RiskEvent(
        event_id=event_id,
        user_id=user_id,
        event_type=event_type,
        occurred_at=occurred_at,
        ingested_at=ingested_at,
        schema_version=schema_version,
        amount=amount,
        currency=currency,
        ip=ip,
        geo=geo,
        country=country,
        device_id=device_id,
        merchant_id=merchant_id,
        channel=channel,
        email=email,
        metadata=metadata,
    )


def _text(name: str, value: Any, max_bytes: int) -> str:
    if type(value) is not str:
        raise _Reject(Reason.WRONG_TYPE, f"{name} must be a string, got {_type_name(value)}")
    value = _fits(name, value.strip(), max_bytes)
    if "\x00" in value:
        raise _Reject(Reason.WRONG_TYPE, f"{name} contains a NUL character")
    return value


def _fits(name: str, value: str, max_bytes: int) -> str:
    """``value`` if its UTF-8 fits ``max_bytes`` (the character count is a cheap lower bound)."""
    if len(value) > max_bytes or (not value.isascii() and len(value.encode("utf-8", "surrogatepass")) > max_bytes):
        raise _Reject(Reason.TOO_LONG, f"{name} is longer than {max_bytes} bytes")
    return value


def _required_text(doc: dict[str, Any], name: str, max_bytes: int) -> str:
    value = doc.get(name)
    if value is None:
        raise _Reject(Reason.MISSING_FIELD, f"{name} is required")
    text = _text(name, value, max_bytes)
    if not text:
        raise _Reject(Reason.MISSING_FIELD, f"{name} is blank")
    return text


def _optional_text(doc: dict[str, Any], name: str, max_bytes: int) -> str | None:
    value = doc.get(name)
    if value is None:
        return None
    return _text(name, value, max_bytes) or None


def _timestamp(value: Any) -> datetime:
    if value is None:
        raise _Reject(Reason.MISSING_FIELD, "occurred_at is required")
    if type(value) is not str:
        raise _Reject(Reason.WRONG_TYPE, f"occurred_at must be a string, got {_type_name(value)}")
    m = _RFC3339.fullmatch(value.strip())
    if m is None:
        raise _Reject(Reason.BAD_TIMESTAMP, "occurred_at is not an RFC 3339 timestamp")
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = m.groups()
    if zulu is None and sign is None:
        raise _Reject(Reason.BAD_TIMESTAMP, "occurred_at has no UTC offset (add Z or +hh:mm)")
    try:
        try:
            local = datetime.fromisoformat(m.group(0))  # C fast path; the regex has fixed the shape
        except ValueError:  # lower-case t/z, or an invalid value: build it by hand for the precise error
            if zulu is not None:
                tz: timezone = UTC
            else:
                offset = timedelta(hours=int(off_h), minutes=int(off_m))
                tz = timezone(-offset if sign == "-" else offset)
            micro = int((fraction or "0")[:6].ljust(6, "0"))
            local = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tz)
        at = local.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise _Reject(Reason.BAD_TIMESTAMP, f"occurred_at is not a valid instant: {exc}") from None
    if not EARLIEST_YEAR <= at.year < LATEST_YEAR:  # int compare: aware ones are slow
        raise _Reject(Reason.OUT_OF_RANGE, f"occurred_at is outside {EARLIEST_YEAR}-01-01 .. {LATEST_YEAR}-01-01")
    return at


def _schema_version(value: Any, default: int) -> int:
    if value is None:
        return default
    if type(value) is not int:
        raise _Reject(Reason.WRONG_TYPE, f"schema_version must be an integer, got {_type_name(value)}")
    if value not in SUPPORTED_SCHEMA_VERSIONS:
        raise _Reject(Reason.UNSUPPORTED_SCHEMA_VERSION, f"schema_version {value} is not supported")
    return value


def _number(name: str, value: Any) -> float:
    kind = type(value)
    if kind is not float and kind is not int:  # bool is excluded: type(True) is bool
        raise _Reject(Reason.WRONG_TYPE, f"{name} must be a number, got {_type_name(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise _Reject(Reason.OUT_OF_RANGE, f"{name} is too large") from None
    if not math.isfinite(number):
        raise _Reject(Reason.OUT_OF_RANGE, f"{name} must be finite")
    return number + 0.0  # -0.0 -> 0.0: one value, one representation


def _amount(value: Any) -> float | None:
    if value is None:
        return None
    amount = _number("amount", value)
    if not 0.0 <= amount <= MAX_AMOUNT:
        raise _Reject(Reason.OUT_OF_RANGE, f"amount must be between 0 and {MAX_AMOUNT:.0f}")
    return amount


def _currency(value: Any, amount: float | None) -> str | None:
    if value is None:
        if amount is not None:
            raise _Reject(Reason.BAD_CURRENCY, "amount is given without a currency")
        return None
    if type(value) is not str:
        raise _Reject(Reason.WRONG_TYPE, f"currency must be a string, got {_type_name(value)}")
    code = value.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise _Reject(Reason.BAD_CURRENCY, f"currency {code[:8]!r} is not an ISO 4217 code")
    return code


def _ip(value: Any) -> str | None:
    if value is None:
        return None
    text = _text("ip", value, MAX_IP_CHARS)
    if not text:
        return None
    try:  # fast path: a canonical dotted quad is its own normal form (inet_pton is C, ipaddress is not)
        if inet_ntop(AF_INET, inet_pton(AF_INET, text)) == text:
            return text
    except OSError:
        pass
    try:
        return ipaddress.ip_address(text).compressed
    except ValueError:
        raise _Reject(Reason.BAD_IP, "ip is not an IPv4 or IPv6 address") from None


def _geo(value: Any) -> Geo | None:
    if value is None:
        return None
    if type(value) is not dict:
        raise _Reject(Reason.WRONG_TYPE, f"geo must be an object, got {_type_name(value)}")
    if value.keys() - {"lat", "lon"}:
        raise _Reject(Reason.WRONG_TYPE, "geo accepts only lat and lon")
    lat, lon = value.get("lat"), value.get("lon")
    if lat is None or lon is None:
        raise _Reject(Reason.MISSING_FIELD, "geo needs both lat and lon")
    lat_f, lon_f = _number("geo.lat", lat), _number("geo.lon", lon)
    if not -90.0 <= lat_f <= 90.0:
        raise _Reject(Reason.OUT_OF_RANGE, "geo.lat must be within [-90, 90]")
    if not -180.0 <= lon_f <= 180.0:
        raise _Reject(Reason.OUT_OF_RANGE, "geo.lon must be within [-180, 180]")
    return Geo(lat_f, lon_f)


def _metadata(doc: dict[str, Any]) -> dict[str, Any]:
    value = doc.get("metadata")
    if value is None:
        metadata: dict[str, Any] = {}
    elif type(value) is dict:
        metadata = value
    else:
        raise _Reject(Reason.WRONG_TYPE, f"metadata must be an object, got {_type_name(value)}")
    unknown = doc.keys() - KNOWN_FIELDS
    if unknown:
        if EXTRA_KEY in metadata:
            raise _Reject(
                Reason.WRONG_TYPE, f"metadata.{EXTRA_KEY} is reserved for unknown top-level fields, and there are some"
            )
        metadata = {**metadata, EXTRA_KEY: {key: doc[key] for key in sorted(unknown)}}
    if metadata:
        try:
            encoded = orjson.dumps(metadata)  # the canonical form: what every later stage re-encodes
        except orjson.JSONEncodeError as exc:
            if "recursion" in str(exc).lower():
                raise _Reject(Reason.TOO_DEEP, f"metadata is nested deeper than {_METADATA_DEPTH} levels") from None
            # otherwise only reachable from Python callers: JSON and Avro give JSON values
            raise _Reject(Reason.WRONG_TYPE, f"metadata is not JSON-serialisable: {exc}") from None
        if len(encoded) > SUPER_STAGING_BYTES:
            raise _Reject(
                Reason.TOO_LARGE,
                f"metadata is {len(encoded)} bytes as canonical JSON, above the {SUPER_STAGING_BYTES}-byte SUPER limit",
            )
        # Cheap bound first: depth <= number of brackets (in C); walk only a document that might be deep.
        if encoded.count(b"{") + encoded.count(b"[") > _METADATA_DEPTH and _depth(metadata) > _METADATA_DEPTH:
            raise _Reject(Reason.TOO_DEEP, f"metadata is nested deeper than {_METADATA_DEPTH} levels")
        if b"\\u0000" in encoded and _ESCAPED_NUL.search(encoded):
            raise _Reject(Reason.WRONG_TYPE, "metadata contains a NUL character")
    return metadata


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value (a scalar is 0, ``{}`` is 1), iteratively: no recursion limit."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, level = stack.pop()
        kind = type(node)
        if kind is dict:
            children: Any = node.values()
        elif kind is list:
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if deepest > _METADATA_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children if type(child) is dict or type(child) is list)
    return deepest


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__
