"""Replay a time range of the raw archive back onto the stream.

Decision: records go back onto the Kinesis stream, not straight to the parsed queue. The whole
pipeline then runs again on them with today's code: a fixed parser accepts what it quarantined
before, the score state skips event ids it has already counted, and the load MERGE leaves one row
per event id. Replaying an hour that was already loaded is therefore harmless (only wasteful).

Objects under ``raw/year=/month=/day=/hour=`` (by arrival hour) are gzip (or plain) lines: either
the local runner's JSON wrapper (``{"data_b64": ..., "approximate_arrival": ...}``) or the records
themselves, one per line, as Firehose writes newline-delimited JSON.
"""

from __future__ import annotations

import base64
import gzip
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


def archived_records(s3: Any, bucket: str, start: datetime, end: datetime) -> Iterator[ArchivedRecord]:
    """Records that arrived in [start, end), hour partition by hour partition, in key order."""
    for hour in hours(start, end):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=raw_prefix(hour)):
            for obj in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                for record in parse_lines(body):
                    if record.arrival is None or start <= record.arrival < end:
                        yield record
