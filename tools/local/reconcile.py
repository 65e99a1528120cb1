"""Where did every record go? The end-of-run accounting of ``make demo`` and the drills.

Each record put on the stream ends in exactly one of:

* quarantined: a line in an S3 quarantine/ object (matched back to the record by its raw bytes; a
  line a later stage wrote, ``stage: score``, by its event id);
* abandoned by the Kinesis poller: on the parse-failures (on-failure) queue;
* delivered: parsed into an event, which is then loaded (a row in ``risk_events``), in a DLQ
  (parsed-dlq or scored-dlq, not loaded), or a duplicate of an event delivered before (suppressed).

So ``sent = loaded + quarantined + dlq + duplicates_suppressed`` (event counts, with ``dlq``
counting the abandoned records and the events that sit in a DLQ and were not loaded); anything
else is ``missing`` (delivered, neither loaded nor in a DLQ) or ``unexpected`` (a quarantine line
or a row nobody sent) and makes the run fail.
"""

from __future__ import annotations

import base64
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from risk.common.archive import ENRICHED_PREFIX, QUARANTINE_PREFIX, read_jsonl
from risk.common.envelope import EnvelopeError, unpack
from risk.parse.quarantine import RECORD_STAGES
from risk.warehouse.connection import Warehouse
from tools.local.pipeline import LocalPipeline, SentRecord

_RAW_FIELDS = ("raw_b64", "data_b64", "raw", "data")  # the quarantine record's base64 bytes
SCORE_BUCKETS = 10
TOP_FLAGGED = 10


@dataclass
class DlqContents:
    messages: int = 0
    items: int = 0
    event_ids: list[str] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)


@dataclass
class Reconciliation:
    sent: int
    loaded: int
    quarantined: dict[str, int]
    dlq: dict[str, int]  # queue key -> items (events, or records for parse-failures)
    dlq_not_loaded: int
    duplicates_suppressed: int
    unidentified: int  # parsed records whose event_id the producer could not tell (odd --events lines)
    missing: list[str]
    unexpected_rows: list[str]
    unexpected_quarantine: int
    reason_mismatches: list[tuple[str, str]]  # (expected, actual) for generated malformed records
    score_bands: dict[str, int]
    score_histogram: list[int]
    top_flagged: list[dict[str, Any]]
    enriched_events: int
    dlq_samples: dict[str, list[str]]
    metrics: dict[str, float]

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def balanced(self) -> bool:
        return self.sent == (
            self.loaded
            + self.quarantined_total
            + self.dlq_not_loaded
            + self.duplicates_suppressed
            + self.unidentified
            + len(self.missing)
        )

    @property
    def ok(self) -> bool:
        return (
            self.balanced
            and not self.missing
            and not self.unexpected_rows
            and not self.unexpected_quarantine
            and not self.reason_mismatches
        )

    def summary(self) -> dict[str, Any]:
        """The ``--summary-json`` document."""
        return {
            "ok": self.ok,
            "sent": self.sent,
            "loaded": self.loaded,
            "duplicates_suppressed": self.duplicates_suppressed,
            "quarantined": dict(sorted(self.quarantined.items())),
            "quarantined_total": self.quarantined_total,
            "dlq": dict(sorted(self.dlq.items())),
            "dlq_not_loaded": self.dlq_not_loaded,
            "unidentified": self.unidentified,
            "missing": len(self.missing),
            "missing_event_ids": self.missing[:100],
            "unexpected_rows": len(self.unexpected_rows),
            "unexpected_quarantine": self.unexpected_quarantine,
            "reason_mismatches": [{"expected": e, "actual": a} for e, a in self.reason_mismatches[:100]],
            "enriched_events": self.enriched_events,
            "score_bands": self.score_bands,
            "score_histogram": self.score_histogram,
            "top_flagged": self.top_flagged,
            "metrics": self.metrics,
        }


def quarantine_lines(s3: Any, bucket: str) -> list[dict[str, Any]]:
    """Every quarantine record in the archive (one JSON Lines object per parse invocation)."""
    return [line for body in _objects(s3, bucket, QUARANTINE_PREFIX) for line in read_jsonl(body)]


def raw_bytes(line: dict[str, Any]) -> bytes | None:
    for name in _RAW_FIELDS:
        if isinstance(line.get(name), str):
            try:
                return base64.b64decode(line[name], validate=True)
            except ValueError:
                return None
    return None


def _objects(s3: Any, bucket: str, prefix: str) -> Iterable[bytes]:
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()


def peek_queue(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every message of a queue, left in place: received once, then made visible again at once."""
    seen: dict[str, dict[str, Any]] = {}
    handles: list[str] = []
    while True:
        messages = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300, WaitTimeSeconds=0, AttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            break
        for m in messages:
            seen.setdefault(m["MessageId"], m)
            handles.append(m["ReceiptHandle"])
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles[start : start + 10])
            ],
        )
    return list(seen.values())


def dlq_contents(sqs: Any, url: str, key: str) -> DlqContents:
    out = DlqContents()
    for message in peek_queue(sqs, url):
        out.messages += 1
        body = message["Body"]
        if key == "parse-failures":
            info = _json(body).get("KinesisBatchInfo", {})
            out.items += int(info.get("batchSize", 0))
            out.samples.append(
                f"{info.get('shardId')} {info.get('startSequenceNumber')}..{info.get('endSequenceNumber')}"
                f" ({info.get('batchSize')} records)"
            )
            continue
        try:
            items = unpack(body)
        except EnvelopeError:
            out.items += 1
            out.samples.append(body[:120])
            continue
        out.items += len(items)
        for item in items:
            event = item.get("event", item) if isinstance(item, dict) else {}
            if isinstance(event, dict) and isinstance(event.get("event_id"), str):
                out.event_ids.append(event["event_id"])
        out.samples.append(f"message {message['MessageId']}: {len(items)} events")
    return out


def _json(text: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def enriched_event_ids(s3: Any, bucket: str) -> set[str]:
    ids: set[str] = set()
    for body in _objects(s3, bucket, ENRICHED_PREFIX):
        for line in read_jsonl(body):
            event_id = line.get("event_id") or (line.get("event") or {}).get("event_id")
            if isinstance(event_id, str):
                ids.add(event_id)
    return ids


def warehouse_report(warehouse: Warehouse) -> tuple[set[str], dict[str, int], list[int], list[dict[str, Any]]]:
    """Loaded event ids, rows per risk band, a 10-bucket score histogram and the top flagged events."""
    with warehouse.transaction():
        ids = {str(r[0]) for r in warehouse.fetchall("SELECT event_id FROM risk_events")}
        bands = {
            str(b): int(n)
            for b, n in warehouse.fetchall(
                "SELECT risk_band, COUNT(*) FROM risk_events GROUP BY risk_band ORDER BY risk_band"
            )
        }
        histogram = [0] * SCORE_BUCKETS
        for bucket, n in warehouse.fetchall(
            f"SELECT LEAST(FLOOR(score * {SCORE_BUCKETS}), {SCORE_BUCKETS - 1}) AS b, COUNT(*) FROM risk_events "
            "GROUP BY 1 ORDER BY 1"
        ):
            histogram[int(bucket)] = int(n)
        top = [
            {
                "event_id": str(r[0]),
                "user_id": str(r[1]),
                "event_type": str(r[2]),
                "amount": None if r[3] is None else float(r[3]),
                "currency": r[4],
                "score": round(float(r[5]), 4),
                "risk_band": str(r[6]),
                "model_version": str(r[7]),
                "reason_codes": _reasons(r[8]),
                "reason_contributions": _contributions(r[9]),
            }
            for r in warehouse.fetchall(
                "SELECT event_id, user_id, event_type, amount, currency, score, risk_band, model_version, "
                "reason_codes, reason_contributions FROM risk_events "
                f"ORDER BY score DESC, event_id LIMIT {TOP_FLAGGED}"
            )
        ]
    return ids, bands, histogram, top


def _reasons(value: Any) -> list[str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def _contributions(value: Any) -> list[float | None] | None:
    """The stored contributions (JSON text or already decoded); None when the row has none."""
    if isinstance(value, str):
        value = json.loads(value)
    if not isinstance(value, list):
        return None
    return [None if v is None else float(v) for v in value]


def reconcile(pipeline: LocalPipeline, warehouse: Warehouse, *, fresh_warehouse: bool = True) -> Reconciliation:
    resources = pipeline.resources
    sent = pipeline.sent

    # Quarantine: match each line back to a record by its raw bytes (duplicates match one each).
    by_bytes: dict[bytes, list[SentRecord]] = defaultdict(list)
    abandoned = {(r.generation, r.shard_id, r.sequence_number) for r in pipeline.parse.stats.abandoned}
    for record in sent:
        if (record.generation, record.shard_id, record.sequence_number) not in abandoned:
            by_bytes[record.data].append(record)
    quarantined: Counter[str] = Counter()
    quarantined_records: set[int] = set()
    unexpected_quarantine = 0
    mismatches: list[tuple[str, str]] = []
    set_aside_later: set[str] = set()  # event ids a later stage (score) quarantined alone
    for line in quarantine_lines(pipeline.s3, resources.bucket):
        reason = str(line.get("reason", "unknown"))
        quarantined[reason] += 1
        if line.get("stage", "parse") not in RECORD_STAGES:  # ingest lines hold the record's bytes too
            if isinstance(line.get("event_id"), str):
                set_aside_later.add(line["event_id"])
            else:
                unexpected_quarantine += 1
            continue
        data = raw_bytes(line)
        candidates = by_bytes.get(data) if data is not None else None
        if not candidates:
            unexpected_quarantine += 1
            continue
        record = candidates.pop()
        quarantined_records.add(id(record))
        if record.expected_reason is not None and record.expected_reason != reason:
            mismatches.append((record.expected_reason, reason))

    delivered = [r for records in by_bytes.values() for r in records if id(r) not in quarantined_records]
    expected_ids = {r.event_id for r in delivered if r.event_id is not None}
    unknown_delivered = sum(1 for r in delivered if r.event_id is None)

    dlqs = {key: dlq_contents(pipeline.sqs, resources.queue_urls[key], key) for key in resources.dead_letter_queues}
    dlq_ids = {event_id for key, c in dlqs.items() for event_id in c.event_ids}

    loaded_all, bands, histogram, top = warehouse_report(warehouse)
    loaded_ids = loaded_all & expected_ids
    unexpected_rows = sorted(loaded_all - expected_ids) if fresh_warehouse else []
    dlq_only = (dlq_ids & expected_ids) - loaded_ids
    missing = sorted(expected_ids - loaded_ids - dlq_ids - set_aside_later)
    duplicates = len(delivered) - unknown_delivered - len(expected_ids)
    # records sent, not Kinesis records: an abandoned KPL aggregate abandons each of its records
    abandoned_records = sum(1 for r in sent if (r.generation, r.shard_id, r.sequence_number) in abandoned)

    return Reconciliation(
        sent=len(sent),
        loaded=len(loaded_ids),
        quarantined=dict(quarantined),
        dlq={key: c.items for key, c in dlqs.items()},
        dlq_not_loaded=len(dlq_only) + abandoned_records,
        unidentified=unknown_delivered,
        duplicates_suppressed=duplicates,
        missing=missing,
        unexpected_rows=unexpected_rows,
        unexpected_quarantine=unexpected_quarantine,
        reason_mismatches=mismatches,
        score_bands=bands,
        score_histogram=histogram,
        top_flagged=top,
        enriched_events=len(enriched_event_ids(pipeline.s3, resources.bucket) & expected_ids),
        dlq_samples={key: c.samples[:5] for key, c in dlqs.items()},
        metrics=dict(sorted(pipeline.metrics.totals.items())),
    )
