"""The S3 archive: raw/ (Firehose), enriched/ (load) and quarantine/ (parse), plus its access-log bucket.

The archive is the system of record for replays and audits, so it is versioned, SSE-KMS with
the archive key (bucket key on, to keep KMS request costs flat), TLS-only, never public, and
object lock is enabled in environments that must keep immutable audit copies (prod), with a default
retention in governance mode (cdk.json's archive.object_lock_retention_days) so each version is locked.
Server access logs go to a separate bucket: S3 cannot deliver access logs to an SSE-KMS
bucket, so that one uses SSE-S3 and keeps logs for a year; its own access logs go into itself
(``access-logs/``), so reads and deletions of the archive's access logs are recorded too.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Duration, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from risk.common.archive import ENRICHED_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX
from stacks.config import EnvironmentConfig
from stacks.guards import removal_policy

# Lifecycle of the archive (days after creation): raw events are read by replays in the first
# weeks, then kept cold for audits until they expire (per environment, cdk.json's archive.*_expiry_days;
# transitions at or after the expiry are left out). Noncurrent versions only exist after
# overwrites, deletes and expiry; they go NONCURRENT_EXPIRY_DAYS later (object lock permitting).
RAW_TO_INFREQUENT_ACCESS_DAYS = 30
RAW_TO_GLACIER_DAYS = 90
NONCURRENT_EXPIRY_DAYS = 90
ACCESS_LOG_EXPIRY_DAYS = 365
SELF_ACCESS_LOGS_PREFIX = "access-logs/"  # the access-log bucket's own access logs, in itself


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
            # Its own accesses (someone reading or deleting the archive's access logs) are logged into itself,
            # under their own prefix. S3 then also logs its log deliveries (AWS: "a small increase in storage
            # billing", about one small object per delivery), which expire with the rest.
            server_access_logs_prefix=SELF_ACCESS_LOGS_PREFIX,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-access-logs",
                    expiration=Duration.days(ACCESS_LOG_EXPIRY_DAYS),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
            removal_policy=removal_policy(cfg),
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
            object_lock_default_retention=(
                s3.ObjectLockRetention.governance(Duration.days(cfg.archive.object_lock_retention_days))
                if cfg.object_lock and cfg.archive.object_lock_retention_days
                else None
            ),
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="archive/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="raw-to-cold-storage-then-expire",
                    prefix=RAW_PREFIX,
                    transitions=[
                        s3.Transition(storage_class=storage_class, transition_after=Duration.days(days))
                        for storage_class, days in (
                            (s3.StorageClass.INFREQUENT_ACCESS, RAW_TO_INFREQUENT_ACCESS_DAYS),
                            (s3.StorageClass.GLACIER, RAW_TO_GLACIER_DAYS),
                        )
                        if days < cfg.archive.raw_expiry_days
                    ]
                    or None,
                    expiration=Duration.days(cfg.archive.raw_expiry_days),
                ),
                s3.LifecycleRule(
                    id="expire-enriched",
                    prefix=ENRICHED_PREFIX,
                    expiration=Duration.days(cfg.archive.enriched_expiry_days),
                ),
                s3.LifecycleRule(
                    id="expire-quarantine",
                    prefix=QUARANTINE_PREFIX,
                    expiration=Duration.days(cfg.archive.quarantine_expiry_days),
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
