"""Packing many events into few SQS messages.

Queue traffic must not grow as one message per event: events are packed into
message bodies up to ``MAX_BODY_BYTES``. A message is then the unit of retry, which
the idempotent feature state and the MERGE load make safe.
Body: ``{"v": 1, "items": [...]}`` (compact JSON).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

ENVELOPE_VERSION = 1
# SQS accepts 256 KiB per message and per SendMessageBatch call; stay below with headroom.
MAX_BODY_BYTES = 240 * 1024
MAX_BATCH_BYTES = 250 * 1024
MAX_BATCH_ENTRIES = 10
_OVERHEAD = len(b'{"v":1,"items":[]}')


class EnvelopeError(ValueError):
    """A message body that is not an envelope this code understands."""


def pack(items: Iterable[dict[str, Any]], max_bytes: int = MAX_BODY_BYTES) -> Iterator[str]:
    """Yield message bodies, each holding as many items as fit in ``max_bytes``."""
    for body, _count in pack_counted(items, max_bytes):
        yield body


def pack_counted(items: Iterable[dict[str, Any]], max_bytes: int = MAX_BODY_BYTES) -> Iterator[tuple[str, int]]:
    """Like :func:`pack`, with the number of items in each body (items keep their order).

    A sender that must fail exactly the inputs of a message SQS rejected maps bodies back to items
    with the counts.
    """
    chunk: list[bytes] = []
    size = _OVERHEAD
    for item in items:
        encoded = orjson.dumps(item)
        if len(encoded) + _OVERHEAD > max_bytes:
            raise EnvelopeError(f"one item is {len(encoded)} bytes, above the message limit {max_bytes}")
        if chunk and size + len(encoded) + 1 > max_bytes:
            yield _body(chunk), len(chunk)
            chunk, size = [], _OVERHEAD
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        yield _body(chunk), len(chunk)


def _body(chunk: list[bytes]) -> str:
    return (b'{"v":1,"items":[' + b",".join(chunk) + b"]}").decode()


def unpack(body: str | bytes) -> list[dict[str, Any]]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"message body is not JSON: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("v") != ENVELOPE_VERSION or not isinstance(doc.get("items"), list):
        raise EnvelopeError("message body is not a version 1 envelope")
    items: list[dict[str, Any]] = doc["items"]
    return items
