"""Builders for the parse stage's tests: valid event documents, real Kinesis event shapes, and
moto-backed AWS (an SSE-KMS archive bucket and the parsed queue)."""

from __future__ import annotations

import base64
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from risk.parse import handler
from tools.local.context import FakeLambdaContext

REGION = "eu-west-1"
ARRIVAL = datetime(2024, 5, 1, 10, 0, 5, 123000, tzinfo=UTC)
SHARD = "shardId-000000000000"
STREAM_ARN = f"arn:aws:kinesis:{REGION}:123456789012:stream/risk-scoring-test-events"


def valid_event(**overrides: Any) -> dict[str, Any]:
    """A producer's JSON document with every field set; ``None`` in overrides removes a field."""
    doc: dict[str, Any] = {
        "event_id": "evt-0001",
        "user_id": "user-42",
        "event_type": "payment",
        "occurred_at": "2024-05-01T12:00:00.250+02:00",
        "schema_version": 1,
        "amount": 129.95,
        "currency": "EUR",
        "ip": "203.0.113.7",
        "geo": {"lat": 52.52, "lon": 13.405},
        "country": "DE",
        "device_id": "device-abc",
        "merchant_id": "m-17",
        "channel": "app",
        "email": "alice@example.test",
        "metadata": {"campaign": "spring", "nested": {"a": [1, 2]}},
    }
    for key, value in overrides.items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


def sequence_number(i: int) -> str:
    """Kinesis-like sequence numbers: long decimal strings, increasing within a shard."""
    return f"4959{i:052d}"


def kinesis_record(data: bytes | str, i: int, *, partition_key: str = "user-42") -> dict[str, Any]:
    """One ``Records[]`` entry exactly as Lambda delivers it from a Kinesis stream."""
    b64 = data if isinstance(data, str) else base64.b64encode(data).decode()
    seq = sequence_number(i)
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": seq,
            "data": b64,
            "approximateArrivalTimestamp": ARRIVAL.timestamp() + i / 1000,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": f"{SHARD}:{seq}",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/risk-scoring-test-parse",
        "awsRegion": REGION,
        "eventSourceARN": STREAM_ARN,
    }


def kinesis_event(payloads: Sequence[bytes | str]) -> dict[str, Any]:
    return {"Records": [kinesis_record(p, i) for i, p in enumerate(payloads)]}


def FakeContext() -> FakeLambdaContext:  # noqa: N802 (reads as the class it was)
    """The local runner's Lambda context object, shared so every handler test sees the same shape."""
    return FakeLambdaContext("risk-scoring-test-parse", 512, 60)


@dataclass
class Aws:
    s3: Any
    sqs: Any
    kms_key_arn: str
    bucket: str
    queue_url: str

    def messages(self) -> list[dict[str, Any]]:
        """Every message on the parsed queue (drained)."""
        out: list[dict[str, Any]] = []
        while True:
            got = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                return out
            out.extend(got)
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)],
            )

    def quarantine_keys(self) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="quarantine/")
        return [o["Key"] for o in listed.get("Contents", [])]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    """moto: a KMS key, the archive bucket with default SSE-KMS, the parsed queue; the handler's env."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_TRACE_DISABLED": "1",
        "RISK_ENVIRONMENT": "test",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        kms = boto3.client("kms", region_name=REGION)
        key_arn = kms.create_key(Description="archive")["KeyMetadata"]["Arn"]
        s3 = boto3.client("s3", region_name=REGION)
        bucket = "risk-scoring-test-archive"
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_encryption(
            Bucket=bucket,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="risk-scoring-test-parsed")["QueueUrl"]
        monkeypatch.setenv("ARCHIVE_BUCKET", bucket)
        monkeypatch.setenv("PARSED_QUEUE_URL", queue_url)
        monkeypatch.setattr(handler, "_dependencies", None)
        yield Aws(s3, sqs, key_arn, bucket, queue_url)
        handler._dependencies = None
