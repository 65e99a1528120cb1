"""The S3 archive and its access-log bucket."""

from __future__ import annotations

from typing import Any

from aws_cdk.assertions import Match

from risk.common.archive import ENRICHED_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX
from stacks.archive import NONCURRENT_EXPIRY_DAYS, RAW_TO_GLACIER_DAYS, RAW_TO_INFREQUENT_ACCESS_DAYS
from tests.infra.conftest import Synth


def _buckets(synth: Synth) -> tuple[dict[str, Any], dict[str, Any]]:
    archive = synth.risk_app.stacks["Archive"]
    buckets = synth.resources("Archive", "AWS::S3::Bucket")
    return buckets[synth.logical_id(archive.bucket)], buckets[synth.logical_id(archive.access_logs)]


def test_no_bucket_can_be_public(each_env: Synth) -> None:
    for bucket in _buckets(each_env):
        assert bucket["Properties"]["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert bucket["Properties"]["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]


def test_both_buckets_deny_requests_without_tls(each_env: Synth) -> None:
    policies = each_env.resources("Archive", "AWS::S3::BucketPolicy")
    assert len(policies) == 2
    for policy in policies.values():
        denies = [
            s
            for s in policy["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        ]
        assert denies, policy
        assert denies[0]["Principal"] == {"AWS": "*"} and denies[0]["Action"] == "s3:*"


def test_archive_is_versioned_logged_and_tiered(each_env: Synth) -> None:
    archive, logs_bucket = _buckets(each_env)
    props = archive["Properties"]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    log_ref = each_env.logical_id(each_env.risk_app.stacks["Archive"].access_logs)
    assert props["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": log_ref}
    rules = {r["Id"]: r for r in props["LifecycleConfiguration"]["Rules"]}
    raw = rules["raw-to-cold-storage-then-expire"]
    assert raw["Prefix"] == RAW_PREFIX and raw["Status"] == "Enabled"
    expected_transitions = [
        {"StorageClass": "STANDARD_IA", "TransitionInDays": RAW_TO_INFREQUENT_ACCESS_DAYS},
        {"StorageClass": "GLACIER", "TransitionInDays": RAW_TO_GLACIER_DAYS},
    ]
    kept = [t for t in expected_transitions if t["TransitionInDays"] < each_env.cfg.archive.raw_expiry_days]
    assert raw.get("Transitions", []) == kept
    noncurrent = rules["expire-noncurrent-versions"]
    assert noncurrent["NoncurrentVersionExpiration"] == {"NoncurrentDays": NONCURRENT_EXPIRY_DAYS}
    # S3 cannot write access logs into an SSE-KMS bucket: the log bucket uses SSE-S3.
    (log_rule,) = logs_bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert log_rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}


def test_object_lock_in_prod_only(dev: Synth, staging: Synth, prod: Synth) -> None:
    assert _buckets(prod)[0]["Properties"]["ObjectLockEnabled"] is True
    for synth in (dev, staging):
        assert "ObjectLockEnabled" not in _buckets(synth)[0]["Properties"]
        assert "ObjectLockConfiguration" not in _buckets(synth)[0]["Properties"]


def test_prod_locks_every_new_version_in_governance_mode_for_the_configured_days(prod: Synth) -> None:
    days = prod.cfg.archive.object_lock_retention_days
    assert days is not None and days > 0
    assert _buckets(prod)[0]["Properties"]["ObjectLockConfiguration"] == {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": days}},
    }


def test_every_prefix_expires_after_its_configured_days(each_env: Synth) -> None:
    """raw/ and quarantine/ hold clear-text PII: nothing under the archive's prefixes is kept forever."""
    rules = {r["Id"]: r for r in _buckets(each_env)[0]["Properties"]["LifecycleConfiguration"]["Rules"]}
    archive = each_env.cfg.archive
    expiry = {
        rule["Prefix"]: rule["ExpirationInDays"]
        for rule in rules.values()
        if "Prefix" in rule and "ExpirationInDays" in rule and rule["Status"] == "Enabled"
    }
    assert expiry == {
        RAW_PREFIX: archive.raw_expiry_days,
        ENRICHED_PREFIX: archive.enriched_expiry_days,
        QUARANTINE_PREFIX: archive.quarantine_expiry_days,
    }
    if archive.object_lock_retention_days is not None:
        assert archive.object_lock_retention_days <= min(expiry.values())


def test_prod_retains_the_buckets_and_dev_may_delete_them(dev: Synth, prod: Synth) -> None:
    for bucket in _buckets(prod):
        assert bucket["DeletionPolicy"] == "Retain" and bucket["UpdateReplacePolicy"] == "Retain"
    for bucket in _buckets(dev):
        assert bucket["DeletionPolicy"] == "Delete"
    # No auto-delete custom resource: destroying a non-empty bucket fails instead of erasing the archive.
    dev.template("Archive").resource_count_is("Custom::S3AutoDeleteObjects", 0)
    dev.template("Archive").has_resource(
        "AWS::S3::Bucket",
        {
            "DeletionPolicy": "Delete",
            "Properties": Match.object_like({"VersioningConfiguration": {"Status": "Enabled"}}),
        },
    )
