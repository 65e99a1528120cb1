"""Avro single-object encoding of the event contract, and the registry of schema versions.

Framing (Avro specification, "Single-object encoding"): the two marker bytes ``C3 01``, the
8-byte little-endian CRC-64-AVRO fingerprint of the schema's parsing canonical form, then the
binary record. Every ``schemas/risk_event_v<N>.avsc`` is registered by its fingerprint, so the
parser tells the versions apart and a producer on an unknown schema is quarantined, not guessed at.

A decoded record is turned into the same document shape as a JSON event (``metadata`` is carried
as JSON text because Avro has no "any JSON" type), so one validator serves both encodings.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from risk.events.reasons import Reason

MARKER = b"\xc3\x01"
FINGERPRINT_BYTES = 8
HEADER_BYTES = len(MARKER) + FINGERPRINT_BYTES
SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
_FILE_NAME = re.compile(r"risk_event_v(\d+)\.avsc")


@dataclass(frozen=True)
class AvroSchema:
    """One registered schema version."""

    version: int
    fingerprint: bytes  # 8 bytes, little-endian, as it appears on the wire
    parsed: Any  # fastavro's parsed schema
    path: Path

    @property
    def header(self) -> bytes:
        return MARKER + self.fingerprint


class AvroDecodeError(ValueError):
    """The bytes carry the Avro marker but are not a record of a registered schema."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def load_schema(path: Path) -> AvroSchema:
    match = _FILE_NAME.fullmatch(path.name)
    if match is None:
        raise ValueError(f"{path.name}: schema files are named risk_event_v<N>.avsc")
    from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form  # noqa: PLC0415 (lazy)

    parsed = parse_schema(orjson.loads(path.read_bytes()))
    crc = fingerprint(to_parsing_canonical_form(parsed), "CRC-64-AVRO")  # hex of the little-endian bytes
    return AvroSchema(int(match.group(1)), bytes.fromhex(crc), parsed, path)


def load_registry(directory: Path = SCHEMA_DIR) -> dict[bytes, AvroSchema]:
    """Fingerprint -> schema for every ``.avsc`` in ``directory``."""
    registry: dict[bytes, AvroSchema] = {}
    for path in sorted(directory.glob("*.avsc")):
        schema = load_schema(path)
        if schema.fingerprint in registry:
            raise ValueError(f"{path.name} has the same fingerprint as {registry[schema.fingerprint].path.name}")
        registry[schema.fingerprint] = schema
    if not registry:
        raise ValueError(f"no Avro schemas in {directory}")
    return registry


@functools.cache
def registry() -> dict[bytes, AvroSchema]:
    """The schemas in the package, loaded on first use: fastavro (about 50 ms to import) is then
    paid only by a container that actually sees an Avro record, not by every parse cold start."""
    return load_registry()


def latest() -> AvroSchema:
    return max(registry().values(), key=lambda s: s.version)


def is_avro(data: bytes) -> bool:
    """``C3 01`` is not valid UTF-8 (C3 needs a continuation byte), so it never starts JSON text."""
    return data[:2] == MARKER


def decode(data: bytes, schemas: Mapping[bytes, AvroSchema] | None = None) -> tuple[dict[str, Any], AvroSchema]:
    """The record of single-object encoded ``data`` as a JSON-shaped document, and its schema."""
    from fastavro import schemaless_reader  # noqa: PLC0415 (lazy: see registry())

    if len(data) < HEADER_BYTES:
        raise AvroDecodeError(Reason.AVRO_DECODE_ERROR, f"{len(data)} bytes: shorter than the Avro header")
    schema = (registry() if schemas is None else schemas).get(data[2:HEADER_BYTES])
    if schema is None:
        raise AvroDecodeError(Reason.UNKNOWN_FINGERPRINT, f"unknown schema fingerprint {data[2:HEADER_BYTES].hex()}")
    body = io.BytesIO(data)
    body.seek(HEADER_BYTES)
    try:
        record = schemaless_reader(body, schema.parsed, None)
    except Exception as exc:  # untrusted bytes: fastavro raises EOFError, UnicodeDecodeError, ValueError, ...
        raise AvroDecodeError(Reason.AVRO_DECODE_ERROR, f"{type(exc).__name__}: {exc}"[:200]) from None
    if body.tell() != len(data):
        raise AvroDecodeError(Reason.AVRO_DECODE_ERROR, f"{len(data) - body.tell()} bytes after the record")
    if not isinstance(record, dict):
        raise AvroDecodeError(Reason.AVRO_DECODE_ERROR, "the schema's top level is not a record")
    metadata = record.get("metadata")
    if isinstance(metadata, str):
        with contextlib.suppress(orjson.JSONDecodeError):  # else stays text: "metadata must be an object"
            record["metadata"] = orjson.loads(metadata)
    return record, schema


def encode_record(record: Mapping[str, Any], schema: AvroSchema | None = None) -> bytes:
    """Single-object encoding of a record that already has the schema's shape (default: the latest)."""
    from fastavro import schemaless_writer  # noqa: PLC0415 (lazy: see registry())

    schema = schema or latest()
    out = io.BytesIO()
    out.write(schema.header)
    schemaless_writer(out, schema.parsed, dict(record))
    return out.getvalue()
