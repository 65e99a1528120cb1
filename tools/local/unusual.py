"""Contract-valid but unusual events, one labelled kind at a time, each with the outcome it must have.

``tools.local.malformed`` makes records the contract rejects outright; this module makes the ones
that are at (or just past) a limit of a later stage: nesting, sizes that grow when re-encoded,
byte widths that change under case mapping, characters SQS refuses, extreme timestamps and
amounts. Each kind says what must happen to it: ``expected is None`` means *valid: loaded exactly
once*; otherwise the parse stage must quarantine it with exactly that reason. Used by the poison
drill (``tests/drills/test_unusual_mix.py``) and by ``make demo ARGS="--unusual N"``.

A mixed JSON Lines file for ``make demo ARGS="--events FILE"`` or the producer::

    python -m tools.local.unusual --ordinary 1500 --count 50 --out mixed.jsonl
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from risk.events.limits import (
    COLUMN_BYTES,
    MAX_AMOUNT,
    MAX_EVENT_BYTES,
    MAX_ID_LENGTH,
    MAX_JSON_DEPTH,
    SUPER_STAGING_BYTES,
)
from risk.events.reasons import Reason


@dataclass(frozen=True)
class Unusual:
    kind: str
    data: bytes  # the Kinesis record
    event_id: str
    user_id: str
    expected: Reason | None  # None: valid, must be loaded exactly once


@dataclass(frozen=True)
class Kind:
    description: str
    expected: Reason | None
    make: Callable[[dict[str, Any], int, datetime], bytes]  # (a valid base event, n, now) -> record


def _base(rng: random.Random, n: int, now: datetime) -> dict[str, Any]:
    """An ordinary valid event; each kind changes it in one unusual way."""
    return {
        "event_id": f"unusual-{n:06d}-{rng.getrandbits(32):08x}",
        "user_id": f"unusual-user-{rng.randrange(50):03d}",
        "event_type": "payment",
        "occurred_at": (now - timedelta(minutes=rng.randrange(1, 600))).isoformat(),
        "amount": round(rng.uniform(1, 500), 2),
        "currency": "EUR",
        "country": "DE",
        "channel": "app",
        "geo": {"lat": 52.52, "lon": 13.405},
        "device_id": f"dev-{rng.randrange(1000)}",
    }


def _json(d: dict[str, Any]) -> bytes:
    return orjson.dumps(d)


def _nested(depth: int) -> dict[str, Any]:
    """An object ``depth`` levels deep."""
    doc: dict[str, Any] = {"leaf": True}
    for _ in range(depth - 1):
        doc = {"n": doc}
    return doc


def _with(**changes: Any) -> Callable[[dict[str, Any], int, datetime], bytes]:
    def make(d: dict[str, Any], n: int, now: datetime) -> bytes:
        d.update(changes)
        return _json(d)

    return make


def _growing(count: int) -> Callable[[dict[str, Any], int, datetime], bytes]:
    """An array of ``1e15`` as sent (5 bytes each): re-encoded, each is ``1000000000000000.0`` (19)."""

    def make(d: dict[str, Any], n: int, now: datetime) -> bytes:
        d["metadata"] = {"readings": [0] * count}
        return _json(d).replace(b"0,", b"1e15,").replace(b"0]", b"1e15]")

    return make


def _ids(char: str) -> Callable[[dict[str, Any], int, datetime], bytes]:
    """event_id, user_id and merchant_id filling their 64-byte columns exactly with ``char``-wide text."""

    def make(d: dict[str, Any], n: int, now: datetime) -> bytes:
        width = len(char.encode())
        prefix = f"{n:06d}"
        fill = (MAX_ID_LENGTH - len(prefix)) // width
        d["event_id"] = prefix + char * fill
        d["user_id"] = char * (MAX_ID_LENGTH // width)
        d["merchant_id"] = char * (COLUMN_BYTES["merchant_id"] // width)
        return _json(d)

    return make


def _four_byte_ids(d: dict[str, Any], n: int, now: datetime) -> bytes:
    """16 four-byte characters: exactly 64 bytes, distinct per event (the digits of n as emoji)."""
    digits = f"{n:016d}"
    d["event_id"] = "".join(chr(0x1F600 + int(c)) for c in digits)
    d["user_id"] = "\U0001f600" * 16
    return _json(d)


def _four_byte_64_chars(d: dict[str, Any], n: int, now: datetime) -> bytes:
    """64 characters of 4 bytes: 256 bytes for a VARCHAR(64)."""
    d["event_id"] = "".join(chr(0x1F600 + int(c)) for c in f"{n:064d}")
    return _json(d)


def _sqs_refused(d: dict[str, Any], n: int, now: datetime) -> bytes:
    d["metadata"] = {
        "nonchars": "a\ufffeb\uffffc",
        "controls": "".join(chr(c) for c in range(1, 32)) + "\x7f",
        "key\ufffe": ["\uffff", {"\x01": "\x1f"}],
    }
    d["merchant_id"] = "m\uffff\ufffe"
    return _json(d)


def _controls_in_ids(d: dict[str, Any], n: int, now: datetime) -> bytes:
    """C0 controls (not NUL) and DEL inside the text columns themselves, not only in metadata."""
    d["event_id"] = f"ctl\x01\t{n:06d}\x1f\x7f"
    d["user_id"] = "user\x02\x1b[31m"
    d["merchant_id"] = "m\r\n\x0b"
    return _json(d)


def _near_size_limit(d: dict[str, Any], n: int, now: datetime) -> bytes:
    """metadata just under the SUPER staging limit, in a record just under the Kinesis event limit."""
    d["metadata"] = {"pad": ""}
    room = MAX_EVENT_BYTES - len(_json(d)) - 16
    d["metadata"]["pad"] = "x" * min(room, SUPER_STAGING_BYTES - 64)
    return _json(d)


def _timestamp(value: str) -> Callable[[dict[str, Any], int, datetime], bytes]:
    return _with(occurred_at=value)


def _future(seconds: int) -> Callable[[dict[str, Any], int, datetime], bytes]:
    def make(d: dict[str, Any], n: int, now: datetime) -> bytes:
        d["occurred_at"] = (now + timedelta(seconds=seconds)).isoformat()
        return _json(d)

    return make


def _unknown_fields(d: dict[str, Any], n: int, now: datetime) -> bytes:
    d["referrer"] = "newsletter"
    d["experiment"] = {"arm": "b", "weights": [0.25, 0.75], "nested": {"deep": [1, [2, [3]]]}}
    d["flag"] = None
    return _json(d)


def _odd_strings(d: dict[str, Any], n: int, now: datetime) -> bytes:
    """Trimmed, case-mapped fields that change length: 'ß' upper-cases to 'SS', 'İ' lower-cases to 3 bytes."""
    d["event_type"] = "  " + "\u0130" * 10 + "  "  # 30 bytes once lower-cased and trimmed
    d["currency"] = " eur "
    d["country"] = "de"
    d["channel"] = " APP "
    return _json(d)


KINDS: dict[str, Kind] = {
    # -- valid: must be loaded exactly once -----------------------------------------------------
    "deep_metadata_at_limit": Kind(
        f"metadata nested {MAX_JSON_DEPTH - 1} levels: the deepest the contract takes",
        None,
        _with(metadata=_nested(MAX_JSON_DEPTH - 1)),
    ),
    "growing_numbers": Kind("2,500 x 1e15 in metadata: 12 kB sent, 47 kB re-encoded", None, _growing(2_500)),
    "case_mapping_fits": Kind(
        "event_type 'İ' x 10 padded with spaces (30 bytes lower-cased), lower-case codes", None, _odd_strings
    ),
    "sqs_refused_characters": Kind(
        "U+FFFE, U+FFFF and every C0 control in metadata strings and keys, U+FFFF in merchant_id",
        None,
        _sqs_refused,
    ),
    "controls_in_text_columns": Kind(
        "C0 controls and DEL in event_id, user_id and merchant_id", None, _controls_in_ids
    ),
    "max_width_ids_2_byte": Kind("ids filling 64 bytes with 2-byte characters (é)", None, _ids("é")),
    "max_width_ids_3_byte": Kind("ids filling 63 bytes with 3-byte characters (€)", None, _ids("€")),
    "max_width_ids_4_byte": Kind("ids of 16 four-byte characters: exactly 64 bytes", None, _four_byte_ids),
    "metadata_near_size_limit": Kind("metadata of ~65 kB in a record just under 64 KiB", None, _near_size_limit),
    "backfilled_2001": Kind("an event from 2001, backfilled", None, _timestamp("2001-03-04T05:06:07.891Z")),
    "epoch_start": Kind("the first instant the contract takes", None, _timestamp("1970-01-01T00:00:00Z")),
    "nanoseconds_odd_offset": Kind(
        "nanosecond precision and a +05:45 offset", None, _timestamp("2024-02-29T23:59:59.123456789+05:45")
    ),
    "offset_minus_0930": Kind("a -09:30 offset", None, _timestamp("2024-12-31T20:30:00-09:30")),
    "offset_plus_14": Kind("the largest real offset, +14:00", None, _timestamp("2025-01-01T13:59:59+14:00")),
    "future_within_skew": Kind("60 s ahead of the clock: inside the skew tolerance", None, _future(60)),
    "amount_zero": Kind("amount 0", None, _with(amount=0)),
    "amount_max": Kind(f"amount {MAX_AMOUNT:.0f}, the contract's maximum", None, _with(amount=MAX_AMOUNT)),
    "amount_tiny": Kind("amount 1e-300 (stored as 0 at the column's scale)", None, _with(amount=1e-300)),
    "geo_north_pole": Kind("geo at the north pole, on the antimeridian", None, _with(geo={"lat": 90, "lon": 180})),
    "geo_south_pole": Kind("geo at the south pole, on the antimeridian", None, _with(geo={"lat": -90, "lon": -180})),
    "ipv6_with_zone": Kind(
        "an IPv6 link-local address with a zone id", None, _with(ip="fe80::1ff:fe23:4567:890a%eth2")
    ),
    "unknown_top_level_fields": Kind("unknown fields, nested, kept under metadata._extra", None, _unknown_fields),
    # -- invalid: quarantined at parse with exactly this reason ---------------------------------
    "nested_250": Kind(
        "metadata nested 250 levels (orjson stops at 254)", Reason.TOO_DEEP, _with(metadata=_nested(250))
    ),
    "growing_numbers_over_limit": Kind(
        "5,000 x 1e15: 25 kB sent, 100 kB re-encoded, above the SUPER limit", Reason.TOO_LARGE, _growing(5_000)
    ),
    "case_mapping_overflow": Kind(
        "event_type 'İ' x 16: 32 bytes sent, 48 lower-cased", Reason.TOO_LONG, _with(event_type="\u0130" * 16)
    ),
    "four_byte_64_chars": Kind(
        "an event_id of 64 four-byte characters: 256 bytes", Reason.TOO_LONG, _four_byte_64_chars
    ),
    "far_future": Kind("dated 2099", Reason.FUTURE_TIMESTAMP, _timestamp("2099-01-01T00:00:00Z")),
    "future_beyond_skew": Kind("an hour ahead of the clock", Reason.FUTURE_TIMESTAMP, _future(3_600)),
    "amount_above_max": Kind("amount 10^13", Reason.OUT_OF_RANGE, _with(amount=1e13)),
    "nul_in_metadata": Kind("a NUL character in metadata", Reason.WRONG_TYPE, _with(metadata={"note": "a\x00b"})),
}


def unusual_records(count: int, seed: int = 11, now: datetime | None = None) -> list[Unusual]:
    """``count`` unusual records cycling through every kind (each appears when count >= len(KINDS))."""
    rng = random.Random(seed)
    at = (now or datetime.now(UTC)).astimezone(UTC)
    names = sorted(KINDS)
    out = []
    for n in range(count):
        name = names[n % len(names)]
        kind = KINDS[name]
        base = _base(rng, n, at)
        data = kind.make(base, n, at)
        out.append(Unusual(name, data, str(base["event_id"]), str(base["user_id"]), kind.expected))
    rng.shuffle(out)
    return out


def mixed_lines(ordinary: int, count: int, seed: int) -> list[bytes]:
    """``ordinary`` generated events and ``count`` unusual records, shuffled: one record per line."""
    from tools.generator import generate  # noqa: PLC0415 - only the file writer needs the generator

    lines = [orjson.dumps(g.event) for g in generate(ordinary, seed=seed)]
    lines += [u.data for u in unusual_records(count, seed=seed)]  # orjson escapes newlines: one line each
    random.Random(seed).shuffle(lines)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.local.unusual", description="write a mixed JSON Lines file")
    p.add_argument("--ordinary", type=int, default=1500, help="generated ordinary events (default %(default)s)")
    p.add_argument("--count", type=int, default=len(KINDS) * 2, help="unusual records (default %(default)s)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--out", help="file to write (default stdout)")
    args = p.parse_args(argv)
    body = b"".join(line + b"\n" for line in mixed_lines(args.ordinary, args.count, args.seed))
    if args.out:
        with open(args.out, "wb") as out:
            out.write(body)
    else:
        sys.stdout.buffer.write(body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
