"""``riskctl forget --user-id ID``: erase one user across the state table, the warehouse and enriched/.

What is erased, in this order (each step is idempotent: a failed run is simply run again):

1. **State table**: every item whose partition key is the user. The key schema is read from the
   table (``DescribeTable``), so this holds whatever the score stage's layout is: with the key
   ``user_id`` it queries that key (one item today, several if a sort key is added); with any other
   partition key it scans for keys equal to the user id or starting with it followed by ``#``,
   ``|``, ``:`` or ``/``.
2. **Warehouse**: ``DELETE FROM risk_events WHERE user_id = ...`` in one transaction that first
   takes ``LOCK risk_events_load_lock``, as every writer of ``risk_events`` must (docs/loading.md).
3. **enriched/**: every object version holding one of the user's rows. The current version is
   rewritten without them (deleted if nothing is left); every older version holding them is
   deleted. A version that object lock still retains cannot be deleted: it is reported with its
   retain-until date (governance mode: a principal with ``s3:BypassGovernanceRetention`` may
   remove it earlier, see the runbook).

What stays, reported: ``raw/`` and ``quarantine/`` objects that hold the user's records. They are
the immutable record of what arrived; they expire with the bucket's lifecycle
(``archive.raw_expiry_days`` / ``archive.quarantine_expiry_days`` in cdk.json) and the report gives
each one's expiry date.

Every erasure writes an audit entry to ``audit/erasures/`` in the archive bucket (object lock applies
in prod): when, by whom, what was erased and what stays, with the user id as a SHA-256 only.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson

from risk.common.archive import ENRICHED_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX, jsonl, read_jsonl
from risk.warehouse.connection import Warehouse
from stacks.config import ArchiveConfig
from tools.cli.errors import OperatorError
from tools.cli.replay import parse_lines

AUDIT_PREFIX = "audit/erasures/"
LOCK_LOAD_MUTEX = "LOCK risk_events_load_lock"
DELETE_USER_ROWS = "DELETE FROM risk_events WHERE user_id = %s"
KEY_SEPARATORS = ("#", "|", ":", "/")
JSONL_CONTENT_TYPE = "application/x-ndjson"


@dataclass(frozen=True)
class Retained:
    """An archive object the erasure leaves in place, and until when."""

    key: str
    version_id: str | None
    until: str  # ISO date: lifecycle expiry, or object lock's retain-until date
    why: str


@dataclass
class ErasureReport:
    user_sha256: str
    at: str
    operator: str
    state_items_deleted: int = 0
    warehouse_rows_deleted: int | None = None  # None: no warehouse given
    enriched_rows_removed: int = 0
    enriched_objects_rewritten: list[str] = field(default_factory=list)
    enriched_objects_deleted: list[str] = field(default_factory=list)
    enriched_old_versions_deleted: int = 0
    retained: list[Retained] = field(default_factory=list)
    audit_key: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def user_hash(user_id: str) -> str:
    return hashlib.sha256(user_id.encode("utf-8")).hexdigest()


def forget(
    user_id: str,
    *,
    dynamodb: Any,
    table: str,
    s3: Any,
    bucket: str,
    warehouse: Warehouse | None,
    archive: ArchiveConfig,
    operator: str,
    now: datetime | None = None,
) -> ErasureReport:
    """Erase ``user_id``; returns the report that was also written to the audit log."""
    if not user_id or user_id != user_id.strip():
        raise OperatorError("--user-id: give the exact user id (no surrounding spaces)")
    at = (now or datetime.now(UTC)).astimezone(UTC)
    report = ErasureReport(user_sha256=user_hash(user_id), at=at.isoformat(), operator=operator)
    report.state_items_deleted = erase_state(dynamodb, table, user_id)
    if warehouse is not None:
        report.warehouse_rows_deleted = erase_warehouse_rows(warehouse, user_id)
    erase_enriched(s3, bucket, user_id, report)
    report.retained.extend(retained_archive(s3, bucket, user_id, archive))
    report.audit_key = f"{AUDIT_PREFIX}{at:%Y/%m/%d}/{at:%Y%m%dT%H%M%S%f}Z-{report.user_sha256[:16]}.json"
    s3.put_object(
        Bucket=bucket,
        Key=report.audit_key,
        Body=json.dumps(report.to_dict(), indent=2).encode(),
        ContentType="application/json",
    )
    return report


def erase_state(dynamodb: Any, table: str, user_id: str) -> int:
    """Delete every item of the user, whatever the table's key schema; returns how many."""
    schema = dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
    key_names = [k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"] != "HASH")]
    partition = key_names[0]
    if partition == "user_id":
        names = {f"#p{i}": name for i, name in enumerate(key_names)}
        pages = dynamodb.get_paginator("query").paginate(
            TableName=table,
            KeyConditionExpression="#p0 = :u",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":u": {"S": user_id}},
            ProjectionExpression=", ".join(names),
            ConsistentRead=True,
        )
        items = [item for page in pages for item in page["Items"]]
        if len(key_names) == 1:  # the state's chunks and id segments are "<user>#...": all of them, listed or not
            prefixed = dynamodb.get_paginator("scan").paginate(
                TableName=table,
                FilterExpression="begins_with(#p0, :prefix)",
                ExpressionAttributeNames={"#p0": partition},
                ExpressionAttributeValues={":prefix": {"S": f"{user_id}#"}},
                ProjectionExpression="#p0",
                ConsistentRead=True,
            )
            items += [item for page in prefixed for item in page["Items"]]
    else:
        items = [item for item in _scan_keys(dynamodb, table, key_names) if _belongs(item[partition], user_id)]
    for item in items:
        dynamodb.delete_item(TableName=table, Key={name: item[name] for name in key_names})
    return len(items)


def _scan_keys(dynamodb: Any, table: str, key_names: list[str]) -> Iterator[dict[str, Any]]:
    names = {f"#p{i}": name for i, name in enumerate(key_names)}
    for page in dynamodb.get_paginator("scan").paginate(
        TableName=table, ProjectionExpression=", ".join(names), ExpressionAttributeNames=names
    ):
        yield from page["Items"]


def _belongs(value: dict[str, Any], user_id: str) -> bool:
    text = value.get("S")
    if text is None:
        return False
    return text == user_id or any(text.startswith(user_id + sep) for sep in KEY_SEPARATORS)


def erase_warehouse_rows(warehouse: Warehouse, user_id: str) -> int:
    """Delete the user's rows under the loaders' mutex (the same transaction)."""
    with warehouse.transaction():
        warehouse.execute(LOCK_LOAD_MUTEX)
        return max(0, warehouse.execute(DELETE_USER_ROWS, (user_id,)))


def _versions(s3: Any, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Versions", [])


def _version_args(version: dict[str, Any]) -> dict[str, str]:
    vid = version.get("VersionId")
    return {"VersionId": vid} if vid and vid != "null" else {}


def erase_enriched(s3: Any, bucket: str, user_id: str, report: ErasureReport) -> None:
    for version in list(_versions(s3, bucket, ENRICHED_PREFIX)):
        key = version["Key"]
        body = s3.get_object(Bucket=bucket, Key=key, **_version_args(version))["Body"].read()
        rows = read_jsonl(body)
        kept = [row for row in rows if row.get("user_id") != user_id]
        if len(kept) == len(rows):
            continue
        if version.get("IsLatest", True):
            report.enriched_rows_removed += len(rows) - len(kept)
            if kept:
                s3.put_object(Bucket=bucket, Key=key, Body=jsonl(kept), ContentType=JSONL_CONTENT_TYPE)
                report.enriched_objects_rewritten.append(key)
            else:
                s3.delete_object(Bucket=bucket, Key=key)
                report.enriched_objects_deleted.append(key)
        if _version_args(version):  # versioned: the old version still holds the rows
            _delete_version(s3, bucket, version, report)


def _delete_version(s3: Any, bucket: str, version: dict[str, Any], report: ErasureReport) -> None:
    key, args = version["Key"], _version_args(version)
    try:
        s3.delete_object(Bucket=bucket, Key=key, **args)
    except Exception as exc:  # object lock (AccessDenied) keeps it: report until when
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        head = s3.head_object(Bucket=bucket, Key=key, **args)
        until = head.get("ObjectLockRetainUntilDate")
        report.retained.append(
            Retained(key, args.get("VersionId"), until.date().isoformat() if until else "unknown", f"locked ({code})")
        )
        return
    report.enriched_old_versions_deleted += 1


def retained_archive(s3: Any, bucket: str, user_id: str, archive: ArchiveConfig) -> list[Retained]:
    """The raw/ and quarantine/ objects holding the user's records, with their lifecycle expiry."""
    found: list[Retained] = []
    for prefix, days in ((RAW_PREFIX, archive.raw_expiry_days), (QUARANTINE_PREFIX, archive.quarantine_expiry_days)):
        for version in _versions(s3, bucket, prefix):
            body = s3.get_object(Bucket=bucket, Key=version["Key"], **_version_args(version))["Body"].read()
            holds = _raw_holds if prefix == RAW_PREFIX else _quarantine_holds
            if holds(body, user_id):
                created: datetime = version["LastModified"]
                expires = _lifecycle_date(created, days)
                why = "raw archive, kept until lifecycle expiry" if prefix == RAW_PREFIX else "quarantine copy"
                found.append(
                    Retained(version["Key"], _version_args(version).get("VersionId"), expires.isoformat(), why)
                )
    return found


def _lifecycle_date(created: datetime, days: int) -> date:
    """S3 expires an object at the first midnight UTC ``days`` days after it was created."""
    return (created.astimezone(UTC) + timedelta(days=days)).date() + timedelta(days=1)


def _event_user(data: bytes) -> str | None:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        doc = None
    if isinstance(doc, dict):
        uid = doc.get("user_id")
        return uid if isinstance(uid, str) else None
    try:
        from risk.parse.parser import Quarantined, parse_record  # noqa: PLC0415 (Avro and the parser's rules)

        result = parse_record(data, sequence_number="0", arrival=datetime.now(UTC))
    except Exception:
        return None
    return None if isinstance(result, Quarantined) else result.user_id


def _raw_holds(body: bytes, user_id: str) -> bool:
    needle = user_id.encode("utf-8")
    for record in parse_lines(body):
        if record.partition_key == user_id or (needle in record.data and _event_user(record.data) == user_id):
            return True
    return False


def _quarantine_holds(body: bytes, user_id: str) -> bool:
    """A quarantine line holds the user if keyed by them or if its raw bytes contain the id (a malformed
    record cannot be parsed for its user_id: reporting a near-miss beats missing one)."""
    needle = user_id.encode("utf-8")
    for line in read_jsonl(body):
        if line.get("partition_key") == user_id:
            return True
        raw = base64.b64decode(line["raw_b64"]) if isinstance(line.get("raw_b64"), str) else b""
        if needle in raw:
            return True
    return False
