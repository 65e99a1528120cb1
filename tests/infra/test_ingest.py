"""Kinesis stream per environment and the Firehose archive of raw events."""

from __future__ import annotations

from typing import Any

from risk.common.archive import FIREHOSE_ERROR_PREFIX, FIREHOSE_RAW_PREFIX
from tests.infra.conftest import Synth


def _stream(synth: Synth) -> dict[str, Any]:
    (stream,) = synth.resources("Ingest", "AWS::Kinesis::Stream").values()
    return stream


def test_capacity_mode_and_retention_follow_config(dev: Synth, prod: Synth) -> None:
    dev_props = _stream(dev)["Properties"]
    assert dev_props["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert "ShardCount" not in dev_props
    assert dev_props["RetentionPeriodHours"] == dev.cfg.kinesis.retention_hours == 24

    prod_props = _stream(prod)["Properties"]
    assert prod_props["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert prod_props["ShardCount"] == prod.cfg.kinesis.shard_count == 4
    assert prod_props["RetentionPeriodHours"] == prod.cfg.kinesis.retention_hours == 168
    assert _stream(prod)["DeletionPolicy"] == "Retain"
    assert _stream(dev)["DeletionPolicy"] == "Delete"


def test_firehose_archives_the_stream_to_raw_gzip_with_the_archive_key(each_env: Synth) -> None:
    (delivery,) = each_env.resources("Ingest", "AWS::KinesisFirehose::DeliveryStream").values()
    props = delivery["Properties"]
    stream_id = each_env.logical_id(each_env.risk_app.stacks["Ingest"].stream)
    assert props["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert props["KinesisStreamSourceConfiguration"]["KinesisStreamARN"] == {"Fn::GetAtt": [stream_id, "Arn"]}
    s3 = props["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"] == FIREHOSE_RAW_PREFIX
    assert s3["ErrorOutputPrefix"] == FIREHOSE_ERROR_PREFIX
    assert s3["CompressionFormat"] == "GZIP"
    assert "Fn::ImportValue" in s3["EncryptionConfiguration"]["KMSEncryptionConfig"]["AWSKMSKeyARN"]
    logging = s3["CloudWatchLoggingOptions"]
    assert logging["Enabled"] is True
    group_id = each_env.logical_id(each_env.risk_app.stacks["Ingest"].delivery_log_group)
    assert logging["LogGroupName"] == {"Ref": group_id}


def test_firehose_writes_raw_newline_delimited(each_env: Synth) -> None:
    (delivery,) = each_env.resources("Ingest", "AWS::KinesisFirehose::DeliveryStream").values()
    processing = delivery["Properties"]["ExtendedS3DestinationConfiguration"]["ProcessingConfiguration"]
    assert processing == {"Enabled": True, "Processors": [{"Type": "AppendDelimiterToRecord"}]}


def test_firehose_role_can_write_raw_but_never_delete(dev: Synth) -> None:
    ingest = dev.risk_app.stacks["Ingest"]
    role = dev.resources("Ingest", "AWS::IAM::Role")[dev.logical_id(ingest.delivery_role)]
    principal = role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert principal["Principal"] == {"Service": "firehose.amazonaws.com"}
    assert "sts:ExternalId" in principal["Condition"]["StringEquals"]
    actions = {
        action
        for policy in role["Properties"]["Policies"]
        for statement in policy["PolicyDocument"]["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }
    assert "s3:PutObject" in actions and "kinesis:GetRecords" in actions
    assert not any(a.startswith("s3:Delete") or a.endswith("*") for a in actions), actions
