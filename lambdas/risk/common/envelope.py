"""Packing many events into few SQS messages.

Queue traffic must not grow as one message per event: events are packed into
message bodies up to ``MAX_BODY_BYTES``. A message is then the unit of retry, which
the idempotent feature state and the MERGE load make safe.
Body: ``{"v": 1, "items": [...]}`` (compact JSON). This module is the single place that builds
message bodies, so it is where SQS's character set is honoured: code points SQS refuses travel as
JSON ``\\uXXXX`` escapes, which :func:`unpack` turns back into the same characters.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from risk.events.limits import MAX_BODY_BYTES

ENVELOPE_VERSION = 1
_OVERHEAD = len(b'{"v":1,"items":[]}')
# SQS refuses U+FFFE and U+FFFF in a body (limits.SQS_REFUSED_CHARACTERS). In orjson's output the
# other refused code points cannot occur: it escapes C0 controls and never emits a lone surrogate.
# These UTF-8 sequences can only be those two characters, and only inside JSON strings.
_SQS_ESCAPES = ((b"\xef\xbf\xbe", b"\\ufffe"), (b"\xef\xbf\xbf", b"\\uffff"))


class EnvelopeError(ValueError):
    """A message body that is not an envelope this code understands, or an item that cannot be one."""


def encode_item(item: dict[str, Any], max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """One item's JSON as it goes into a body: SQS-safe, and small enough for a message of its own.

    Raises :class:`EnvelopeError` for an item that cannot travel (too deep for orjson, not JSON,
    too large), so the caller can set that one item aside instead of failing its neighbours.
    """
    try:
        encoded = orjson.dumps(item)
    except orjson.JSONEncodeError as exc:
        raise EnvelopeError(f"item cannot be encoded: {exc}") from None
    if b"\xef\xbf" in encoded:  # fast path: the prefix of both refused characters
        for raw, escaped in _SQS_ESCAPES:
            encoded = encoded.replace(raw, escaped)
    if len(encoded) + _OVERHEAD > max_bytes:
        raise EnvelopeError(f"one item is {len(encoded)} bytes, above the message limit {max_bytes}")
    return encoded


def pack(items: Iterable[dict[str, Any]], max_bytes: int = MAX_BODY_BYTES) -> Iterator[str]:
    """Yield message bodies, each holding as many items as fit in ``max_bytes``."""
    for body, _count in pack_counted(items, max_bytes):
        yield body


def pack_counted(items: Iterable[dict[str, Any]], max_bytes: int = MAX_BODY_BYTES) -> Iterator[tuple[str, int]]:
    """Like :func:`pack`, with the number of items in each body (items keep their order).

    A sender that must fail exactly the inputs of a message SQS rejected maps bodies back to items
    with the counts. Raises :class:`EnvelopeError` on an item that cannot travel; callers that must
    isolate such an item encode with :func:`encode_item` first and pack with :func:`pack_encoded`.
    """
    return pack_encoded((encode_item(item, max_bytes) for item in items), max_bytes)


def pack_encoded(encoded_items: Iterable[bytes], max_bytes: int = MAX_BODY_BYTES) -> Iterator[tuple[str, int]]:
    """Bodies of items already encoded by :func:`encode_item`, with the number of items in each."""
    chunk: list[bytes] = []
    size = _OVERHEAD
    for encoded in encoded_items:
        if chunk and size + len(encoded) + 1 > max_bytes:
            yield _body(chunk), len(chunk)
            chunk, size = [], _OVERHEAD
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        yield _body(chunk), len(chunk)


def _body(chunk: list[bytes]) -> str:
    return (b'{"v":1,"items":[' + b",".join(chunk) + b"]}").decode()


# Drill-through: where an event entered the pipeline, carried unchanged parse -> score -> load in
# each item under SOURCE_KEY (the stages' own dicts ignore the key), so a warehouse row can name
# its Kinesis shard and sequence number and be found in the raw archive.
SOURCE_KEY = "src"


def with_source(item: dict[str, Any], source: dict[str, str] | None) -> dict[str, Any]:
    """``item`` carrying ``source`` (``{"shard_id": ..., "sequence_number": ...}``); unchanged for None."""
    return item if source is None else {**item, SOURCE_KEY: source}


def source_of(item: dict[str, Any]) -> dict[str, str] | None:
    """The source an item carries, or None (an item from before drill-through, or from a test)."""
    source = item.get(SOURCE_KEY)
    if not isinstance(source, dict):
        return None
    return {key: value for key, value in source.items() if isinstance(key, str) and isinstance(value, str)}


# The band thresholds the scorer applied (``{"medium": m, "high": h}``), added by the score stage
# beside the scored event, so each warehouse row keeps the thresholds in force when it was scored.
THRESHOLDS_KEY = "thr"


def with_thresholds(item: dict[str, Any], medium: float, high: float) -> dict[str, Any]:
    """``item`` carrying the band thresholds it was scored with."""
    return {**item, THRESHOLDS_KEY: {"medium": medium, "high": high}}


def thresholds_of(item: dict[str, Any]) -> tuple[float | None, float | None]:
    """(medium, high) an item carries; (None, None) when it carries none."""
    thresholds = item.get(THRESHOLDS_KEY)
    if not isinstance(thresholds, dict):
        return None, None
    medium, high = thresholds.get("medium"), thresholds.get("high")
    number = (int, float)
    return (
        float(medium) if isinstance(medium, number) and not isinstance(medium, bool) else None,
        float(high) if isinstance(high, number) and not isinstance(high, bool) else None,
    )


def unpack(body: str | bytes) -> list[dict[str, Any]]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"message body is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("v") != ENVELOPE_VERSION or not isinstance(doc.get("items"), list):
        raise EnvelopeError("message body is not a version 1 envelope")
    items: list[dict[str, Any]] = doc["items"]
    return items
