"""The parse stage's batch flow, without Lambda: Kinesis records in, quarantine object and SQS messages out.

1. Parse every record (``risk.parse.parser``): an event or a quarantine entry, never an exception;
   a KPL-aggregated record gives one per user record, each validated on its own.
2. Write the quarantine object FIRST (one per batch). If that fails, the quarantined records are
   reported failed, so Kinesis redelivers them: a bad record is never dropped silently.
3. Pack the valid events into few messages (``risk.common.envelope``) and send them with
   SendMessageBatch (``risk.common.publish``); the records of a message that still fails are
   reported failed.

No single event can fail its neighbours: each event is encoded alone before packing (one the
envelope cannot carry is quarantined as ``unpublishable``), and a packed message SQS refuses as a
sender fault is split and its events sent one by one, so only the one SQS will not take is
quarantined. Either is a gap in the validator (``risk.events.limits`` should have caught it).

The response follows Lambda's partial batch response for Kinesis: ``batchItemFailures`` lists the
sequence numbers of the failed records and Lambda resumes the shard from the LOWEST of them, so
records after it are delivered again (their events may reach the queue twice; the score stage's
idempotent state and the load's MERGE make that harmless). A Kinesis record is the unit Lambda
retries: when one user record of an aggregate fails to publish, its whole Kinesis record is
reported (its other user records are sent again, harmlessly); a quarantined user record is never.
Powertools' BatchProcessor is not used: it handles records one at a time, while the success of a
record here is only known after its message, shared with up to hundreds of others, has been sent.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from risk.common import aws, fifo, publish
from risk.common.envelope import EnvelopeError, encode_item, pack_encoded, with_source
from risk.common.settings import (
    ARCHIVE_BUCKET,
    CLOCK_SKEW_TOLERANCE_S,
    PARSED_MESSAGE_GROUPS,
    PARSED_QUEUE_URL,
    env,
)
from risk.events.limits import DEFAULT_CLOCK_SKEW_TOLERANCE_S
from risk.events.reasons import Reason
from risk.parse import quarantine
from risk.parse.parser import Quarantined, parse_kinesis_payload


@dataclass(frozen=True, slots=True)
class KinesisRecord:
    """The parts of one ``Records[]`` entry of a Kinesis event that the parse stage uses."""

    data: Any  # base64 text, as Lambda delivers it
    sequence_number: str
    partition_key: str | None
    shard_id: str | None
    arrival: datetime

    @property
    def source(self) -> dict[str, str] | None:
        """Where the record entered (risk.common.envelope.SOURCE_KEY), for drill-through from a row."""
        if self.shard_id is None:
            return None
        return {"shard_id": self.shard_id, "sequence_number": self.sequence_number}

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
    clock_skew_tolerance_s: float = DEFAULT_CLOCK_SKEW_TOLERANCE_S
    message_groups: int = 1  # FIFO message groups (hash buckets of user_id) when the queue is FIFO

    @classmethod
    def from_environment(cls) -> ParseDependencies:
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        return cls(
            s3=aws.client("s3", region_name=region),
            sqs=aws.client("sqs", region_name=region),
            bucket=env(ARCHIVE_BUCKET),
            queue_url=env(PARSED_QUEUE_URL),
            clock_skew_tolerance_s=float(env(CLOCK_SKEW_TOLERANCE_S, str(DEFAULT_CLOCK_SKEW_TOLERANCE_S))),
            message_groups=int(env(PARSED_MESSAGE_GROUPS, "1")),
        )


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One event's record: a whole Kinesis record, or one user record of a KPL aggregate."""

    record: KinesisRecord
    raw: bytes
    sub_sequence_number: int | None
    partition_key: str | None

    @property
    def sequence_number(self) -> str:
        return self.record.sequence_number


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

    events: list[tuple[UserRecord, bytes]] = []
    keys: list[tuple[str, str]] = []  # (FIFO message group: its user's bucket, event id) of each event
    bad: list[QuarantinedRecord] = []
    for record in batch:
        for parsed in parse_kinesis_payload(
            record.data,
            sequence_number=record.sequence_number,
            arrival=record.arrival,
            clock_skew_tolerance_s=deps.clock_skew_tolerance_s,
        ):
            result = parsed.result
            partition_key = parsed.partition_key if parsed.partition_key is not None else record.partition_key
            if isinstance(result, Quarantined):
                bad.append(QuarantinedRecord(result, partition_key, record.shard_id))
                continue
            source = UserRecord(record, parsed.raw, parsed.sub_sequence_number, partition_key)
            try:  # each event encoded alone: one that cannot travel is set aside, not its neighbours
                events.append((source, encode_item(with_source(result.to_dict(), record.source))))
                keys.append((fifo.message_group(result.user_id, deps.message_groups), result.event_id))
            except EnvelopeError as exc:
                bad.append(_unpublishable(source, result.event_id, str(exc)))

    if bad:
        _quarantine(deps, batch, bad, outcome, failed, at=now())

    if events:
        if fifo.is_fifo_queue(deps.queue_url):
            refused = _publish_fifo(deps, events, keys, outcome, failed, sleep=sleep)
        else:
            refused = _publish(deps, events, outcome, failed, sleep)
        if refused:
            _quarantine(deps, batch, refused, outcome, failed, at=now(), part="unpublishable")

    outcome.failed = [r.sequence_number for r in batch if r.sequence_number in failed]
    return outcome


def _quarantine(
    deps: ParseDependencies,
    batch: list[KinesisRecord],
    bad: list[QuarantinedRecord],
    outcome: BatchOutcome,
    failed: set[str],
    *,
    at: datetime,
    part: str | None = None,
) -> None:
    """One quarantine object for ``bad``; if it cannot be written, those records fail (never lost)."""
    key = quarantine.object_key(
        batch[0].arrival, batch[0].shard_id, batch[0].sequence_number, batch[-1].sequence_number, part=part
    )
    lines = [
        quarantine.to_line(q.item, partition_key=q.partition_key, shard_id=q.shard_id, quarantined_at=at) for q in bad
    ]
    try:
        quarantine.write(deps.s3, deps.bucket, key, lines)
    except Exception as exc:  # any failure: the records go back to Kinesis, never lost
        outcome.quarantine_error = f"{type(exc).__name__}: {exc}"
        failed.update(q.item.sequence_number for q in bad)
    else:
        outcome.quarantined.extend(bad)
        outcome.quarantine_key = outcome.quarantine_key or key


def _publish(
    deps: ParseDependencies,
    events: list[tuple[UserRecord, bytes]],
    outcome: BatchOutcome,
    failed: set[str],
    sleep: Callable[[float], None],
) -> list[QuarantinedRecord]:
    """Send the packed events; return the ones SQS refuses even alone (sender fault), to quarantine.

    A packed body refused as a sender fault is split: each of its events is sent alone, so one
    event SQS will not take does not take hundreds of neighbours back to Kinesis with it.
    """
    bodies: list[str] = []
    owners: list[list[tuple[UserRecord, bytes]]] = []
    start = 0
    for body, count in pack_encoded(item for _, item in events):
        bodies.append(body)
        owners.append(events[start : start + count])
        start += count
    errors, faults = publish.send_all_with_faults(deps.sqs, deps.queue_url, bodies, sleep=sleep)
    split = [i for i in sorted(faults) if len(owners[i]) > 1]
    alone = [pair for i in split for pair in owners[i]]
    refused = [(owners[i][0], errors[i]) for i in sorted(faults) if len(owners[i]) == 1]
    for i in split:
        del errors[i]
    if alone:
        alone_errors, alone_faults = publish.send_all_with_faults(
            deps.sqs, deps.queue_url, [_single(item) for _, item in alone], sleep=sleep
        )
        for j, code in alone_errors.items():
            if j in alone_faults:
                refused.append((alone[j], code))
            else:
                outcome.publish_errors[code] += 1
                failed.add(alone[j][0].sequence_number)
        outcome.messages += len(alone) - len(alone_errors)
        outcome.published_events += len(alone) - len(alone_errors)
    for index, code in errors.items():
        if index in faults:
            continue  # a single event refused: quarantined below
        outcome.publish_errors[code] += 1
        failed.update(record.sequence_number for record, _ in owners[index])
    sent = [i for i in range(len(bodies)) if i not in errors and i not in split]
    outcome.messages += len(sent)
    outcome.published_events += sum(len(owners[i]) for i in sent)
    return [
        _unpublishable(record, _event_id(item), f"SQS refused the message: {code}") for (record, item), code in refused
    ]


def _publish_fifo(
    deps: ParseDependencies,
    events: list[tuple[UserRecord, bytes]],
    keys: list[tuple[str, str]],
    outcome: BatchOutcome,
    failed: set[str],
    *,
    sleep: Callable[[float], None],
) -> list[QuarantinedRecord]:
    """:func:`_publish` for the FIFO queue: events packed per message group, in stream order.

    Sent in rounds, one body per group per round, so a retried body never overtakes the next
    one of its group; once a body of a group fails, the group's later bodies are not sent and
    their records fail too (Kinesis redelivers them in order). A body refused as a sender fault
    is quarantined whole (a gap in the validator; splitting it would reorder its group).
    """
    per_group: dict[str, list[int]] = {}
    for k, (group, _) in enumerate(keys):
        per_group.setdefault(group, []).append(k)
    # group -> its bodies in order, each with the indices of the events it carries
    queues: dict[str, list[tuple[str, list[int]]]] = {}
    for group, ks in per_group.items():
        start = 0
        for body, count in pack_encoded(events[k][1] for k in ks):
            queues.setdefault(group, []).append((body, ks[start : start + count]))
            start += count
    refused: list[QuarantinedRecord] = []
    blocked: set[str] = set()
    for r in range(max(len(q) for q in queues.values())):
        round_ = [(g, q[r]) for g, q in queues.items() if r < len(q) and g not in blocked]
        if not round_:
            break
        ids = [(g, fifo.deduplication_id(keys[k][1] for k in owned)) for g, (_, owned) in round_]
        errors, faults = publish.send_all_with_faults(
            deps.sqs, deps.queue_url, [body for _, (body, _) in round_], sleep=sleep, fifo=ids
        )
        for i, (group, (_, owned)) in enumerate(round_):
            if i in faults:
                refused.extend(
                    _unpublishable(events[k][0], keys[k][1], f"SQS refused the message: {errors[i]}") for k in owned
                )
            elif i in errors:
                outcome.publish_errors[errors[i]] += 1
                blocked.add(group)
                for _, later in queues[group][r:]:
                    failed.update(events[k][0].sequence_number for k in later)
            else:
                outcome.messages += 1
                outcome.published_events += len(owned)
    return refused


def _single(item: bytes) -> str:
    ((body, _),) = pack_encoded([item])
    return body


def _event_id(item: bytes) -> str | None:
    event_id = orjson.loads(item).get("event_id")
    return event_id if isinstance(event_id, str) else None


def _unpublishable(source: UserRecord, event_id: str | None, detail: str) -> QuarantinedRecord:
    """A valid event that cannot travel (a gap in the validator): kept whole for replay once fixed."""
    record = source.record
    item = Quarantined(
        Reason.UNPUBLISHABLE,
        detail[:200],
        source.raw,
        record.sequence_number,
        record.arrival,
        event_id,
        source.sub_sequence_number,
    )
    return QuarantinedRecord(item, source.partition_key, record.shard_id)
