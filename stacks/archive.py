"""The S3 archive: raw/ (Firehose), enriched/ (load) and quarantine/ (parse), plus its access-log bucket.

The archive is the system of record for replays and audits, so it is versioned, SSE-KMS with
the archive key (bucket key on, to keep KMS request costs flat), TLS-only, never public, and
object lock is enabled in environments that must keep immutable audit copies (prod).
Server access logs go to a separate bucket: S3 cannot deliver access logs to an SSE-KMS
bucket, so that one uses SSE-S3 and keeps logs for a year.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from risk.common.archive import ENRICHED_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX
from stacks.config import EnvironmentConfig
from stacks.guards import acknowledge, removal_policy

# Lifecycle of the archive (days after creation): raw events are read by replays in the first
# weeks, then kept cold for audits. Noncurrent versions only exist after overwrites/deletes.
RAW_TO_INFREQUENT_ACCESS_DAYS = 30
RAW_TO_GLACIER_DAYS = 90
NONCURRENT_EXPIRY_DAYS = 90
ACCESS_LOG_EXPIRY_DAYS = 365


class ArchiveStack(Stack):
    def __init__(
        self, scope: Construct, id: str, *, cfg: EnvironmentConfig, archive_key: kms.IKey, **kwargs: Any
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.access_logs = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(ACCESS_LOG_EXPIRY_DAYS),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
            removal_policy=removal_policy(cfg),
        )
        acknowledge(
            self.access_logs,
            "AwsSolutions-S1",
            "This is the access-log target of the archive; logging it to itself would loop and to "
            "a third bucket would only move the question.",
        )

        self.bucket = s3.Bucket(
            self,
            "Archive",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=archive_key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            object_lock_enabled=cfg.object_lock or None,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="archive/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="raw-to-cold-storage",
                    prefix=RAW_PREFIX,
                    transitions=[
                        s3.Transition(
                            storage_class=s3.StorageClass.INFREQUENT_ACCESS,
                            transition_after=Duration.days(RAW_TO_INFREQUENT_ACCESS_DAYS),
                        ),
                        s3.Transition(
                            storage_class=s3.StorageClass.GLACIER,
                            transition_after=Duration.days(RAW_TO_GLACIER_DAYS),
                        ),
                    ],
                ),
                s3.LifecycleRule(
                    id="expire-noncurrent-versions",
                    noncurrent_version_expiration=Duration.days(NONCURRENT_EXPIRY_DAYS),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                ),
            ],
            removal_policy=removal_policy(cfg),
        )
        self.prefixes = (RAW_PREFIX, ENRICHED_PREFIX, QUARANTINE_PREFIX)
