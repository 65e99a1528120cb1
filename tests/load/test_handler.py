"""The load handler end to end: real SQS event shapes, moto S3 (SSE-KMS) and Secrets Manager, real PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from risk.common import telemetry
from risk.common.archive import ENRICHED_PREFIX, read_jsonl
from risk.common.settings import ARCHIVE_BUCKET, ENVIRONMENT, PII_KEY_SECRET_ARN, WAREHOUSE_DSN
from risk.load import handler
from risk.load.pseudonymise import Pseudonymiser
from risk.load.service import batch_id
from risk.warehouse.connection import connect_dsn
from tests.load.conftest import (
    REGION,
    TEST_KEY,
    FakeContext,
    envelope_bodies,
    make_scored,
    sqs_event,
)

BUCKET = "risk-archive-test"
RAW_PII = ("alice.example@mail.test", "Alice.Example@Mail.TEST", "203.0.113.7", "device-abc")


@dataclass
class Aws:
    s3: Any
    kms_key_id: str
    dsn: str


@pytest.fixture
def aws(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto S3 with a KMS-encrypted bucket, the PII key secret, and the env a deployed function gets."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    with mock_aws():
        kms_key_id = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_encryption(
            Bucket=BUCKET,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id}}
                ]
            },
        )
        secret_arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="risk/test/pii-key", SecretString=TEST_KEY.decode()
        )["ARN"]
        monkeypatch.setenv(ARCHIVE_BUCKET, BUCKET)
        monkeypatch.setenv(PII_KEY_SECRET_ARN, secret_arn)
        monkeypatch.setenv(WAREHOUSE_DSN, pg_dsn)
        monkeypatch.setenv(ENVIRONMENT, "test")
        monkeypatch.setattr(handler, "_dependencies", None)  # a fresh container
        yield Aws(s3=s3, kms_key_id=kms_key_id, dsn=pg_dsn)
        if handler._dependencies is not None:
            handler._dependencies.warehouse.discard()


def invoke(event: dict[str, Any]) -> dict[str, Any]:
    return handler.lambda_handler(event, FakeContext())


def failed_ids(response: dict[str, Any]) -> list[str]:
    return sorted(item["itemIdentifier"] for item in response["batchItemFailures"])


def warehouse_rows(dsn: str) -> list[tuple[Any, ...]]:
    with connect_dsn(dsn) as warehouse:
        return warehouse.fetchall("SELECT event_id, email_key, ip_key, device_key, score FROM risk_events ORDER BY 1")


def enriched_objects(s3: Any) -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=BUCKET, Prefix=ENRICHED_PREFIX).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listing}


def emitted_metrics(stdout: str) -> dict[str, list[float]]:
    """Metric name -> values from the EMF lines Powertools printed; also checks namespace and dimensions."""
    values: dict[str, list[float]] = {}
    for line in stdout.splitlines():
        if not line.startswith("{") or "_aws" not in line:
            continue
        doc = json.loads(line)
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == telemetry.NAMESPACE
            assert {"service", "environment"} <= set(directive["Dimensions"][0])
            for metric in directive["Metrics"]:
                value = doc[metric["Name"]]
                values.setdefault(metric["Name"], []).extend(value if isinstance(value, list) else [value])
        assert doc["environment"] == "test"
    return values


def failures_by_cause(stdout: str) -> dict[str, float]:
    """``ProcessingFailures`` of the load stage summed by its ``cause`` dimension."""
    out: dict[str, float] = {}
    for line in stdout.splitlines():
        if line.startswith("{") and telemetry.PROCESSING_FAILURES.name in line:
            doc = json.loads(line)
            assert doc["stage"] == "load"
            value = doc[telemetry.PROCESSING_FAILURES.name]
            out[doc["cause"]] = out.get(doc["cause"], 0) + (sum(value) if isinstance(value, list) else value)
    return out


def test_rows_and_enriched_objects_land_without_raw_pii(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    # Two messages; events on two dates (the second message's event occurred a day later).
    first = [make_scored(f"evt-{i}") for i in range(3)]
    later = make_scored("evt-next-day", occurred_at=first[0].event.occurred_at.replace(day=2))
    event = sqs_event(*envelope_bodies(first), *envelope_bodies([later]))

    response = invoke(event)

    assert response == {"batchItemFailures": []}
    keys = Pseudonymiser(TEST_KEY)
    rows = warehouse_rows(aws.dsn)
    assert [r[0] for r in rows] == ["evt-0", "evt-1", "evt-2", "evt-next-day"]
    assert all(
        r[1:4] == (keys.email_key("alice.example@mail.test"), keys.ip_key("203.0.113.7"), keys.device_key("device-abc"))
        for r in rows
    )

    objects = enriched_objects(aws.s3)
    batch = batch_id(["msg-0", "msg-1"])
    assert sorted(objects) == [
        f"enriched/event_date=2024-05-01/{batch}.jsonl",
        f"enriched/event_date=2024-05-02/{batch}.jsonl",
    ]
    assert [r["event_id"] for r in read_jsonl(objects[f"enriched/event_date=2024-05-01/{batch}.jsonl"])] == [
        "evt-0",
        "evt-1",
        "evt-2",
    ]
    for key, body in objects.items():
        head = aws.s3.head_object(Bucket=BUCKET, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
        assert aws.kms_key_id in head["SSEKMSKeyId"]
        for value in RAW_PII:
            assert value.encode() not in body, (key, value)

    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics[telemetry.EVENTS_LOADED.name] == [4]
    assert metrics[telemetry.ROWS_MERGED.name] == [4]
    assert metrics[telemetry.DUPLICATES_SUPPRESSED.name] == [0]
    assert metrics[telemetry.LOAD_BATCH_SIZE.name] == [4]
    arrival = metrics[telemetry.ARRIVAL_TO_LOAD_LAG.name]
    event_time = metrics[telemetry.EVENT_TIME_TO_LOAD_LAG.name]
    assert len(arrival) == len(event_time) == 4  # one value per event: percentiles are over events
    assert all(a > 0 for a in arrival)
    assert arrival != event_time  # two measures: from arrival on the stream and from occurred_at
    assert telemetry.PROCESSING_FAILURES.name not in metrics
    assert set(metrics) <= {spec.name for spec in telemetry.ALL_METRICS}


def test_a_redelivered_batch_overwrites_its_objects_and_adds_no_rows(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sqs_event(*envelope_bodies([make_scored("evt-a"), make_scored("evt-b"), make_scored("evt-a")]))
    assert invoke(event) == {"batchItemFailures": []}
    first_keys = sorted(enriched_objects(aws.s3))
    capsys.readouterr()

    assert invoke(event) == {"batchItemFailures": []}

    assert [r[0] for r in warehouse_rows(aws.dsn)] == ["evt-a", "evt-b"]
    objects = enriched_objects(aws.s3)
    assert sorted(objects) == first_keys  # same keys: overwritten, not duplicated
    assert [r["event_id"] for body in objects.values() for r in read_jsonl(body)] == ["evt-a", "evt-b"]
    metrics = emitted_metrics(capsys.readouterr().out)
    assert metrics[telemetry.ROWS_MERGED.name] == [0]
    assert metrics[telemetry.DUPLICATES_SUPPRESSED.name] == [3]


def test_a_malformed_message_fails_alone(aws: Aws, capsys: pytest.CaptureFixture[str]) -> None:
    good = envelope_bodies([make_scored("evt-good")])[0]
    missing_field = json.dumps({"v": 1, "items": [{"event": {"event_id": "evt-broken"}}]})
    event = sqs_event(good, "this is not json", missing_field)

    response = invoke(event)

    assert failed_ids(response) == ["msg-1", "msg-2"]
    assert [r[0] for r in warehouse_rows(aws.dsn)] == ["evt-good"]
    out = capsys.readouterr().out
    assert failures_by_cause(out) == {"poison": 2}
    assert emitted_metrics(out)[telemetry.ROWS_MERGED.name] == [1]


def test_a_message_the_warehouse_refuses_fails_alone_and_leaves_no_object(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    """A value the warehouse cannot store (128 bytes in a VARCHAR(64)): the load splits until it finds it."""
    neighbours = [envelope_bodies([make_scored(f"evt-{i}-{j}") for j in range(3)])[0] for i in range(6)]
    poison = envelope_bodies([make_scored("evt-ok-beside-poison"), make_scored("é" * 64)])[0]
    event = sqs_event(*neighbours[:4], poison, *neighbours[4:])

    response = invoke(event)

    assert failed_ids(response) == ["msg-4"]
    loaded = [r[0] for r in warehouse_rows(aws.dsn)]
    assert len(loaded) == 18 == len(set(loaded))
    assert "evt-ok-beside-poison" not in loaded  # its message failed whole, and will be retried whole
    out = capsys.readouterr().out
    assert failures_by_cause(out) == {"poison": 1}
    assert emitted_metrics(out)[telemetry.ROWS_MERGED.name] == [18]
    archived = [
        item["event_id"]
        for obj in aws.s3.list_objects_v2(Bucket=BUCKET, Prefix=ENRICHED_PREFIX).get("Contents", [])
        for item in read_jsonl(aws.s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
    ]
    assert sorted(archived) == sorted(loaded)  # no object holds an event the warehouse refused


def test_a_warehouse_error_fails_the_whole_batch_then_a_retry_succeeds(
    aws: Aws, capsys: pytest.CaptureFixture[str]
) -> None:
    event = sqs_event(*envelope_bodies([make_scored("evt-1")]), *envelope_bodies([make_scored("evt-2")]))
    with connect_dsn(aws.dsn) as admin:
        admin.execute("ALTER TABLE risk_events RENAME TO risk_events_away")
        admin.commit()

    response = invoke(event)

    assert failed_ids(response) == ["msg-0", "msg-1"]
    assert failures_by_cause(capsys.readouterr().out) == {"warehouse": 2}
    with connect_dsn(aws.dsn) as admin:
        assert admin.scalar("SELECT COUNT(*) FROM risk_events_away") == 0  # nothing committed
        admin.execute("ALTER TABLE risk_events_away RENAME TO risk_events")
        admin.commit()

    # SQS redelivers the same messages; the container reconnects and the batch loads once.
    assert invoke(event) == {"batchItemFailures": []}
    assert [r[0] for r in warehouse_rows(aws.dsn)] == ["evt-1", "evt-2"]


def test_an_unreachable_warehouse_fails_the_batch(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(WAREHOUSE_DSN, aws.dsn.rsplit("/", 1)[0] + "/no_such_database")
    event = sqs_event(*envelope_bodies([make_scored("evt-1")]))
    assert failed_ids(invoke(event)) == ["msg-0"]


def test_without_the_pii_key_the_function_does_not_run(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PII_KEY_SECRET_ARN, f"arn:aws:secretsmanager:{REGION}:123456789012:secret:missing-AbCdEf")
    event = sqs_event(*envelope_bodies([make_scored("evt-1")]))
    with pytest.raises(Exception, match="ResourceNotFound"):
        invoke(event)
    assert warehouse_rows(aws.dsn) == []
    assert enriched_objects(aws.s3) == {}
