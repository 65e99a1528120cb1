"""The Kinesis Producer Library's aggregated record format: many user records in one Kinesis record.

Layout: the magic bytes ``F3 89 9A C2``, a protobuf ``AggregatedRecord``, then the MD5 of that
protobuf (16 bytes). The protobuf (from the KPL's ``messages.proto``)::

    message AggregatedRecord {
      repeated string partition_key_table = 1;
      repeated string explicit_hash_key_table = 2;
      repeated Record records = 3;
    }
    message Record {
      required uint64 partition_key_index = 1;
      optional uint64 explicit_hash_key_index = 2;
      required bytes data = 3;
      repeated Tag tags = 4;   // read past, unused
    }

Decoded here with a few lines of protobuf wire format instead of the protobuf runtime (a large
dependency for three message fields). :func:`aggregate` writes the same format, for the producers
of this repository (``riskctl produce --aggregate``, ``make demo ARGS=--aggregate``) and the tests.
The magic bytes can never start UTF-8 text (``F3`` needs a continuation byte, ``C2`` is not one),
nor the Avro single-object marker ``C3 01``, so the three encodings cannot be confused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

MAGIC = b"\xf3\x89\x9a\xc2"
_DIGEST = 16  # MD5
_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


class AggregateError(ValueError):
    """The record starts with the KPL's magic bytes but is not a well-formed aggregated record."""


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One record a producer put into an aggregate, with the partition key it gave that record."""

    partition_key: str
    data: bytes
    explicit_hash_key: str | None = None


def is_aggregated(data: bytes) -> bool:
    return data[:4] == MAGIC


def deaggregate(data: bytes) -> list[UserRecord]:
    """The user records of an aggregated record, in order; :class:`AggregateError` when it is damaged."""
    if not is_aggregated(data):
        raise AggregateError("no KPL magic bytes")
    if len(data) < len(MAGIC) + _DIGEST:
        raise AggregateError(f"{len(data)} bytes: too short for the magic bytes and the MD5 digest")
    body, digest = data[len(MAGIC) : -_DIGEST], data[-_DIGEST:]
    if hashlib.md5(body, usedforsecurity=False).digest() != digest:
        raise AggregateError("the MD5 digest does not match the protobuf body (truncated or altered)")
    keys: list[str] = []
    hash_keys: list[str] = []
    raw_records: list[bytes] = []
    for number, wire, value in _fields(body):
        if wire != _BYTES:
            continue  # unknown scalar fields are skipped, as protobuf readers do
        assert isinstance(value, bytes)
        if number == 1:
            keys.append(_text(value, "partition key"))
        elif number == 2:
            hash_keys.append(_text(value, "explicit hash key"))
        elif number == 3:
            raw_records.append(value)
    if not raw_records:
        raise AggregateError("the aggregate holds no user records")
    return [_record(raw, keys, hash_keys, i) for i, raw in enumerate(raw_records)]


def _record(raw: bytes, keys: list[str], hash_keys: list[str], position: int) -> UserRecord:
    key_index: int | None = None
    hash_index: int | None = None
    data: bytes | None = None
    for number, wire, value in _fields(raw):
        if number == 1 and wire == _VARINT:
            key_index = int(value)
        elif number == 2 and wire == _VARINT:
            hash_index = int(value)
        elif number == 3 and wire == _BYTES:
            assert isinstance(value, bytes)
            data = value
    if key_index is None or data is None:
        raise AggregateError(f"user record {position} lacks its partition key index or its data")
    if key_index >= len(keys):
        raise AggregateError(f"user record {position}: partition key index {key_index} is not in the table")
    if hash_index is not None and hash_index >= len(hash_keys):
        raise AggregateError(f"user record {position}: explicit hash key index {hash_index} is not in the table")
    return UserRecord(keys[key_index], data, None if hash_index is None else hash_keys[hash_index])


def _fields(buffer: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of one protobuf message; raises :class:`AggregateError`."""
    out: list[tuple[int, int, int | bytes]] = []
    position = 0
    end = len(buffer)
    while position < end:
        tag, position = _varint(buffer, position)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise AggregateError("protobuf field number 0")
        if wire == _VARINT:
            value, position = _varint(buffer, position)
            out.append((number, wire, value))
        elif wire == _BYTES:
            length, position = _varint(buffer, position)
            if position + length > end:
                raise AggregateError("a protobuf field runs past the end of the record")
            out.append((number, wire, buffer[position : position + length]))
            position += length
        elif wire in (_FIXED64, _FIXED32):
            position += 8 if wire == _FIXED64 else 4
            if position > end:
                raise AggregateError("a protobuf field runs past the end of the record")
        else:
            raise AggregateError(f"protobuf wire type {wire} is not supported")
    return out


def _varint(buffer: bytes, position: int) -> tuple[int, int]:
    value = shift = 0
    while position < len(buffer):
        byte = buffer[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
        if shift >= 64:
            break
    raise AggregateError("a protobuf varint is truncated or longer than 64 bits")


def _text(value: bytes, what: str) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise AggregateError(f"a {what} is not UTF-8") from None


# -- writing (producers and tests) ---------------------------------------------------------------


def aggregate(records: Sequence[UserRecord]) -> bytes:
    """One aggregated record holding ``records`` in order, partition keys de-duplicated in a table."""
    if not records:
        raise ValueError("an aggregate needs at least one user record")
    key_index: dict[str, int] = {}
    hash_index: dict[str, int] = {}
    body = bytearray()
    entries = bytearray()
    for record in records:
        k = key_index.setdefault(record.partition_key, len(key_index))
        entry = _tagged(1, _VARINT) + _encode_varint(k)
        if record.explicit_hash_key is not None:
            h = hash_index.setdefault(record.explicit_hash_key, len(hash_index))
            entry += _tagged(2, _VARINT) + _encode_varint(h)
        entry += _length_delimited(3, record.data)
        entries += _length_delimited(3, bytes(entry))
    for key in key_index:
        body += _length_delimited(1, key.encode("utf-8"))
    for key in hash_index:
        body += _length_delimited(2, key.encode("utf-8"))
    body += entries
    return MAGIC + bytes(body) + hashlib.md5(body, usedforsecurity=False).digest()


def aggregated_size(records: Sequence[UserRecord]) -> int:
    """Bytes :func:`aggregate` would write, for producers filling aggregates up to a size."""
    keys = {r.partition_key for r in records}
    hash_keys = {r.explicit_hash_key for r in records if r.explicit_hash_key is not None}
    size = len(MAGIC) + _DIGEST
    size += sum(_delimited_size(len(k.encode("utf-8"))) for k in keys | hash_keys)
    for record in records:
        entry = 1 + len(_encode_varint(len(keys))) + _delimited_size(len(record.data))
        if record.explicit_hash_key is not None:
            entry += 1 + len(_encode_varint(len(hash_keys)))
        size += _delimited_size(entry)
    return size  # an upper bound: key indexes are counted at their largest


def _delimited_size(length: int) -> int:
    return 1 + len(_encode_varint(length)) + length


def _tagged(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _length_delimited(number: int, value: bytes) -> bytes:
    return _tagged(number, _BYTES) + _encode_varint(len(value)) + value


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
