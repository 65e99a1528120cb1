"""Create the pipeline's AWS resources in moto from the environment config (one source of truth).

Queue names, ``maxReceiveCount`` and visibility timeouts come from :mod:`stacks.config`, exactly as
the stacks read them; ``tests/local/test_settings_match_templates.py`` checks the two agree. The
caller must have ``moto.mock_aws()`` active (this module never talks to a real account).
"""

from __future__ import annotations

import json
import secrets
import sys
from dataclasses import dataclass, field
from typing import Any

import boto3

import risk.common.settings as s
from stacks.config import PARSE_FAILURES_QUEUE, WORK_QUEUES, EnvironmentConfig, is_fifo, runtime_environment

MOTO_ACCOUNT = "123456789012"
DEFAULT_SHARDS = 4
STATE_TABLE_KEY = "user_id"  # the partition key risk.score.store.DynamoStateStore reads and writes


@dataclass(frozen=True)
class QueueSettings:
    """What the stacks give one queue, as the local run creates it."""

    key: str
    name: str
    visibility_timeout_s: int
    dlq_key: str | None  # None for a dead-letter queue itself
    max_receive_count: int | None
    retention_s: int


def queue_settings(cfg: EnvironmentConfig) -> list[QueueSettings]:
    """Every queue of the pipeline: the work queues, their DLQs and the parse on-failure queue."""
    retention = cfg.queues.dlq_retention_days * 86_400
    out: list[QueueSettings] = []
    for spec in WORK_QUEUES:
        consumer = cfg.function(spec.consumer)
        out.append(
            QueueSettings(
                spec.key,
                cfg.queue_name(spec.key),
                cfg.queues.visibility_timeout_s(consumer),
                spec.dlq_key,
                cfg.queues.max_receive_count,
                cfg.queues.retention_days * 86_400,
            )
        )
        out.append(QueueSettings(spec.dlq_key, cfg.queue_name(spec.dlq_key), 30, None, None, retention))
    out.append(QueueSettings(PARSE_FAILURES_QUEUE, cfg.queue_name(PARSE_FAILURES_QUEUE), 30, None, None, retention))
    return out


@dataclass
class LocalResources:
    """Names, URLs and ARNs of everything :func:`provision` created."""

    cfg: EnvironmentConfig
    region: str
    stream_name: str
    stream_arn: str
    shard_count: int
    bucket: str
    kms_key_arn: str
    state_table: str
    pii_secret_arn: str
    queue_urls: dict[str, str] = field(default_factory=dict)
    queue_arns: dict[str, str] = field(default_factory=dict)

    @property
    def dead_letter_queues(self) -> tuple[str, ...]:
        return (*(spec.dlq_key for spec in WORK_QUEUES), PARSE_FAILURES_QUEUE)

    def function_name(self, stage: str) -> str:
        return f"{self.cfg.prefix}-{stage}"

    def settings(self, warehouse_dsn: str | None) -> dict[str, str]:
        """The resource map ``runtime_environment`` takes, filled with moto's names."""
        resources = {
            s.PARSED_QUEUE_URL: self.queue_urls["parsed"],
            s.SCORED_QUEUE_URL: self.queue_urls["scored"],
            s.ARCHIVE_BUCKET: self.bucket,
            s.STATE_TABLE: self.state_table,
            s.REDSHIFT_WORKGROUP: f"{self.cfg.prefix}-local",
            s.REDSHIFT_HOST: "",
            s.PII_KEY_SECRET_ARN: self.pii_secret_arn,
        }
        if warehouse_dsn:
            resources[s.WAREHOUSE_DSN] = warehouse_dsn
        return resources

    def lambda_environment(self, stage: str, warehouse_dsn: str | None = None) -> dict[str, str]:
        """A function's environment: exactly what the stacks set, plus the local warehouse DSN."""
        values = runtime_environment(self.cfg, stage, self.settings(warehouse_dsn))
        values["AWS_REGION"] = self.region
        values["AWS_DEFAULT_REGION"] = self.region
        values["AWS_LAMBDA_FUNCTION_NAME"] = self.function_name(stage)
        values["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = (
            str(self.cfg.function(stage).memory_mb) if stage != "migrate" else "256"
        )
        values["POWERTOOLS_TRACE_DISABLED"] = "true"  # no X-Ray daemon here
        values["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # keep the demo's progress readable
        if stage == "load" and warehouse_dsn:
            values[s.WAREHOUSE_DSN] = warehouse_dsn
        if stage == "score" and self.cfg.scoring.shadow_endpoint:
            values.update(without_endpoint_shadow(values, self.cfg.scoring.shadow_endpoint))
        return values


def without_endpoint_shadow(values: dict[str, str], endpoint: str) -> dict[str, str]:
    """The score settings without the SageMaker shadow: moto has no model behind an endpoint, and a
    canned answer stored as a shadow score would be a made-up score. Says so in one line."""
    shadow = f"sagemaker:{endpoint}"
    print(f"local run: shadow {shadow} skipped (no SageMaker here; it scores in AWS)", file=sys.stderr)
    return {s.SHADOW_SCORERS: ",".join(x for x in values[s.SHADOW_SCORERS].split(",") if x != shadow)}


def create_stream(kinesis: Any, name: str, shard_count: int) -> str:
    """(Re)create the stream; returns its ARN. Recreating resets moto's per-shard lists, which slow as they grow."""
    existing = kinesis.list_streams()["StreamNames"]
    if name in existing:
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)
    kinesis.create_stream(StreamName=name, ShardCount=shard_count)
    return str(kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"])


def provision(cfg: EnvironmentConfig, shard_count: int = DEFAULT_SHARDS) -> LocalResources:
    """Create stream, CMK, archive bucket (SSE-KMS), state table, PII secret and every queue."""
    region = cfg.region
    session = boto3.session.Session(region_name=region)
    kms = session.client("kms")
    key_arn = kms.create_key(Description=f"{cfg.prefix} data key (local)")["KeyMetadata"]["Arn"]
    kms.create_alias(AliasName=f"alias/{cfg.prefix}-data", TargetKeyId=key_arn)

    bucket = f"{cfg.prefix}-archive-local"
    s3 = session.client("s3")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
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
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True,
            "IgnorePublicAcls": True,
            "BlockPublicPolicy": True,
            "RestrictPublicBuckets": True,
        },
    )

    stream_name = f"{cfg.prefix}-events"
    stream_arn = create_stream(session.client("kinesis"), stream_name, shard_count)

    table = f"{cfg.prefix}-user-state"
    key = STATE_TABLE_KEY
    session.client("dynamodb").create_table(
        TableName=table,
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": key_arn},
    )

    secret_arn = session.client("secretsmanager").create_secret(
        Name=f"{cfg.prefix}/pii-hmac-key",
        KmsKeyId=key_arn,
        SecretString=secrets.token_hex(32),
    )["ARN"]

    resources = LocalResources(cfg, region, stream_name, stream_arn, shard_count, bucket, key_arn, table, secret_arn)
    sqs = session.client("sqs")
    settings = queue_settings(cfg)
    # Dead-letter queues first: the work queues' redrive policies point at them.
    for q in sorted(settings, key=lambda q: q.dlq_key is not None):
        attributes = {
            "VisibilityTimeout": str(q.visibility_timeout_s),
            "MessageRetentionPeriod": str(q.retention_s),
            "KmsMasterKeyId": key_arn,
        }
        if is_fifo(q.key):  # as the stacks make it: high-throughput FIFO, explicit deduplication ids
            attributes.update(
                FifoQueue="true",
                ContentBasedDeduplication="false",
                DeduplicationScope="messageGroup",
                FifoThroughputLimit="perMessageGroupId",
            )
        if q.dlq_key is not None:
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": resources.queue_arns[q.dlq_key], "maxReceiveCount": q.max_receive_count}
            )
        url = sqs.create_queue(QueueName=q.name, Attributes=attributes)["QueueUrl"]
        resources.queue_urls[q.key] = url
        resources.queue_arns[q.key] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
    return resources
