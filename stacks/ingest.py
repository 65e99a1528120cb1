"""Ingest: the Kinesis Data Stream producers write to, and Firehose archiving it to raw/.

The stream is the one entry point: Firehose keeps an untouched GZIP copy of every record, one a line, in
the archive (replays and audits), while the parse function reads the same stream. Capacity
mode, shard count and retention come from config (prod is provisioned and keeps 7 days).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from risk.common.archive import FIREHOSE_ERROR_PREFIX, FIREHOSE_RAW_PREFIX, RAW_PREFIX
from stacks.config import EnvironmentConfig
from stacks.guards import acknowledge, log_retention, nag_ref, removal_policy

FIREHOSE_BUFFER_INTERVAL_S = 60
FIREHOSE_BUFFER_MB = 64
# The fixed root of FIREHOSE_ERROR_PREFIX ("raw-errors/!{firehose:error-output-type}/...").
FIREHOSE_ERROR_ROOT = FIREHOSE_ERROR_PREFIX.split("!", 1)[0]


class IngestStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: EnvironmentConfig,
        stream_key: kms.IKey,
        archive_bucket: s3.IBucket,
        archive_key: kms.IKey,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        provisioned = cfg.kinesis.capacity_mode == "PROVISIONED"
        self.stream = kinesis.Stream(
            self,
            "Events",
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=stream_key,
            stream_mode=kinesis.StreamMode.PROVISIONED if provisioned else kinesis.StreamMode.ON_DEMAND,
            shard_count=cfg.kinesis.shard_count if provisioned else None,
            retention_period=Duration.hours(cfg.kinesis.retention_hours),
            removal_policy=removal_policy(cfg),
        )

        acknowledge(
            self.stream,
            "AwsSolutions-KDS3",
            "The stream is encrypted with the pipeline customer-managed key on purpose (rotation, key "
            "policy, audit), not the AWS-managed aws/kinesis key.",
        )

        self.delivery_log_group = logs.LogGroup(
            self,
            "DeliveryLogs",
            retention=log_retention(cfg),
            encryption_key=stream_key,
            removal_policy=removal_policy(cfg),
        )
        delivery_log_stream = logs.LogStream(
            self,
            "DeliveryLogStream",
            log_group=self.delivery_log_group,
            log_stream_name="S3Delivery",
            removal_policy=removal_policy(cfg),
        )
        raw_objects = archive_bucket.arn_for_objects(f"{RAW_PREFIX}*")
        error_objects = archive_bucket.arn_for_objects(f"{FIREHOSE_ERROR_ROOT}*")
        # Explicit least privilege (the L2 construct would grant s3:DeleteObject* and key wildcards).
        self.delivery_role = iam.Role(
            self,
            "DeliveryRole",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": Aws.ACCOUNT_ID}}
            ),
            description=f"{cfg.prefix}: Firehose reads the event stream and writes raw/ to the archive",
            inline_policies={
                "deliver": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="ReadStream",
                            actions=[
                                "kinesis:DescribeStream",
                                "kinesis:DescribeStreamSummary",
                                "kinesis:GetShardIterator",
                                "kinesis:GetRecords",
                                "kinesis:ListShards",
                            ],
                            resources=[self.stream.stream_arn],
                        ),
                        iam.PolicyStatement(
                            sid="DecryptStream",
                            actions=["kms:Decrypt"],
                            resources=[stream_key.key_arn],
                            conditions={
                                "StringEquals": {
                                    "kms:ViaService": f"kinesis.{Aws.REGION}.amazonaws.com",
                                    "kms:EncryptionContext:aws:kinesis:arn": self.stream.stream_arn,
                                }
                            },
                        ),
                        iam.PolicyStatement(
                            sid="ListArchive",
                            actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                            resources=[archive_bucket.bucket_arn],
                        ),
                        iam.PolicyStatement(
                            sid="WriteRawAndErrors",
                            actions=["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload"],
                            resources=[raw_objects, error_objects],
                        ),
                        iam.PolicyStatement(
                            sid="EncryptArchiveObjects",
                            actions=["kms:GenerateDataKey", "kms:Decrypt"],
                            resources=[archive_key.key_arn],
                            conditions={
                                "StringEquals": {
                                    "kms:ViaService": f"s3.{Aws.REGION}.amazonaws.com",
                                    # S3 bucket key: the context is the bucket's ARN.
                                    "kms:EncryptionContext:aws:s3:arn": archive_bucket.bucket_arn,
                                }
                            },
                        ),
                        iam.PolicyStatement(
                            sid="WriteDeliveryLogs",
                            actions=["logs:PutLogEvents"],
                            resources=[self.delivery_log_group.log_group_arn],
                        ),
                    ]
                )
            },
        )
        for prefix in (RAW_PREFIX, FIREHOSE_ERROR_ROOT):
            acknowledge(
                self.delivery_role,
                f"AwsSolutions-IAM5[Resource::{nag_ref(self, archive_bucket.bucket_arn)}/{prefix}*]",
                f"Firehose writes objects under {prefix} with keys it generates (time-partitioned).",
            )
        self.delivery_stream = firehose.CfnDeliveryStream(
            self,
            "RawArchive",
            delivery_stream_type="KinesisStreamAsSource",
            kinesis_stream_source_configuration=firehose.CfnDeliveryStream.KinesisStreamSourceConfigurationProperty(
                kinesis_stream_arn=self.stream.stream_arn, role_arn=self.delivery_role.role_arn
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=archive_bucket.bucket_arn,
                role_arn=self.delivery_role.role_arn,
                prefix=FIREHOSE_RAW_PREFIX,
                error_output_prefix=FIREHOSE_ERROR_PREFIX,
                compression_format="GZIP",
                # A newline after every record: raw/ objects are newline-delimited, so Athena (and
                # `riskctl replay`) read them line by line instead of splitting records by structure.
                processing_configuration=firehose.CfnDeliveryStream.ProcessingConfigurationProperty(
                    enabled=True,
                    processors=[firehose.CfnDeliveryStream.ProcessorProperty(type="AppendDelimiterToRecord")],
                ),
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=FIREHOSE_BUFFER_INTERVAL_S, size_in_m_bs=FIREHOSE_BUFFER_MB
                ),
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=archive_key.key_arn
                    )
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=self.delivery_log_group.log_group_name,
                    log_stream_name=delivery_log_stream.log_stream_name,
                ),
            ),
        )
        acknowledge(
            self.delivery_stream,
            "AwsSolutions-KDF1",
            "Firehose server-side encryption exists for DirectPut only: the source stream is encrypted "
            "with the pipeline CMK and delivery to S3 uses SSE-KMS with the archive key.",
        )

    @property
    def delivery_stream_name(self) -> str:
        return self.delivery_stream.ref
