"""Quarantine records: what the parse stage keeps of a record it could not parse, and replay.

One JSON Lines object per invocation under ``quarantine/date=YYYY-MM-DD/`` of the archive bucket.
Later stages that must set one event aside (the score stage) write lines of the same shape through
:func:`event_line` and :func:`write`, with ``stage`` saying where and ``raw_b64`` holding the event's
wire form (the dict every stage after parse reads) instead of a Kinesis record.
Each line holds the raw bytes (base64), where the record came from (sequence number, partition
key, shard) and why it failed. The object key is derived from the batch (shard, first and last
sequence number), so a retried batch overwrites its own object instead of adding a copy.
The bucket's default encryption (SSE-KMS with the archive's key) applies: no key id is passed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from risk.common.archive import jsonl, quarantine_key, read_jsonl
from risk.events.model import RiskEvent, format_ts, parse_ts
from risk.events.reasons import Reason
from risk.parse.parser import PARSER_VERSION, Quarantined, parse_kinesis_data, parse_payload

# Stages whose lines keep a record as it arrived (parse: a Kinesis record; ingest: a line or record of
# an inbox file, located by ``source_key`` and ``record_index``): a replay parses their bytes again.
RECORD_STAGES = ("parse", "ingest")


def to_line(
    item: Quarantined, *, partition_key: str | None, shard_id: str | None, quarantined_at: datetime
) -> dict[str, Any]:
    """The JSON Lines object of one quarantined record."""
    return {
        "stage": "parse",
        "reason": item.reason.value,
        "detail": item.detail,
        "raw_b64": base64.b64encode(item.raw).decode("ascii"),
        "sequence_number": item.sequence_number,
        "sub_sequence_number": item.sub_sequence_number,  # a user record of a KPL aggregate: its index
        "partition_key": partition_key,
        "shard_id": shard_id,
        "event_id": item.event_id,
        "arrival_time": format_ts(item.arrival),
        "quarantined_at": format_ts(quarantined_at),
        "parser_version": PARSER_VERSION,
    }


def object_key(
    arrival: datetime, shard_id: str | None, first_sequence: str, last_sequence: str, *, part: str | None = None
) -> str:
    """Deterministic per batch: the same batch, redelivered, writes the same key. ``part`` names a
    second object of the same batch (records set aside after publishing)."""
    suffix = f"-{part}" if part else ""
    return quarantine_key(arrival, f"{shard_id or 'unknown-shard'}-{first_sequence}-{last_sequence}{suffix}")


def event_line(
    *,
    stage: str,
    reason: Reason,
    detail: str,
    item: Any,
    message_id: str | None,
    quarantined_at: datetime,
) -> dict[str, Any]:
    """The JSON Lines object of one event a later stage set aside; ``item`` is its wire form (a dict)."""
    event_id = item.get("event_id") if isinstance(item, dict) else None
    return {
        "stage": stage,
        "reason": reason.value,
        "detail": detail[:200],
        "raw_b64": base64.b64encode(_wire_bytes(item)).decode("ascii"),
        "message_id": message_id,
        "event_id": event_id if isinstance(event_id, str) else None,
        "quarantined_at": format_ts(quarantined_at),
        "parser_version": PARSER_VERSION,
    }


def _wire_bytes(item: Any) -> bytes:
    """The item as JSON; Python's encoder when orjson cannot (deeper than 254 levels): keep it whole."""
    try:
        return orjson.dumps(item)
    except orjson.JSONEncodeError:
        return json.dumps(item, ensure_ascii=False, default=repr).encode("utf-8", "surrogatepass")


def stage_object_key(stage: str, at: datetime, first_message_id: str, count: int) -> str:
    """One object per invocation of a later stage, named after its first message (stable on redelivery)."""
    return quarantine_key(at, f"{stage}-{first_message_id}-{count}")


def write(s3: Any, bucket: str, key: str, lines: Iterable[dict[str, Any]]) -> None:
    """One PutObject; raises on failure (the caller fails the records: never silent loss)."""
    s3.put_object(Bucket=bucket, Key=key, Body=jsonl(lines), ContentType="application/x-ndjson")


@dataclass
class ReplayResult:
    events: list[RiskEvent] = field(default_factory=list)
    still_bad: list[Quarantined] = field(default_factory=list)


def replay(body: bytes) -> ReplayResult:
    """Re-run the current parser over the raw bytes of a quarantine object's lines.

    Records are de-duplicated by sequence number and, for a user record of a KPL aggregate, its
    sub-sequence number (a batch retried from an earlier checkpoint can quarantine a record twice).
    A damaged aggregate kept whole is split again, so a fixed parser recovers each of its events.
    The events keep their original arrival time as ``ingested_at``.
    """
    result = ReplayResult()
    seen: set[tuple[str, int | None]] = set()
    for line in read_jsonl(body):
        if line.get("stage", "parse") not in RECORD_STAGES:
            _replay_event(line, result)
            continue
        sequence_number = line["sequence_number"] or f"{line.get('source_key')}#{line.get('record_index')}"
        position = (sequence_number, line.get("sub_sequence_number"))
        if position in seen:
            continue
        seen.add(position)
        raw = base64.b64decode(line["raw_b64"])
        arrival = parse_ts(line["arrival_time"])
        if line["reason"] == Reason.BAD_BASE64:
            outcomes = [
                parse_kinesis_data(
                    raw.decode("utf-8", "surrogatepass"), sequence_number=sequence_number, arrival=arrival
                )
            ]
        else:
            outcomes = [p.result for p in parse_payload(raw, sequence_number=sequence_number, arrival=arrival)]
        for outcome in outcomes:
            if isinstance(outcome, Quarantined):
                result.still_bad.append(outcome)
            else:
                result.events.append(outcome)
    return result


def _replay_event(line: dict[str, Any], result: ReplayResult) -> None:
    """A later stage's line holds an event already validated: its wire form, as the stages read it."""
    try:
        result.events.append(RiskEvent.from_dict(orjson.loads(base64.b64decode(line["raw_b64"]))))
    except Exception as exc:  # kept: the line names why; a replay tool reports it
        raw = base64.b64decode(line["raw_b64"])
        at = parse_ts(line["quarantined_at"])
        result.still_bad.append(Quarantined(Reason.SCORE_ERROR, f"{type(exc).__name__}: {exc}"[:200], raw, "", at))


def replay_object(s3: Any, bucket: str, key: str) -> ReplayResult:
    """:func:`replay` of one object of the archive bucket."""
    return replay(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
