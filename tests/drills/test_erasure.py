"""Drill: `riskctl forget` on the local run (moto + PostgreSQL), end to end.

Events of several users go through the real handlers; one user is then erased. Their state item,
their warehouse rows and their rows in every enriched/ object (old versions included) are gone; the
other users' data is untouched; the raw/ objects that hold their records are reported with an expiry
date; an audit entry records the erasure without the user id in clear.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from risk.common.archive import ENRICHED_PREFIX, RAW_PREFIX, read_jsonl
from risk.warehouse.connection import Warehouse, connect_dsn
from stacks.config import ArchiveConfig
from tests.drills.conftest import events, put_events, stored_states
from tools.cli.forget import AUDIT_PREFIX, erase_state, forget, user_hash
from tools.local.pipeline import LocalPipeline
from tools.riskctl import main as riskctl

ARCHIVE = ArchiveConfig(
    raw_expiry_days=30,
    enriched_expiry_days=30,
    quarantine_expiry_days=14,
    object_lock_retention_days=None,
    warehouse_retention_days=90,
)


def _rows_by_user(dsn: str) -> Counter[str]:
    warehouse: Warehouse
    with connect_dsn(dsn) as warehouse, warehouse.transaction():
        return Counter(str(r[0]) for r in warehouse.fetchall("SELECT user_id FROM risk_events"))


def _enriched_users(s3: Any, bucket: str, *, all_versions: bool) -> Counter[str]:
    users: Counter[str] = Counter()
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=ENRICHED_PREFIX):
        for version in page.get("Versions", []):
            if not (all_versions or version["IsLatest"]):
                continue
            body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
            users.update(str(row["user_id"]) for row in read_jsonl(body))
    return users


def test_forget_erases_one_user_everywhere_and_reports_what_raw_keeps(
    make_pipeline: Callable[..., LocalPipeline], pg_dsn: str
) -> None:
    pipeline = make_pipeline(pg_dsn)
    resources = pipeline.resources
    s3 = boto3.client("s3", region_name=resources.region)
    s3.put_bucket_versioning(Bucket=resources.bucket, VersioningConfiguration={"Status": "Enabled"})
    batch = events(300, seed=14)
    put_events(pipeline, batch)
    pipeline.drain()

    before = _rows_by_user(pg_dsn)
    victim, count = before.most_common(1)[0]
    assert count >= 2 and len(before) > 5
    assert victim in stored_states(resources)
    assert _enriched_users(s3, resources.bucket, all_versions=False)[victim] == count

    out = io.StringIO()
    code = riskctl(
        [
            "--region", resources.region, "forget", "--user-id", victim, "--env", "dev",
            "--bucket", resources.bucket, "--table", resources.state_table, "--dsn", pg_dsn,
        ],
        out=out,
    )  # fmt: skip
    assert code == 0, out.getvalue()

    after = _rows_by_user(pg_dsn)
    assert victim not in after
    assert after == Counter({u: n for u, n in before.items() if u != victim})  # nobody else touched
    assert victim not in stored_states(resources)
    keys = [
        i["user_id"]["S"]
        for i in boto3.client("dynamodb", region_name=resources.region).scan(TableName=resources.state_table)["Items"]
    ]
    assert not [k for k in keys if k.startswith(f"{victim}#")]  # no chunk or id segment left either
    assert len(stored_states(resources)) == len(before) - 1
    enriched = _enriched_users(s3, resources.bucket, all_versions=True)  # old versions included
    assert victim not in enriched and sum(enriched.values()) >= sum(after.values())

    (audit_key,) = [
        o["Key"] for o in s3.list_objects_v2(Bucket=resources.bucket, Prefix=AUDIT_PREFIX).get("Contents", [])
    ]
    entry = json.loads(s3.get_object(Bucket=resources.bucket, Key=audit_key)["Body"].read())
    assert entry["user_sha256"] == user_hash(victim) and victim not in json.dumps(entry)
    # The head, and the chunks and id segments of a user with enough events.
    assert entry["state_items_deleted"] >= 1 and entry["warehouse_rows_deleted"] == count
    assert entry["enriched_rows_removed"] == count and entry["enriched_old_versions_deleted"] >= 1
    raw_kept = [r for r in entry["retained"] if r["key"].startswith(RAW_PREFIX)]
    assert raw_kept and all(r["until"] > entry["at"][:10] for r in raw_kept)
    output = out.getvalue()
    assert f"audit entry: s3://{resources.bucket}/{audit_key}" in output and "stays until" in output

    # Idempotent: a second run finds nothing left to erase, and is audited too.
    again = forget(
        victim,
        dynamodb=boto3.client("dynamodb", region_name=resources.region),
        table=resources.state_table,
        s3=s3,
        bucket=resources.bucket,
        warehouse=connect_dsn(pg_dsn),
        archive=ARCHIVE,
        operator="test",
    )
    assert (again.state_items_deleted, again.warehouse_rows_deleted, again.enriched_rows_removed) == (0, 0, 0)


@pytest.mark.parametrize(
    ("key_schema", "items", "left"),
    [
        # Today's layout: one item per user, keyed by user_id.
        ([("user_id", "HASH")], [{"user_id": "u1"}, {"user_id": "u10"}], [{"user_id": "u10"}]),
        # A sort key under user_id: every item of the user.
        (
            [("user_id", "HASH"), ("sk", "RANGE")],
            [{"user_id": "u1", "sk": "a"}, {"user_id": "u1", "sk": "b"}, {"user_id": "u2", "sk": "a"}],
            [{"user_id": "u2", "sk": "a"}],
        ),
        # Another partition key whose values start with the user id and a separator.
        (
            [("pk", "HASH")],
            [{"pk": "u1"}, {"pk": "u1#2026-11"}, {"pk": "u10#2026-11"}, {"pk": "u2"}],
            [{"pk": "u10#2026-11"}, {"pk": "u2"}],
        ),
    ],
)
def test_state_erasure_follows_the_table_key_schema(
    aws: None, key_schema: list[tuple[str, str]], items: list[dict[str, str]], left: list[dict[str, str]]
) -> None:
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
    dynamodb.create_table(
        TableName="state",
        KeySchema=[{"AttributeName": n, "KeyType": t} for n, t in key_schema],
        AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n, _ in key_schema],
        BillingMode="PAY_PER_REQUEST",
    )
    for item in items:
        dynamodb.put_item(TableName="state", Item={k: {"S": v} for k, v in item.items()})
    assert erase_state(dynamodb, "state", "u1") == len(items) - len(left)
    remaining = [{k: v["S"] for k, v in i.items()} for i in dynamodb.scan(TableName="state")["Items"]]
    assert sorted(remaining, key=str) == sorted(left, key=str)


def test_a_version_object_lock_still_retains_is_reported_with_its_date(aws: None) -> None:
    """Prod: enriched/ versions are locked (governance) for archive.object_lock_retention_days."""
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(
        Bucket="locked", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}, ObjectLockEnabledForBucket=True
    )
    s3.put_object_lock_configuration(
        Bucket="locked",
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 30}},
        },
    )
    key = f"{ENRICHED_PREFIX}event_date=2026-11-01/batch.jsonl"
    s3.put_object(Bucket="locked", Key=key, Body=b'{"user_id": "u1"}\n{"user_id": "u2"}\n')
    dynamodb = boto3.client("dynamodb", region_name="eu-west-1")
    dynamodb.create_table(
        TableName="state",
        KeySchema=[{"AttributeName": "user_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "user_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    report = forget(
        "u1", dynamodb=dynamodb, table="state", s3=s3, bucket="locked", warehouse=None, archive=ARCHIVE, operator="t"
    )
    assert report.enriched_objects_rewritten == [key] and report.enriched_rows_removed == 1
    assert report.enriched_old_versions_deleted == 0
    (locked,) = report.retained
    assert locked.key == key and locked.why.startswith("locked") and locked.until > report.at[:10]
    current = s3.get_object(Bucket="locked", Key=key)["Body"].read()
    assert b"u1" not in current and b"u2" in current
