"""The load stage without Lambda: decode a batch of SQS messages, archive it, load it.

The handler is a thin shell around these functions; tests and the local runner call them
directly. Order of effects for one invocation:

1. decode every message (an envelope of ``ScoredEvent`` dicts) and map its events to pseudonymised
   records; a message that fails here fails alone;
2. write the enriched records to S3, one JSON Lines object per event date, under a batch id derived
   from the message ids (a retry of the same messages overwrites the same keys);
3. load the rows exactly once (:func:`risk.warehouse.loader.load_batch`).

Only when 3 has committed are the messages acknowledged. When the warehouse refuses the batch's
*data* (a value it cannot store: SQLSTATE classes 22/23/54, or a COPY that rejected rows), the
batch is split in halves and each half loaded on its own, down to the single message that cannot
load: that message alone fails (and reaches the DLQ after its retries); its neighbours load.
The objects written for a refused attempt are deleted, so ``enriched/`` never holds events that
the warehouse refused. Any other error (connection, timeout, S3) fails every message: a retry of
the whole batch is what can fix it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import boto3

from risk.common import aws
from risk.common.archive import enriched_key, jsonl
from risk.common.envelope import source_of, thresholds_of, unpack
from risk.common.settings import (
    ARCHIVE_BUCKET,
    BULK_LOAD_MIN_ROWS,
    PII_KEY_SECRET_ARN,
    REDSHIFT_DATABASE,
    REDSHIFT_HOST,
    REDSHIFT_WORKGROUP,
    WAREHOUSE_DSN,
    WAREHOUSE_STATEMENT_TIMEOUT_S,
    env,
)
from risk.load.pseudonymise import Pseudonymiser, load_pseudonymiser
from risk.load.rows import Record, RowError, event_date, to_enriched, to_record, to_row
from risk.score.model import ScoredEvent
from risk.warehouse.connection import (
    DEFAULT_STATEMENT_TIMEOUT_S,
    Warehouse,
    connect_dsn,
    connect_serverless,
    is_data_error,
)
from risk.warehouse.loader import DEFAULT_BULK_MIN_ROWS, LoadResult, load_batch

BATCH_ID_HEX_CHARS = 32
JSONL_CONTENT_TYPE = "application/x-ndjson"


def load_time() -> datetime:
    """The batch's ``loaded_at``: now, in UTC, at millisecond precision (what the archive's text keeps)."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def decode_message(body: str, keys: Pseudonymiser, loaded_at: datetime) -> list[Record]:
    """One SQS message body to pseudonymised records; raises on anything malformed."""
    records: list[Record] = []
    for item in unpack(body):
        if not isinstance(item, dict):
            raise RowError(f"an envelope item is a {type(item).__name__}, not a scored event")
        try:
            scored = ScoredEvent.from_dict(item)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RowError(f"not a scored event: {type(exc).__name__}: {exc}") from exc
        records.append(to_record(scored, keys, loaded_at, source_of(item), thresholds_of(item)))
    return records


def batch_id(message_ids: Iterable[str]) -> str:
    """Deterministic in the set of messages: the same messages, redelivered, give the same id."""
    digest = hashlib.sha256("\n".join(sorted(message_ids)).encode()).hexdigest()
    return digest[:BATCH_ID_HEX_CHARS]


def first_copies(records: Iterable[Record]) -> list[Record]:
    """The batch with repeated event_ids dropped, keeping the first copy (as the loader does)."""
    seen: set[str] = set()
    kept = []
    for record in records:
        if record["event_id"] not in seen:
            seen.add(record["event_id"])
            kept.append(record)
    return kept


def enriched_objects(records: Sequence[Record], batch: str) -> dict[str, bytes]:
    """S3 key -> JSON Lines body: one object per event date, events in event_id order.

    Sets each record's ``enriched_key`` to its object's key (the row then leads to the object).
    """
    for record in records:
        record["enriched_key"] = enriched_key(event_date(record), batch)
    by_date: dict[str, list[Record]] = {}
    for record in sorted(first_copies(records), key=lambda r: r["event_id"]):
        by_date.setdefault(record["enriched_key"], []).append(record)
    return {key: jsonl(to_enriched(r) for r in group) for key, group in sorted(by_date.items())}


def lags_ms(records: Iterable[Record]) -> list[tuple[float, float]]:
    """Per event: ``loaded_at - ingested_at`` (arrival on the stream) and ``loaded_at - occurred_at``, in ms."""
    return [
        (
            (r["loaded_at"] - r["ingested_at"]).total_seconds() * 1000.0,
            (r["loaded_at"] - r["occurred_at"]).total_seconds() * 1000.0,
        )
        for r in records
    ]


class WarehouseSession:
    """One warehouse connection per container, opened on first use and replaced after a failure."""

    def __init__(self, connect: Callable[[], Warehouse]) -> None:
        self._connect = connect
        self._warehouse: Warehouse | None = None

    def get(self) -> Warehouse:
        if self._warehouse is None:
            self._warehouse = self._connect()
        return self._warehouse

    def discard(self) -> None:
        """Close the connection (it may be broken); the next batch opens a new one."""
        if self._warehouse is not None:
            self._warehouse.close()
            self._warehouse = None


def connect_from_environment() -> Warehouse:
    """``WAREHOUSE_DSN`` (local runs, tests) or the Redshift Serverless workgroup with IAM."""
    timeout = int(env(WAREHOUSE_STATEMENT_TIMEOUT_S, str(DEFAULT_STATEMENT_TIMEOUT_S)))
    dsn = os.environ.get(WAREHOUSE_DSN)
    if dsn:
        return connect_dsn(dsn, statement_timeout_s=timeout)
    return connect_serverless(
        env(REDSHIFT_WORKGROUP),
        env(REDSHIFT_DATABASE),
        host=os.environ.get(REDSHIFT_HOST) or None,
        statement_timeout_s=timeout,
    )


@dataclass
class LoadDependencies:
    s3: Any
    bucket: str
    keys: Pseudonymiser
    warehouse: WarehouseSession
    bulk_min_rows: int = DEFAULT_BULK_MIN_ROWS

    @classmethod
    def from_environment(cls, session: Any = None) -> LoadDependencies:
        session = session or boto3.session.Session()
        keys = load_pseudonymiser(aws.client("secretsmanager", session), env(PII_KEY_SECRET_ARN))
        return cls(
            s3=aws.client("s3", session),
            bucket=env(ARCHIVE_BUCKET),
            keys=keys,
            warehouse=WarehouseSession(connect_from_environment),
            bulk_min_rows=int(env(BULK_LOAD_MIN_ROWS, str(DEFAULT_BULK_MIN_ROWS))),
        )


Message = tuple[str, Sequence[Record]]  # an SQS message id and the records it carried


@dataclass
class LoadOutcome:
    batch_id: str  # of the first attempt (the whole batch): the correlation id in the logs
    result: LoadResult  # summed over the parts that loaded
    objects: list[str] = field(default_factory=list)
    lags_ms: list[tuple[float, float]] = field(default_factory=list)  # (from arrival, from event time) per event
    refused: dict[str, str] = field(default_factory=dict)  # message id -> why the warehouse refused it
    attempts: int = 1  # loads tried: 1 unless the batch was split


def archive_and_load(messages: Sequence[Message], deps: LoadDependencies) -> LoadOutcome:
    """Steps 2 and 3 for decoded messages; a message whose data the warehouse refuses fails alone.

    Raises on any other failure (after discarding a possibly broken connection): every message
    then goes back to the queue.
    """
    outcome = LoadOutcome(batch_id=batch_id(m for m, _ in messages), result=LoadResult(0, 0, 0, 0), attempts=0)
    _load_isolating(list(messages), deps, outcome)
    outcome.lags_ms = lags_ms(r for m, records in messages if m not in outcome.refused for r in records)
    return outcome


def _load_isolating(messages: list[Message], deps: LoadDependencies, outcome: LoadOutcome) -> None:
    records = [r for _, group in messages for r in group]
    batch = batch_id(m for m, _ in messages)
    objects = enriched_objects(records, batch)
    for key, body in objects.items():
        deps.s3.put_object(Bucket=deps.bucket, Key=key, Body=body, ContentType=JSONL_CONTENT_TYPE)
    outcome.attempts += 1
    try:
        result = load_batch(
            deps.warehouse.get(),
            [to_row(r) for r in records],
            bulk_sources=[f"s3://{deps.bucket}/{key}" for key in objects],
            bulk_min_rows=deps.bulk_min_rows,
        )
    except Exception as exc:
        if not _refused_data(exc):
            deps.warehouse.discard()
            raise
        for key in objects:  # the warehouse refused these events: the archive must not hold them
            deps.s3.delete_object(Bucket=deps.bucket, Key=key)
        if len(messages) == 1:
            outcome.refused[messages[0][0]] = f"{type(exc).__name__}: {exc}"[:500]
            return
        half = len(messages) // 2
        _load_isolating(messages[:half], deps, outcome)
        _load_isolating(messages[half:], deps, outcome)
        return
    outcome.objects.extend(objects)
    total = outcome.result
    outcome.result = LoadResult(
        rows_in=total.rows_in + result.rows_in,
        distinct=total.distinct + result.distinct,
        inserted=total.inserted + result.inserted,
        duplicates=total.duplicates + result.duplicates,
    )


def _refused_data(exc: Exception) -> bool:
    """The batch's data, not the warehouse, is at fault: splitting finds the message (see module doc)."""
    return is_data_error(exc) or isinstance(exc, TypeError | ValueError)
