"""Object keys of the archive bucket: one module owns the layout.

raw/year=YYYY/month=MM/day=DD/hour=HH/...     Firehose (in AWS) or the local poller
enriched/event_date=YYYY-MM-DD/<batch>.jsonl  load: the scored events, pseudonymised
quarantine/date=YYYY-MM-DD/<invocation>.jsonl parse: records that failed, with reasons
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import orjson

RAW_PREFIX = "raw/"
ENRICHED_PREFIX = "enriched/"
QUARANTINE_PREFIX = "quarantine/"
# Firehose's dynamic-partition-free prefix, partitioned by the arrival hour (Firehose's
# !{timestamp:...} namespace is the approximate arrival time of the record on the stream).
FIREHOSE_RAW_PREFIX = "raw/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/"
FIREHOSE_ERROR_PREFIX = (
    "raw-errors/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
)


def raw_prefix(at: datetime) -> str:
    at = at.astimezone(UTC)
    return f"{RAW_PREFIX}year={at:%Y}/month={at:%m}/day={at:%d}/hour={at:%H}/"


def enriched_key(event_date: date, batch_id: str) -> str:
    return f"{ENRICHED_PREFIX}event_date={event_date.isoformat()}/{batch_id}.jsonl"


def quarantine_key(at: datetime, invocation_id: str) -> str:
    return f"{QUARANTINE_PREFIX}date={at.astimezone(UTC):%Y-%m-%d}/{invocation_id}.jsonl"


def jsonl(items: Iterable[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(item) + b"\n" for item in items)


def read_jsonl(body: bytes) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in body.splitlines() if line.strip()]
