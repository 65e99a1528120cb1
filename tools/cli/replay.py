"""Replay a time range of the raw archive back onto the stream.

Decision: records go back onto the Kinesis stream, not straight to the parsed queue. The whole
pipeline then runs again on them with today's code: a fixed parser accepts what it quarantined
before, the score state skips event ids it has already counted, and the load MERGE leaves one row
per event id. Replaying an hour that was already loaded is therefore harmless (only wasteful).

Objects under ``raw/year=/month=/day=/hour=`` (by arrival hour) are gzip and hold either

* the local runner's lines (``{"data_b64": ..., "approximate_arrival": ...}``, one per record), or
* what Firehose writes in AWS: each record's bytes followed by a newline (its
  AppendDelimiterToRecord processor, stacks/ingest.py; objects written before it have no
  delimiter). Records are split here by their own structure, so a newline inside a binary Avro
  record cannot cut it and objects of either kind read alike: a JSON value ends where its
  outermost brace closes, an Avro single-object record where its schema's reader stops. From the
  first byte that is neither (a malformed record), the rest of the object is replayed as one
  record, which the parser quarantines: fix such records from the quarantine/ copies instead.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from risk.common.archive import raw_prefix


@dataclass(frozen=True)
class ArchivedRecord:
    data: bytes
    arrival: datetime | None
    partition_key: str | None


def hours(start: datetime, end: datetime) -> Iterator[datetime]:
    at = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    while at < end:
        yield at
        at += timedelta(hours=1)


def parse_lines(body: bytes) -> Iterator[ArchivedRecord]:
    if body[:2] == b"\x1f\x8b":
        body = gzip.decompress(body)
    if not body.lstrip().startswith(b'{"shard_id"'):  # Firehose's concatenated records
        for data in split_concatenated(body):
            yield ArchivedRecord(data, None, None)
        return
    for line in body.splitlines():
        if not line.strip():
            continue
        doc: Any = None
        if line.startswith(b"{") and b'"data_b64"' in line:
            try:
                doc = json.loads(line)
            except ValueError:
                doc = None
        if isinstance(doc, dict) and isinstance(doc.get("data_b64"), str):
            arrival = doc.get("approximate_arrival")
            yield ArchivedRecord(
                base64.b64decode(doc["data_b64"]),
                datetime.fromtimestamp(float(arrival), UTC) if arrival is not None else None,
                doc.get("partition_key"),
            )
        else:
            yield ArchivedRecord(line, None, None)


_WHITESPACE = b" \t\r\n"
_OPEN, _CLOSE, _QUOTE, _ESCAPE = b"{[", b"}]", ord('"'), ord("\\")


def _json_end(blob: bytes, start: int) -> int | None:
    """The end (exclusive) of the JSON object or array starting at ``start``; None if it never closes."""
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(blob)):
        c = blob[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == _ESCAPE:
                escaped = True
            elif c == _QUOTE:
                in_string = False
        elif c == _QUOTE:
            in_string = True
        elif c in _OPEN:
            depth += 1
        elif c in _CLOSE:
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _avro_end(blob: bytes, start: int) -> int | None:
    from fastavro import schemaless_reader  # noqa: PLC0415

    from risk.events.avro import HEADER_BYTES, MARKER, registry  # noqa: PLC0415

    if blob[start : start + 2] != MARKER:
        return None
    schema = registry().get(blob[start + 2 : start + HEADER_BYTES])
    if schema is None:
        return None
    reader = io.BytesIO(blob)
    reader.seek(start + HEADER_BYTES)
    try:
        schemaless_reader(reader, schema.parsed, None)
    except Exception:  # a broken body: not splittable from here
        return None
    return reader.tell()


def split_concatenated(blob: bytes) -> Iterator[bytes]:
    """Records written back to back (Firehose without a delimiter), split by their own structure."""
    pos, n = 0, len(blob)
    while pos < n:
        while pos < n and blob[pos] in _WHITESPACE:
            pos += 1
        if pos >= n:
            return
        end = _json_end(blob, pos) if blob[pos] in _OPEN else _avro_end(blob, pos)
        if end is None:
            yield blob[pos:]
            return
        yield blob[pos:end]
        pos = end


def archived_records(s3: Any, bucket: str, start: datetime, end: datetime) -> Iterator[ArchivedRecord]:
    """Records that arrived in [start, end), hour partition by hour partition, in key order."""
    for hour in hours(start, end):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=raw_prefix(hour)):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                for record in parse_lines(body):
                    if record.arrival is None or start <= record.arrival < end:
                        yield record
