"""Malformed Kinesis records, one kind per quarantine reason, each labelled with the reason expected.

Used by ``make demo`` (about 2% of the traffic) and by the drills, which check that every one of them
is quarantined with exactly this reason. ``bad_base64`` is not here: a record that went through
PutRecords always arrives base64-encoded correctly, so only a hand-made Lambda event can carry it
(the parse handler's own tests cover it).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from risk.events.codec import encode_avro
from risk.events.limits import MAX_EVENT_BYTES, MAX_ID_LENGTH
from risk.events.reasons import Reason

AVRO_MARKER = b"\xc3\x01"


@dataclass(frozen=True)
class Malformed:
    reason: Reason
    data: bytes


def _valid(rng: random.Random, n: int) -> dict[str, Any]:
    """A valid event in the wire contract; every malformed record is one of these, broken one way."""
    return {
        "event_id": f"bad-{n:07d}-{rng.getrandbits(32):08x}",
        "user_id": f"u{rng.randrange(10_000):05d}",
        "event_type": "payment",
        "occurred_at": "2026-11-24T10:15:30.250+01:00",
        "amount": round(rng.uniform(1, 500), 2),
        "currency": "EUR",
        "country": "FR",
        "channel": "web",
        "geo": {"lat": 48.85, "lon": 2.35},
    }


def _json(d: dict[str, Any]) -> bytes:
    return json.dumps(d).encode()


def _with(**changes: Any) -> Callable[[dict[str, Any]], bytes]:
    def make(d: dict[str, Any]) -> bytes:
        d.update(changes)
        return _json(d)

    return make


def _without(key: str) -> Callable[[dict[str, Any]], bytes]:
    def make(d: dict[str, Any]) -> bytes:
        d.pop(key)
        return _json(d)

    return make


def _oversize(d: dict[str, Any]) -> bytes:
    d["metadata"] = {"padding": "x" * (MAX_EVENT_BYTES + 1)}
    return _json(d)


def _unknown_fingerprint(d: dict[str, Any]) -> bytes:
    return AVRO_MARKER + b"\x00\x11\x22\x33\x44\x55\x66\x77" + b"\x02\x04ab"


def _avro_decode_error(d: dict[str, Any]) -> bytes:
    good = encode_avro(d)
    return good[:10] + b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"  # a known fingerprint, a broken body


KINDS: dict[Reason, Callable[[dict[str, Any]], bytes]] = {
    Reason.EMPTY_RECORD: lambda d: b"",
    Reason.OVERSIZE: _oversize,
    Reason.NOT_UTF8: lambda d: b"\xff\xfe\x00not text" + bytes(range(0x80, 0x90)),
    Reason.NOT_JSON: lambda d: _json(d)[:-7],
    Reason.NOT_AN_OBJECT: lambda d: json.dumps([d["event_id"], d["user_id"]]).encode(),
    Reason.MISSING_FIELD: _without("user_id"),
    Reason.WRONG_TYPE: _with(amount="12.50"),
    Reason.TOO_LONG: _with(event_id="e" * (MAX_ID_LENGTH + 1)),
    Reason.BAD_TIMESTAMP: _with(occurred_at="2026-11-24 10:15:30"),
    Reason.OUT_OF_RANGE: _with(amount=-5.0),
    Reason.BAD_CURRENCY: _with(currency="E1R"),
    Reason.BAD_COUNTRY: _with(country="F1"),
    Reason.BAD_CHANNEL: _with(channel="fax"),
    Reason.UNSUPPORTED_SCHEMA_VERSION: _with(schema_version=99),
    Reason.UNKNOWN_FINGERPRINT: _unknown_fingerprint,
    Reason.AVRO_DECODE_ERROR: _avro_decode_error,
}


def kinds() -> dict[Reason, Callable[[dict[str, Any]], bytes]]:
    """Every kind this module makes: each reason but ``bad_base64``."""
    return dict(KINDS)


def malformed_records(count: int, seed: int = 7) -> list[Malformed]:
    """``count`` malformed records, cycling through every kind so each appears (count >= kinds)."""
    rng = random.Random(seed)
    makers = sorted(kinds().items())
    out = []
    for n in range(count):
        reason, make = makers[n % len(makers)]
        out.append(Malformed(reason, make(_valid(rng, n))))
    rng.shuffle(out)
    return out
