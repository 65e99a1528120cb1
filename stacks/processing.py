"""Processing: parse -> SQS parsed -> score -> SQS scored -> load, the state table and the PII key.

Queue names come from ``cfg.queue_name`` (the local runner creates the same names in moto).
Every work queue has its own DLQ; the parse function's Kinesis on-failure destination is the
``parse-failures`` queue. Visibility timeouts, batch sizes, windows, retries and concurrency
are read from config, never typed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, Stack, Tags
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from risk.common import settings
from risk.common.archive import ENRICHED_PREFIX, QUARANTINE_PREFIX
from stacks.bundling import Packaging
from stacks.config import PARSE_FAILURES_QUEUE, WORK_QUEUES, EnvironmentConfig, runtime_environment
from stacks.function import RiskFunction
from stacks.guards import acknowledge, nag_ref, removal_policy

STATE_PARTITION_KEY = "user_id"
STATE_TTL_ATTRIBUTE = "expires_at"
LOADER_DB_ROLE = "risk_loader"  # created by redshift_schema/V003__roles_and_grants.sql
HANDLERS = {
    "parse": "risk.parse.handler.lambda_handler",
    "score": "risk.score.handler.lambda_handler",
    "load": "risk.load.handler.lambda_handler",
}


@dataclass(frozen=True)
class WarehouseAccess:
    """What the load function needs from the warehouse stack."""

    vpc: ec2.IVpc
    security_group: ec2.ISecurityGroup
    workgroup_name: str
    workgroup_arn: str
    workgroup_host: str
    secret_key: kms.IKey  # encrypts the PII HMAC key secret


def sqs_context(queue: sqs.IQueue) -> dict[str, str]:
    """SQS encrypts each queue's data keys under the context ``aws:sqs:arn`` = the queue's ARN."""
    return {"kms:EncryptionContext:aws:sqs:arn": queue.queue_arn}


class ProcessingStack(Stack):
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
        warehouse: WarehouseAccess,
        async_failures: sqs.IQueue,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.cfg = cfg
        self.pipeline_key = pipeline_key
        self.async_failures = async_failures  # an asynchronous invocation's failed event (none of the mappings')

        # Queues: work queues with their DLQs, and the parse function's on-failure queue.
        self.dead_letter_queues: dict[str, sqs.Queue] = {}
        self.queues: dict[str, sqs.Queue] = {}
        for spec in WORK_QUEUES:
            dlq = self._queue(spec.dlq_key, retention_days=cfg.queues.dlq_retention_days, fifo=spec.fifo)
            self.dead_letter_queues[spec.dlq_key] = dlq
            self.queues[spec.key] = self._queue(
                spec.key,
                retention_days=cfg.queues.retention_days,
                fifo=spec.fifo,
                visibility_timeout_s=cfg.queues.visibility_timeout_s(cfg.function(spec.consumer)),
                dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=cfg.queues.max_receive_count, queue=dlq),
            )
        self.parse_failures = self._queue(PARSE_FAILURES_QUEUE, retention_days=cfg.queues.dlq_retention_days)
        self.dead_letter_queues[PARSE_FAILURES_QUEUE] = self.parse_failures
        acknowledge(
            self.parse_failures,
            "AwsSolutions-SQS3",
            "parse-failures is itself a dead-letter destination (the Kinesis mapping's on-failure "
            "destination), read only by operators.",
        )
        parsed, scored = self.queues["parsed"], self.queues["scored"]

        self.state_table = dynamodb.Table(
            self,
            "UserState",
            partition_key=dynamodb.Attribute(name=STATE_PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=pipeline_key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=STATE_TTL_ATTRIBUTE,
            removal_policy=removal_policy(cfg),
        )

        self.pii_key_secret = secretsmanager.Secret(
            self,
            "PiiKey",
            description=f"{cfg.prefix}: HMAC key pseudonymising PII before it reaches the warehouse",
            encryption_key=warehouse.secret_key,
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
            removal_policy=removal_policy(cfg),
        )
        acknowledge(
            self.pii_key_secret,
            "AwsSolutions-SMG4",
            "Rotating the HMAC key changes every pseudonym and breaks joins across history; rotation "
            "is a planned re-keying procedure (docs/infrastructure.md), not a schedule.",
        )

        code = packaging.code()
        layer = packaging.dependencies_layer(self, "Dependencies")

        # parse: Kinesis -> parsed queue (+ quarantine/ in the archive)
        self.parse = self._function(
            "Parse",
            "parse",
            code,
            layer,
            {settings.PARSED_QUEUE_URL: parsed.queue_url, settings.ARCHIVE_BUCKET: archive_bucket.bucket_name},
        )
        self._send_to(self.parse.role, parsed)
        self._put_objects(self.parse, archive_bucket, archive_key, QUARANTINE_PREFIX)
        ks = cfg.kinesis_source
        self.parse.function.add_event_source(
            sources.KinesisEventSource(
                # Key-less reference: CDK's read grant would include kms:Decrypt on the stream's key unconditionally.
                kinesis.Stream.from_stream_arn(self, "EventsKeyless", stream.stream_arn),
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=ks.batch_size,
                max_batching_window=Duration.seconds(ks.batching_window_s),
                bisect_batch_on_error=ks.bisect_on_error,
                retry_attempts=ks.retry_attempts,
                max_record_age=Duration.seconds(ks.max_record_age_s),
                parallelization_factor=ks.parallelization_factor,
                # Bound to a key-less reference: CDK's grant would give Encrypt/ReEncrypt/GenerateDataKey* on the
                # pipeline key with no condition; the data key for it is granted below, through SQS and this queue.
                on_failure=sources.SqsDlq(self._keyless("ParseFailures", self.parse_failures)),
                report_batch_item_failures=True,
            )
        )

        self._use_key(self.parse.role, "sqs", ["kms:GenerateDataKey", "kms:Decrypt"], sqs_context(self.parse_failures))
        self._use_key(
            self.parse.role, "kinesis", ["kms:Decrypt"], {"kms:EncryptionContext:aws:kinesis:arn": stream.stream_arn}
        )

        # score: parsed queue -> scored queue, with per-user state (+ quarantine/ for an event that fails alone)
        self.score = self._function(
            "Score",
            "score",
            code,
            layer,
            {
                settings.SCORED_QUEUE_URL: scored.queue_url,
                settings.STATE_TABLE: self.state_table.table_name,
                settings.ARCHIVE_BUCKET: archive_bucket.bucket_name,
            },
        )
        self._send_to(self.score.role, scored)
        self._put_objects(self.score, archive_bucket, archive_key, QUARANTINE_PREFIX)
        self._use_state(self.score.role)
        self._consume("score", self.score, parsed)
        if cfg.scoring.invoked_endpoints:  # exactly the configured endpoints, champion or shadow (ARNs in lower case)
            self.score.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["sagemaker:InvokeEndpoint"],
                    resources=[
                        self.format_arn(service="sagemaker", resource="endpoint", resource_name=name.lower())
                        for name in cfg.scoring.invoked_endpoints
                    ],
                )
            )

        # load: scored queue -> Redshift (MERGE) + enriched/ in the archive; in the warehouse VPC
        self.load = self._function(
            "Load",
            "load",
            code,
            layer,
            {
                settings.ARCHIVE_BUCKET: archive_bucket.bucket_name,
                settings.REDSHIFT_WORKGROUP: warehouse.workgroup_name,
                settings.REDSHIFT_HOST: warehouse.workgroup_host,
                settings.PII_KEY_SECRET_ARN: self.pii_key_secret.secret_arn,
            },
            vpc=warehouse.vpc,
            security_group=warehouse.security_group,
        )
        self._put_objects(self.load, archive_bucket, archive_key, ENRICHED_PREFIX)
        self._read_secret(self.load.role, self.pii_key_secret, warehouse.secret_key)
        self.load.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SignInToWorkgroupWithIam",
                actions=["redshift-serverless:GetCredentials"],
                resources=[warehouse.workgroup_arn],
            )
        )
        # Redshift maps the role's sign-in (IAMR:<role>) to the database roles named in this tag (V003).
        Tags.of(self.load.role).add("RedshiftDbRoles", LOADER_DB_ROLE)
        self._consume("load", self.load, scored)

        self.functions = {"parse": self.parse.function, "score": self.score.function, "load": self.load.function}

    # -- building blocks -------------------------------------------------------------------------

    def _queue(
        self,
        key: str,
        *,
        retention_days: int | None = None,
        visibility_timeout_s: int | None = None,
        dead_letter_queue: sqs.DeadLetterQueue | None = None,
        fifo: bool = False,
    ) -> sqs.Queue:
        construct_id = "".join(part.capitalize() for part in key.split("-"))
        # FIFO: high-throughput mode (deduplication and the throughput quota per message group);
        # the producer gives explicit deduplication ids, deterministic from the events.
        fifo_props: dict[str, Any] = (
            {
                "fifo": True,
                "content_based_deduplication": False,
                "deduplication_scope": sqs.DeduplicationScope.MESSAGE_GROUP,
                "fifo_throughput_limit": sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
            }
            if fifo
            else {}
        )
        queue = sqs.Queue(
            self,
            construct_id,
            queue_name=self.cfg.queue_name(key),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=self.pipeline_key,
            data_key_reuse=Duration.minutes(15),
            enforce_ssl=True,
            retention_period=Duration.days(retention_days) if retention_days else None,
            visibility_timeout=Duration.seconds(visibility_timeout_s) if visibility_timeout_s else None,
            dead_letter_queue=dead_letter_queue,
            removal_policy=removal_policy(self.cfg),
            **fifo_props,
        )
        if dead_letter_queue is None:
            acknowledge(
                queue,
                "Serverless-SQSRedrivePolicy",
                f"{key} is a dead-letter destination itself; its messages are inspected and redriven by "
                "operators (riskctl), never consumed by a function.",
            )
        return queue

    def _function(
        self,
        id: str,
        stage: str,
        code: lambda_.Code,
        layer: lambda_.ILayerVersion,
        resources: dict[str, str],
        *,
        vpc: ec2.IVpc | None = None,
        security_group: ec2.ISecurityGroup | None = None,
    ) -> RiskFunction:
        fn_cfg = self.cfg.function(stage)
        return RiskFunction(
            self,
            id,
            cfg=self.cfg,
            stage=stage,
            handler=HANDLERS[stage],
            description=f"{self.cfg.prefix} {stage} stage",
            code=code,
            layers=[layer],
            memory_mb=fn_cfg.memory_mb,
            timeout_s=fn_cfg.timeout_s,
            environment=runtime_environment(self.cfg, stage, resources),
            log_key=self.pipeline_key,
            vpc=vpc,
            security_group=security_group,
            async_failures=self.async_failures,
            # The SQS mappings' maximum concurrency, reserved: the cap and a guarantee (parse: shards x factor).
            reserved_concurrency=fn_cfg.max_concurrency,
        )

    def _consume(self, stage: str, fn: RiskFunction, queue: sqs.Queue) -> None:
        fn_cfg = self.cfg.function(stage)
        fn.function.add_event_source(
            sources.SqsEventSource(
                # CDK's consume grant includes kms:Decrypt on the queue's key with no condition: bind a key-less
                # reference and grant the decrypt through SQS, for this queue's messages only.
                self._keyless(f"{stage.capitalize()}Source", queue),
                batch_size=fn_cfg.batch_size,
                # A FIFO mapping takes no batching window (the config requires 0 for one).
                max_batching_window=Duration.seconds(fn_cfg.batching_window_s) if fn_cfg.batching_window_s else None,
                report_batch_item_failures=True,
                max_concurrency=fn_cfg.max_concurrency,
            )
        )
        self._use_key(fn.role, "sqs", ["kms:Decrypt"], sqs_context(queue))
        acknowledge(
            fn.function,
            "Serverless-LambdaEventSourceMappingDestination",
            "SQS event source mappings take no on-failure destination: the queue's redrive policy moves a "
            "message to its DLQ after maxReceiveCount failed receives.",
        )

    def _read_secret(self, role: iam.IRole, secret: secretsmanager.ISecret, key: kms.IKey) -> None:
        """Read one secret; decrypt only through Secrets Manager (written here, not with ``grant_read``,
        which would put this role into the key policy and make the Keys stack depend on this one)."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadPiiKeySecret",
                actions=["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
                resources=[secret.secret_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DecryptPiiKeySecret",
                actions=["kms:Decrypt"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com",
                        "kms:EncryptionContext:SecretARN": secret.secret_arn,
                    }
                },
            )
        )

    def _send_to(self, role: iam.IRole, queue: sqs.IQueue) -> None:
        """SendMessage to one queue; the queue's CMK only for the data key SQS asks for."""
        role.add_to_principal_policy(iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue.queue_arn]))
        self._use_key(role, "sqs", ["kms:GenerateDataKey", "kms:Decrypt"], sqs_context(queue))

    def _use_state(self, role: iam.IRole) -> None:
        """The score function's reads (BatchGetItem) and conditional writes (PutItem) of user state."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "dynamodb:BatchGetItem",
                    "dynamodb:GetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                    "dynamodb:ConditionCheckItem",
                    "dynamodb:DescribeTable",
                ],
                resources=[self.state_table.table_arn],
            )
        )
        # DescribeKey carries no encryption context; the data-key calls carry the table's name.
        self._use_key(role, "dynamodb", ["kms:DescribeKey"])
        self._use_key(
            role,
            "dynamodb",
            ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
            {"kms:EncryptionContext:aws:dynamodb:tableName": self.state_table.table_name},
        )

    def _use_key(
        self, role: iam.IRole, service: str, actions: list[str], context: dict[str, str] | None = None
    ) -> None:
        """The pipeline key, only through ``service`` and, where the service sets one, only for the
        encryption context of the one resource (queue, table) the role uses."""
        role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=actions,
                resources=[self.pipeline_key.key_arn],
                conditions={
                    "StringEquals": {"kms:ViaService": f"{service}.{self.region}.amazonaws.com", **(context or {})}
                },
            )
        )

    def _keyless(self, id: str, queue: sqs.Queue) -> sqs.IQueue:
        """``queue`` without its key, for CDK constructs whose grants would cover the key unconditionally."""
        return sqs.Queue.from_queue_attributes(
            self, f"{id}Keyless", queue_arn=queue.queue_arn, queue_url=queue.queue_url, fifo=queue.fifo or None
        )

    def _put_objects(self, fn: RiskFunction, bucket: s3.IBucket, key: kms.IKey, prefix: str) -> None:
        """Write-only access to one prefix of the archive (SSE-KMS with the archive key)."""
        fn.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{prefix}*")])
        )
        fn.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"s3.{self.region}.amazonaws.com",
                        # With an S3 bucket key the context is the bucket's ARN, not the object's.
                        "kms:EncryptionContext:aws:s3:arn": bucket.bucket_arn,
                    }
                },
            )
        )
        acknowledge(
            fn.role,
            f"AwsSolutions-IAM5[Resource::{nag_ref(self, bucket.bucket_arn)}/{prefix}*]",
            f"Writes new objects under {prefix} only; their keys are generated per batch/invocation.",
        )
