"""Entry: the ways in besides PutRecords. Files dropped in an S3 inbox (the file ingest function).

The inbox bucket has its own customer-managed key (``inbox``): producers that upload need only that
key, and S3 may use it to notify the ingest queue, without opening the pipeline key to S3. Files
under ``inbox/`` start the ingest function through an S3 event notification on that SQS queue (one
message per file, batch size 1); the function continues a long file through the same queue and
resumes from its checkpoint (``risk.ingest.service``). The queue's DLQ catches a file that keeps
failing. Settings: ``ingestion`` in cdk.json (:func:`ingestion_config`).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from risk.common import settings
from risk.common.archive import QUARANTINE_PREFIX
from risk.ingest.service import CHECKPOINT_PREFIX, DONE_PREFIX, FAILED_PREFIX, INBOX_PREFIX
from stacks.bundling import Packaging
from stacks.config import EnvironmentConfig, runtime_environment
from stacks.function import RiskFunction
from stacks.guards import acknowledge, nag_ref, removal_policy
from stacks.ingestion_config import (
    EVENT_BUS_SUFFIX,
    EVENT_DETAIL_TYPE,
    EVENT_INPUT_PATHS,
    EVENT_INPUT_TEMPLATE,
    EVENT_PARTITION_KEY_PATH,
    EVENT_PATTERN,
    EVENT_SOURCE,
    INGEST_DLQ,
    INGEST_QUEUE,
    INGEST_STAGE,
    EventBridgeConfig,
    ingestion_config,
)
from stacks.webhook import WebhookApi

INGEST_HANDLER = "risk.ingest.handler.lambda_handler"
CHECKPOINT_EXPIRY_DAYS = 7  # a checkpoint outlives any resumable run; a file left behind is retried by then


class EntryStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: EnvironmentConfig,
        packaging: Packaging,
        pipeline_key: kms.IKey,
        stream: kinesis.IStream,
        archive_bucket: s3.IBucket,
        archive_key: kms.IKey,
        access_logs: s3.IBucket,
        async_failures: sqs.IQueue,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.cfg = cfg
        ingestion = ingestion_config(cfg.name)
        files = ingestion.file_ingest

        self.inbox_key = kms.Key(
            self,
            "InboxKey",
            alias=f"alias/{cfg.prefix}-inbox",
            description=f"{cfg.prefix}: the S3 inbox (files to ingest)",
            enable_key_rotation=True,
            removal_policy=removal_policy(cfg),
        )
        # The queues' own key: S3 must encrypt the notifications it sends, and its grant names the
        # bucket (by a name known before the bucket exists, so neither waits for the other).
        self.inbox_name = f"{cfg.prefix}-inbox-{Aws.ACCOUNT_ID}-{Aws.REGION}"
        inbox_arn = f"arn:{Aws.PARTITION}:s3:::{self.inbox_name}"
        from_the_inbox = {
            "ArnEquals": {"aws:SourceArn": inbox_arn},
            "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
        }
        self.queue_key = kms.Key(
            self,
            "EntryKey",
            alias=f"alias/{cfg.prefix}-entry",
            description=f"{cfg.prefix}: the ingest queue, the event bus and their DLQs",
            enable_key_rotation=True,
            removal_policy=removal_policy(cfg),
        )
        self.queue_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="S3NotifiesTheIngestQueue",
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=["*"],
                conditions=from_the_inbox,
            )
        )
        self.inbox = s3.Bucket(
            self,
            "Inbox",
            bucket_name=self.inbox_name,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.inbox_key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=True,  # an overwritten or deleted file can be recovered for a day
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="inbox/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id=f"expire-{prefix.rstrip('/').rsplit('/', 1)[-1]}-files",
                    prefix=prefix,
                    expiration=Duration.days(files.moved_file_expiry_days),
                )
                for prefix in (DONE_PREFIX, FAILED_PREFIX)
            ]
            + [
                s3.LifecycleRule(
                    id="expire-checkpoints", prefix=CHECKPOINT_PREFIX, expiration=Duration.days(CHECKPOINT_EXPIRY_DAYS)
                ),
                s3.LifecycleRule(
                    id="abort-incomplete-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                    noncurrent_version_expiration=Duration.days(1),
                ),
            ],
            removal_policy=removal_policy(cfg),
        )

        self.ingest_dlq = sqs.Queue(
            self,
            "IngestDlq",
            queue_name=cfg.queue_name(INGEST_DLQ),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.queue_key,
            enforce_ssl=True,
            retention_period=Duration.days(cfg.queues.dlq_retention_days),
            removal_policy=removal_policy(cfg),
        )
        acknowledge(
            self.ingest_dlq,
            "Serverless-SQSRedrivePolicy",
            "ingest-dlq is a dead-letter destination itself: a file that keeps failing; operators redrive it.",
        )
        acknowledge(
            self.ingest_dlq,
            "AwsSolutions-SQS3",
            "ingest-dlq is itself the dead-letter queue of the ingest queue.",
        )
        self.ingest_queue = sqs.Queue(
            self,
            "IngestQueue",
            queue_name=cfg.queue_name(INGEST_QUEUE),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.queue_key,
            enforce_ssl=True,
            retention_period=Duration.days(cfg.queues.retention_days),
            visibility_timeout=Duration.seconds(cfg.queues.visibility_timeout_factor * files.timeout_s),
            dead_letter_queue=sqs.DeadLetterQueue(
                max_receive_count=cfg.queues.max_receive_count, queue=self.ingest_dlq
            ),
            removal_policy=removal_policy(cfg),
        )
        # Written on the bucket itself (not CDK's notification custom resource, a function with a managed policy).
        allow_s3 = self.ingest_queue.add_to_resource_policy(
            iam.PolicyStatement(
                sid="S3NotifiesNewInboxFiles",
                principals=[iam.ServicePrincipal("s3.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.ingest_queue.queue_arn],
                conditions=from_the_inbox,
            )
        )
        cfn_inbox = self.inbox.node.default_child
        assert isinstance(cfn_inbox, s3.CfnBucket)
        cfn_inbox.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
            queue_configurations=[
                s3.CfnBucket.QueueConfigurationProperty(
                    event="s3:ObjectCreated:*",
                    queue=self.ingest_queue.queue_arn,
                    filter=s3.CfnBucket.NotificationFilterProperty(
                        s3_key=s3.CfnBucket.S3KeyFilterProperty(
                            rules=[s3.CfnBucket.FilterRuleProperty(name="prefix", value=INBOX_PREFIX)]
                        )
                    ),
                )
            ]
        )
        assert allow_s3.policy_dependable is not None
        self.inbox.node.add_dependency(allow_s3.policy_dependable)  # S3 checks it can send when the bucket is made
        self.inbox.node.add_dependency(self.queue_key)

        self.dependencies_layer = packaging.dependencies_layer(self, "Dependencies")  # shared by the ingest and webhook
        self.ingest = RiskFunction(
            self,
            "Ingest",
            cfg=cfg,
            stage=INGEST_STAGE,
            handler=INGEST_HANDLER,
            description=f"{cfg.prefix} file ingest: inbox files onto the stream",
            code=packaging.code(),
            layers=[self.dependencies_layer],
            memory_mb=files.memory_mb,
            timeout_s=files.timeout_s,
            environment=runtime_environment(
                cfg,
                INGEST_STAGE,
                {
                    settings.STREAM_NAME: stream.stream_name,
                    settings.ARCHIVE_BUCKET: archive_bucket.bucket_name,
                    settings.INGEST_QUEUE_URL: self.ingest_queue.queue_url,
                },
            ),
            log_key=pipeline_key,
            async_failures=async_failures,
            reserved_concurrency=files.max_concurrency,  # the mapping's maximum, as score and load
        )
        role = self.ingest.role
        self.ingest.function.add_event_source(
            sources.SqsEventSource(
                sqs.Queue.from_queue_attributes(
                    self,
                    "IngestSourceKeyless",
                    queue_arn=self.ingest_queue.queue_arn,
                    queue_url=self.ingest_queue.queue_url,
                ),
                batch_size=1,
                report_batch_item_failures=True,
                max_concurrency=files.max_concurrency,
            )
        )
        acknowledge(
            self.ingest.function,
            "Serverless-LambdaEventSourceMappingDestination",
            "SQS event source mappings take no on-failure destination: the queue's redrive policy moves a "
            "message to ingest-dlq after maxReceiveCount failed receives.",
        )
        # The queue: consume (the mapping) and send continuations; its key only through SQS, for it.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SendContinuations",
                actions=["sqs:SendMessage"],
                resources=[self.ingest_queue.queue_arn],
            )
        )
        self._use_key(
            role,
            self.queue_key,
            "sqs",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            {"kms:EncryptionContext:aws:sqs:arn": self.ingest_queue.queue_arn},
        )
        # The inbox: read files, write reports/moves/checkpoints, delete what was moved.
        inbox_objects = self.inbox.arn_for_objects(f"{INBOX_PREFIX}*")
        state_objects = self.inbox.arn_for_objects(f"{CHECKPOINT_PREFIX}*")
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadMoveAndDeleteInboxFiles",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                resources=[inbox_objects, state_objects],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="TellAMissingFileFromADeniedOne",
                actions=["s3:ListBucket"],
                resources=[self.inbox.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{INBOX_PREFIX}*", f"{CHECKPOINT_PREFIX}*"]}},
            )
        )
        self._use_key(
            role,
            self.inbox_key,
            "s3",
            ["kms:Decrypt", "kms:GenerateDataKey"],
            {"kms:EncryptionContext:aws:s3:arn": self.inbox.bucket_arn},
        )
        # The stream: PutRecords only; its key only through Kinesis, for this stream.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="PutRecordsOnTheStream",
                actions=["kinesis:PutRecords", "kinesis:PutRecord", "kinesis:DescribeStreamSummary"],
                resources=[stream.stream_arn],
            )
        )
        self._use_key(
            role,
            pipeline_key,
            "kinesis",
            ["kms:GenerateDataKey"],
            {"kms:EncryptionContext:aws:kinesis:arn": stream.stream_arn},
        )
        # The archive: quarantine lines only.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="WriteQuarantine",
                actions=["s3:PutObject"],
                resources=[archive_bucket.arn_for_objects(f"{QUARANTINE_PREFIX}*")],
            )
        )
        self._use_key(
            role,
            archive_key,
            "s3",
            ["kms:GenerateDataKey", "kms:Decrypt"],
            {"kms:EncryptionContext:aws:s3:arn": archive_bucket.bucket_arn},
        )
        for resource, why in (
            (
                f"{nag_ref(self, self.inbox.bucket_arn)}/{INBOX_PREFIX}*",
                "the files under inbox/ (any name a producer gives)",
            ),
            (
                f"{nag_ref(self, self.inbox.bucket_arn)}/{CHECKPOINT_PREFIX}*",
                "one checkpoint object per file being ingested",
            ),
            (
                f"{nag_ref(self, archive_bucket.bucket_arn)}/{QUARANTINE_PREFIX}*",
                "new quarantine objects, one per chunk",
            ),
        ):
            acknowledge(role, f"AwsSolutions-IAM5[Resource::{resource}]", f"Objects under one prefix only: {why}.")
        self._event_bus(cfg, ingestion.eventbridge, stream, pipeline_key)
        self.webhook = WebhookApi(  # HTTPS ingestion (stacks/webhook.py)
            self,
            "Webhook",
            cfg=cfg,
            settings_=ingestion.webhook,
            packaging=packaging,
            layers=[self.dependencies_layer],
            pipeline_key=pipeline_key,
            secret_key=self.queue_key,
            stream=stream,
            async_failures=async_failures,
        )

    def _event_bus(
        self, cfg: EnvironmentConfig, settings_: EventBridgeConfig, stream: kinesis.IStream, pipeline_key: kms.IKey
    ) -> None:
        """A custom bus per environment; one rule forwards the documented events' detail to the stream."""
        bus_name = f"{cfg.prefix}-{EVENT_BUS_SUFFIX}"
        rule_name = f"{cfg.prefix}-events-to-stream"
        self.event_bus_name, self.event_rule_name = bus_name, rule_name
        rule_arn = f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/{bus_name}/{rule_name}"
        from_the_rule = {
            "ArnEquals": {"aws:SourceArn": rule_arn},
            "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
        }
        self.queue_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EventBridgeUsesTheBusAndItsDlq",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        self.event_bus = events.EventBus(
            self, "EventBus", event_bus_name=bus_name, kms_key=self.queue_key, description=f"{cfg.prefix}: risk events"
        )
        self.event_dlq = sqs.Queue(
            self,
            "EventsDlq",
            queue_name=cfg.queue_name("events-dlq"),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.queue_key,
            enforce_ssl=True,
            retention_period=Duration.days(cfg.queues.dlq_retention_days),
            removal_policy=removal_policy(cfg),
        )
        self.event_dlq.add_to_resource_policy(
            iam.PolicyStatement(
                sid="TheRuleSendsWhatItCouldNotDeliver",
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[self.event_dlq.queue_arn],
                conditions=from_the_rule,
            )
        )
        for finding, reason in (
            ("Serverless-SQSRedrivePolicy", "events-dlq is the rule target's dead-letter queue; operators redrive it."),
            ("AwsSolutions-SQS3", "events-dlq is itself the dead-letter queue of the bus's rule target."),
        ):
            acknowledge(self.event_dlq, finding, reason)
        # The target's role: PutRecord on the stream, its key only through Kinesis for this stream.
        self.event_role = iam.Role(
            self,
            "EventsToStreamRole",
            assumed_by=iam.ServicePrincipal(
                "events.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description=f"{cfg.prefix}: the event bus rule puts events on the stream",
            inline_policies={
                "put": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(actions=["kinesis:PutRecord"], resources=[stream.stream_arn]),
                        iam.PolicyStatement(
                            actions=["kms:GenerateDataKey"],
                            resources=[pipeline_key.key_arn],
                            conditions={
                                "StringEquals": {
                                    "kms:ViaService": f"kinesis.{Aws.REGION}.amazonaws.com",
                                    "kms:EncryptionContext:aws:kinesis:arn": stream.stream_arn,
                                }
                            },
                        ),
                    ]
                )
            },
        )
        self.event_rule = events.CfnRule(
            self,
            "EventsToStream",
            name=rule_name,
            description=f"{EVENT_SOURCE} / {EVENT_DETAIL_TYPE} events: their detail onto the stream",
            event_bus_name=self.event_bus.event_bus_name,
            event_pattern=EVENT_PATTERN,
            state="ENABLED",
            targets=[
                events.CfnRule.TargetProperty(
                    id="stream",
                    arn=stream.stream_arn,
                    role_arn=self.event_role.role_arn,
                    kinesis_parameters=events.CfnRule.KinesisParametersProperty(
                        partition_key_path=EVENT_PARTITION_KEY_PATH
                    ),
                    input_transformer=events.CfnRule.InputTransformerProperty(
                        input_paths_map=EVENT_INPUT_PATHS, input_template=EVENT_INPUT_TEMPLATE
                    ),
                    retry_policy=events.CfnRule.RetryPolicyProperty(
                        maximum_retry_attempts=settings_.max_retry_attempts,
                        maximum_event_age_in_seconds=settings_.max_event_age_s,
                    ),
                    dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.event_dlq.queue_arn),
                )
            ],
        )

    def _use_key(
        self, role: iam.IRole, key: kms.IKey, service: str, actions: list[str], context: dict[str, str]
    ) -> None:
        """A key only through ``service`` and only for the encryption context of the one resource."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=actions,
                resources=[key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"{service}.{Aws.REGION}.amazonaws.com", **context}},
            )
        )
