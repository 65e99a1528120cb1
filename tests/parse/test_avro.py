"""Avro single-object framing, fingerprints and the schema registry."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form

from risk.events import avro
from risk.events.codec import encode_avro, to_avro_record
from risk.events.reasons import Reason
from risk.events.validate import KNOWN_FIELDS
from tests.parse.conftest import valid_event


def crc64_avro(data: bytes) -> int:
    """CRC-64-AVRO exactly as the Avro specification's reference code computes it."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for byte in data:
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp


def test_spec_example_fingerprint_of_a_primitive_schema() -> None:
    # The parsing canonical form of "int" is "\"int\"": fingerprint computed independently of fastavro.
    assert bytes.fromhex(fingerprint('"int"', "CRC-64-AVRO")) == crc64_avro(b'"int"').to_bytes(8, "little")


def test_the_frame_is_marker_then_little_endian_fingerprint_then_the_record() -> None:
    raw = encode_avro(valid_event())
    canonical = to_parsing_canonical_form(avro.latest().parsed).encode()
    assert raw[:2] == b"\xc3\x01"
    assert raw[2:10] == crc64_avro(canonical).to_bytes(8, "little")
    record, schema = avro.decode(raw)
    assert schema is avro.latest() and record["event_id"] == "evt-0001"


def test_the_schema_file_has_every_contract_field_and_nothing_else() -> None:
    schema = json.loads(avro.latest().path.read_text())
    assert {f["name"] for f in schema["fields"]} == KNOWN_FIELDS
    required = {f["name"] for f in schema["fields"] if f["type"] == "string"}
    assert required == {"event_id", "user_id", "event_type", "occurred_at"}
    for field in schema["fields"]:
        if field["name"] not in required:
            assert field["type"][0] == "null" and field["default"] is None, field["name"]


def test_metadata_travels_as_json_text() -> None:
    record = to_avro_record(valid_event(extra_field=[1]))
    expected = {"campaign": "spring", "nested": {"a": [1, 2]}, "_extra": {"extra_field": [1]}}
    assert json.loads(record["metadata"]) == expected


def test_registry_tells_versions_apart(tmp_path: Path) -> None:
    shutil.copy(avro.latest().path, tmp_path / "risk_event_v1.avsc")
    v2 = json.loads(avro.latest().path.read_text())
    v2["fields"].append({"name": "session_id", "type": ["null", "string"], "default": None})
    (tmp_path / "risk_event_v2.avsc").write_text(json.dumps(v2))
    registry = avro.load_registry(tmp_path)
    assert sorted(s.version for s in registry.values()) == [1, 2]
    (schema_v2,) = (s for s in registry.values() if s.version == 2)
    raw = avro.encode_record(to_avro_record(valid_event()) | {"session_id": "s-1"}, schema_v2)
    record, schema = avro.decode(raw, registry)
    assert schema.version == 2 and record["session_id"] == "s-1"
    with pytest.raises(avro.AvroDecodeError) as unknown:
        avro.decode(raw)  # the deployed registry has no v2
    assert unknown.value.reason == Reason.UNKNOWN_FINGERPRINT


def test_registry_rejects_misnamed_and_duplicate_schemas(tmp_path: Path) -> None:
    shutil.copy(avro.latest().path, tmp_path / "event.avsc")
    with pytest.raises(ValueError, match=r"risk_event_v<N>\.avsc"):
        avro.load_registry(tmp_path)
    (tmp_path / "event.avsc").rename(tmp_path / "risk_event_v1.avsc")
    shutil.copy(avro.latest().path, tmp_path / "risk_event_v3.avsc")
    with pytest.raises(ValueError, match="same fingerprint"):
        avro.load_registry(tmp_path)


def test_encode_avro_refuses_what_the_schema_cannot_carry() -> None:
    with pytest.raises((ValueError, TypeError)):
        encode_avro(valid_event(amount="12.50"))
