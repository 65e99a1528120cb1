"""The parse stage's batch flow, without Lambda: Kinesis records in, quarantine object and SQS messages out.

1. Parse every record (``risk.parse.parser``): an event or a quarantine entry, never an exception.
2. Write the quarantine object FIRST (one per batch). If that fails, the quarantined records are
   reported failed, so Kinesis redelivers them: a bad record is never dropped silently.
3. Pack the valid events into few messages (``risk.common.envelope``) and send them with
   SendMessageBatch (``risk.common.publish``); the records of a message that still fails are
   reported failed.

The response follows Lambda's partial batch response for Kinesis: ``batchItemFailures`` lists the
sequence numbers of the failed records and Lambda resumes the shard from the LOWEST of them, so
records after it are delivered again (their events may reach the queue twice; the score stage's
idempotent state and the load's MERGE make that harmless). Powertools' BatchProcessor is not used:
it handles records one at a time, while the success of a record here is only known after its
message, shared with up to hundreds of others, has been sent.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

from risk.common import publish
from risk.common.envelope import pack_counted
from risk.common.settings import ARCHIVE_BUCKET, PARSED_QUEUE_URL, env
from risk.events.model import RiskEvent
from risk.events.reasons import Reason
from risk.parse import quarantine
from risk.parse.parser import Quarantined, parse_kinesis_data


@dataclass(frozen=True, slots=True)
class KinesisRecord:
    """The parts of one ``Records[]`` entry of a Kinesis event that the parse stage uses."""

    data: Any  # base64 text, as Lambda delivers it
    sequence_number: str
    partition_key: str | None
    shard_id: str | None
    arrival: datetime

    @classmethod
    def from_event(cls, record: dict[str, Any]) -> KinesisRecord:
        kinesis = record["kinesis"]
        event_id = record.get("eventID") or ""  # "shardId-000000000000:<sequence number>"
        arrival = kinesis.get("approximateArrivalTimestamp")
        return cls(
            data=kinesis.get("data"),
            sequence_number=str(kinesis["sequenceNumber"]),
            partition_key=kinesis.get("partitionKey"),
            shard_id=event_id.split(":", 1)[0] or None,
            arrival=datetime.fromtimestamp(float(arrival), UTC) if arrival is not None else datetime.now(UTC),
        )


@dataclass
class ParseDependencies:
    s3: Any
    sqs: Any
    bucket: str
    queue_url: str

    @classmethod
    def from_environment(cls) -> ParseDependencies:
        config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=10)
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        return cls(
            s3=boto3.client("s3", region_name=region, config=config),
            sqs=boto3.client("sqs", region_name=region, config=config),
            bucket=env(ARCHIVE_BUCKET),
            queue_url=env(PARSED_QUEUE_URL),
        )


@dataclass(frozen=True, slots=True)
class QuarantinedRecord:
    item: Quarantined
    partition_key: str | None
    shard_id: str | None


@dataclass
class BatchOutcome:
    received: int = 0
    published_events: int = 0
    messages: int = 0
    quarantined: list[QuarantinedRecord] = field(default_factory=list)  # written to S3
    quarantine_key: str | None = None
    quarantine_error: str | None = None
    publish_errors: Counter[str] = field(default_factory=Counter)  # error code -> messages
    failed: list[str] = field(default_factory=list)  # sequence numbers, in batch order

    @property
    def by_reason(self) -> Counter[Reason]:
        return Counter(q.item.reason for q in self.quarantined)

    def response(self) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": seq} for seq in self.failed]}


def process_batch(
    records: list[dict[str, Any]],
    deps: ParseDependencies,
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    sleep: Callable[[float], None] = time.sleep,
) -> BatchOutcome:
    """Parse, quarantine and publish one Kinesis batch; see the module docstring."""
    batch = [KinesisRecord.from_event(r) for r in records]
    outcome = BatchOutcome(received=len(batch))
    if not batch:
        return outcome
    failed: set[str] = set()

    events: list[tuple[KinesisRecord, RiskEvent]] = []
    bad: list[QuarantinedRecord] = []
    for record in batch:
        result = parse_kinesis_data(record.data, sequence_number=record.sequence_number, arrival=record.arrival)
        if isinstance(result, Quarantined):
            bad.append(QuarantinedRecord(result, record.partition_key, record.shard_id))
        else:
            events.append((record, result))

    if bad:
        at = now()
        key = quarantine.object_key(
            batch[0].arrival, batch[0].shard_id, batch[0].sequence_number, batch[-1].sequence_number
        )
        lines = [
            quarantine.to_line(q.item, partition_key=q.partition_key, shard_id=q.shard_id, quarantined_at=at)
            for q in bad
        ]
        try:
            quarantine.write(deps.s3, deps.bucket, key, lines)
        except Exception as exc:  # any failure: the records go back to Kinesis, never lost
            outcome.quarantine_error = f"{type(exc).__name__}: {exc}"
            failed.update(q.item.sequence_number for q in bad)
        else:
            outcome.quarantined = bad
            outcome.quarantine_key = key

    if events:
        bodies: list[str] = []
        owners: list[list[KinesisRecord]] = []
        start = 0
        for body, count in pack_counted(event.to_dict() for _, event in events):
            bodies.append(body)
            owners.append([record for record, _ in events[start : start + count]])
            start += count
        errors = publish.send_all(deps.sqs, deps.queue_url, bodies, sleep=sleep)
        outcome.messages = len(bodies) - len(errors)
        for index, code in errors.items():
            outcome.publish_errors[code] += 1
            failed.update(record.sequence_number for record in owners[index])
        outcome.published_events = sum(len(owners[i]) for i in range(len(bodies)) if i not in errors)

    outcome.failed = [r.sequence_number for r in batch if r.sequence_number in failed]
    return outcome
