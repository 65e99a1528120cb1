"""Producer-side encoders of the event contract: one event dict -> the bytes of one Kinesis record.

Used by the producer tool, the local demo, the benchmarks and the tests. ``encode_avro`` maps the
JSON document onto the Avro schema exactly as the parser maps it back (unknown top-level fields
into ``metadata["_extra"]``, ``metadata`` as JSON text), so the two encodings of one event parse
to the same :class:`~risk.events.model.RiskEvent`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from risk.events import avro
from risk.events.validate import EXTRA_KEY, KNOWN_FIELDS


def encode_json(event: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON (datetimes as RFC 3339; a naive one stays naive and will be rejected)."""
    return orjson.dumps(dict(event))


def to_avro_record(event: Mapping[str, Any]) -> dict[str, Any]:
    """The Avro record (schema v1 shape) of a JSON-shaped event document."""
    record: dict[str, Any] = {name: event.get(name) for name in KNOWN_FIELDS}
    occurred_at = record["occurred_at"]
    if isinstance(occurred_at, datetime):
        record["occurred_at"] = occurred_at.isoformat()
    amount = record["amount"]
    if isinstance(amount, int) and not isinstance(amount, bool):
        record["amount"] = float(amount)
    geo = record["geo"]
    if isinstance(geo, Mapping):
        record["geo"] = {key: float(value) for key, value in geo.items()}
    metadata = record["metadata"]
    unknown = sorted(event.keys() - KNOWN_FIELDS)
    if unknown:
        metadata = dict(metadata or {})
        if EXTRA_KEY in metadata:
            raise ValueError(f"metadata.{EXTRA_KEY} is reserved for unknown top-level fields")
        metadata[EXTRA_KEY] = {key: event[key] for key in unknown}
    record["metadata"] = None if metadata is None else orjson.dumps(metadata).decode()
    return record


def encode_avro(event: Mapping[str, Any], *, schema: avro.AvroSchema | None = None) -> bytes:
    """Avro single-object encoding (``C3 01`` + fingerprint + record). Raises ValueError if a field
    cannot take the schema's type (a producer bug, not something to quarantine later)."""
    return avro.encode_record(to_avro_record(event), schema)
