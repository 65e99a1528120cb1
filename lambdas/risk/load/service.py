"""The load stage without Lambda: decode a batch of SQS messages, archive it, load it.

The handler is a thin shell around these functions; tests and the local runner call them
directly. Order of effects for one invocation:

1. decode every message (an envelope of ``ScoredEvent`` dicts) and map its events to pseudonymised
   records; a message that fails here fails alone;
2. write the enriched records to S3, one JSON Lines object per event date, under a batch id derived
   from the message ids (a retry of the same messages overwrites the same keys);
3. load the rows in one warehouse transaction (:func:`risk.warehouse.loader.load_batch`).

Only when 3 has committed are the messages acknowledged; any error in 2 or 3 fails them all.
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
from risk.common.envelope import unpack
from risk.common.settings import (
    ARCHIVE_BUCKET,
    PII_KEY_SECRET_ARN,
    REDSHIFT_DATABASE,
    REDSHIFT_HOST,
    REDSHIFT_WORKGROUP,
    WAREHOUSE_DSN,
    env,
)
from risk.load.pseudonymise import Pseudonymiser, load_pseudonymiser
from risk.load.rows import Record, RowError, event_date, to_enriched, to_record, to_row
from risk.score.model import ScoredEvent
from risk.warehouse.connection import Warehouse, connect_dsn, connect_serverless
from risk.warehouse.loader import LoadResult, load_batch

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
        records.append(to_record(scored, keys, loaded_at))
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
    """S3 key -> JSON Lines body: one object per event date, events in event_id order."""
    by_date: dict[str, list[Record]] = {}
    for record in sorted(first_copies(records), key=lambda r: r["event_id"]):
        by_date.setdefault(enriched_key(event_date(record), batch), []).append(record)
    return {key: jsonl(to_enriched(r) for r in group) for key, group in sorted(by_date.items())}


def max_lag_ms(records: Iterable[Record]) -> float | None:
    """End-to-end lag of the batch: the largest ``loaded_at - ingested_at`` (arrival on the stream)."""
    lags = [(r["loaded_at"] - r["ingested_at"]).total_seconds() * 1000.0 for r in records]
    return max(lags) if lags else None


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
    dsn = os.environ.get(WAREHOUSE_DSN)
    if dsn:
        return connect_dsn(dsn)
    return connect_serverless(
        env(REDSHIFT_WORKGROUP), env(REDSHIFT_DATABASE), host=os.environ.get(REDSHIFT_HOST) or None
    )


@dataclass
class LoadDependencies:
    s3: Any
    bucket: str
    keys: Pseudonymiser
    warehouse: WarehouseSession

    @classmethod
    def from_environment(cls, session: Any = None) -> LoadDependencies:
        session = session or boto3.session.Session()
        keys = load_pseudonymiser(aws.client("secretsmanager", session), env(PII_KEY_SECRET_ARN))
        return cls(
            s3=aws.client("s3", session),
            bucket=env(ARCHIVE_BUCKET),
            keys=keys,
            warehouse=WarehouseSession(connect_from_environment),
        )


@dataclass
class LoadOutcome:
    batch_id: str
    result: LoadResult
    objects: list[str] = field(default_factory=list)
    max_lag_ms: float | None = None


def archive_and_load(records: Sequence[Record], message_ids: Sequence[str], deps: LoadDependencies) -> LoadOutcome:
    """Steps 2 and 3; raises on any failure (after discarding a possibly broken connection)."""
    batch = batch_id(message_ids)
    objects = enriched_objects(records, batch)
    for key, body in objects.items():
        deps.s3.put_object(Bucket=deps.bucket, Key=key, Body=body, ContentType=JSONL_CONTENT_TYPE)
    try:
        result = load_batch(deps.warehouse.get(), [to_row(r) for r in records])
    except Exception:
        deps.warehouse.discard()
        raise
    return LoadOutcome(batch_id=batch, result=result, objects=list(objects), max_lag_ms=max_lag_ms(records))
