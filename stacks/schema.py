"""Schema: a custom resource that applies ``redshift_schema/`` on every deploy that changes it.

The provider framework invokes ``risk.migrate.handler.on_event`` inside the warehouse VPC; the
function signs in as the schema owner (the Redshift-managed admin secret, readable by this
function alone) and applies pending migrations. The
resource's properties carry a hash of the migration files, so CloudFormation sends an Update
(and the runner applies what is new) exactly when a migration is added or changed.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from aws_cdk import CustomResource, Duration, Stack, Tags
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct

from risk.common import settings
from stacks.bundling import SCHEMA_ROOT, Packaging
from stacks.config import EnvironmentConfig, runtime_environment
from stacks.function import ONE_AT_A_TIME, RiskFunction, allow_async_failures
from stacks.guards import acknowledge, log_retention, nag_ref, removal_policy

MIGRATE_HANDLER = "risk.migrate.handler.on_event"
RETENTION_HANDLER = "risk.retention.handler.on_schedule"
RETENTION_TIMEOUT_S = 900
RETENTION_MEMORY_MB = 256
RETENTION_DB_ROLE = "risk_retention"  # created by redshift_schema/V009__retention_role.sql
RETENTION_SCHEDULE = events.Schedule.cron(minute="17", hour="3")  # daily, 03:17 UTC (off the hour)
MIGRATE_TIMEOUT_S = 600
MIGRATE_MEMORY_MB = 512


def schema_hash(directory: Path = SCHEMA_ROOT) -> str:
    """SHA-256 over the names and contents of ``*.sql``, in order: changes when any migration does."""
    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.sql")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class SchemaStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: EnvironmentConfig,
        packaging: Packaging,
        log_key: kms.IKey,
        vpc: ec2.IVpc,
        security_group: ec2.ISecurityGroup,
        workgroup_name: str,
        workgroup_host: str,
        admin_secret_arn: str,
        warehouse_key: kms.IKey,
        retention_security_group: ec2.ISecurityGroup,
        workgroup_arn: str,
        async_failures: sqs.IQueue,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.migrator = RiskFunction(
            self,
            "Migrate",
            cfg=cfg,
            stage="migrate",
            handler=MIGRATE_HANDLER,
            description=f"{cfg.prefix} warehouse schema migrations (custom resource)",
            code=packaging.code(include_schema=True),
            layers=[packaging.dependencies_layer(self, "Dependencies")],
            memory_mb=MIGRATE_MEMORY_MB,
            timeout_s=MIGRATE_TIMEOUT_S,
            environment=runtime_environment(
                cfg,
                "migrate",
                {
                    settings.REDSHIFT_WORKGROUP: workgroup_name,
                    settings.REDSHIFT_HOST: workgroup_host,
                    settings.REDSHIFT_ADMIN_SECRET_ARN: admin_secret_arn,
                },
            ),
            log_key=log_key,
            vpc=vpc,
            security_group=security_group,
            async_failures=async_failures,
            reserved_concurrency=ONE_AT_A_TIME,
        )
        # Migrations CREATE ROLE and masking policies: they run as the schema owner, the admin
        # user whose password Redshift rotates in Secrets Manager. Only this function reads it.
        self.migrator.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadSchemaOwnerSecret",
                actions=["secretsmanager:GetSecretValue"],
                resources=[admin_secret_arn],
            )
        )
        self.migrator.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DecryptSchemaOwnerSecret",
                actions=["kms:Decrypt"],
                resources=[warehouse_key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{self.region}.amazonaws.com",
                        "kms:EncryptionContext:SecretARN": admin_secret_arn,
                    }
                },
            )
        )

        provider_logs = logs.LogGroup(
            self,
            "ProviderLogs",
            retention=log_retention(cfg),
            encryption_key=log_key,
            removal_policy=removal_policy(cfg),
        )
        fn_arn = self.migrator.function.function_arn
        provider_role = iam.Role(
            self,
            "ProviderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{cfg.prefix}: custom resource provider framework for the schema migrations",
            inline_policies={
                "provider": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="WriteOwnLogGroup",
                            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[provider_logs.log_group_arn],
                        ),
                        iam.PolicyStatement(
                            sid="InvokeMigrationFunction",
                            actions=["lambda:InvokeFunction"],
                            resources=[fn_arn, f"{fn_arn}:*"],
                        ),
                    ]
                )
            },
        )
        self.provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=self.migrator.function,
            framework_on_event_role=provider_role,
            log_group=provider_logs,
            provider_function_env_encryption=log_key,
        )
        # CloudFormation invokes the framework's function asynchronously: a failed event goes to async-failures.
        framework = self.provider.node.find_child("framework-onEvent").node.default_child
        assert isinstance(framework, lambda_.CfnFunction)
        framework.dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(target_arn=async_failures.queue_arn)
        framework.reserved_concurrent_executions = ONE_AT_A_TIME
        allow_async_failures(provider_role, async_failures, log_key)
        for finding, reason in (
            (
                "Serverless-LambdaTracing",
                "CDK's provider framework function; the migration function it calls is traced.",
            ),
            (
                "Serverless-LambdaDefaultMemorySize",
                "CDK's provider framework function only forwards one event per deploy; 128 MB is ample.",
            ),
        ):
            acknowledge(self.provider, finding, reason)
        self.schema = CustomResource(
            self,
            "WarehouseSchema",
            service_token=self.provider.service_token,
            resource_type="Custom::WarehouseSchema",
            properties={
                "SchemaHash": schema_hash(),
                "Workgroup": workgroup_name,
                "Database": cfg.redshift.database,
            },
        )
        self.migrator_timeout = Duration.seconds(MIGRATE_TIMEOUT_S)
        acknowledge(
            provider_role,
            f"AwsSolutions-IAM5[Resource::{nag_ref(self, fn_arn)}:*]",
            "The provider framework invokes the migration function by qualified ARN (any version).",
        )

        # Warehouse retention: a daily job deletes risk_events rows older than archive.warehouse_retention_days.
        self.retention = RiskFunction(
            self,
            "Retention",
            cfg=cfg,
            stage="retention",
            handler=RETENTION_HANDLER,
            description=f"{cfg.prefix} risk_events retention (daily)",
            code=packaging.code(),
            layers=[packaging.dependencies_layer(self, "RetentionDependencies")],
            memory_mb=RETENTION_MEMORY_MB,
            timeout_s=RETENTION_TIMEOUT_S,
            environment=runtime_environment(
                cfg,
                "retention",
                {settings.REDSHIFT_WORKGROUP: workgroup_name, settings.REDSHIFT_HOST: workgroup_host},
            ),
            log_key=log_key,
            vpc=vpc,
            security_group=retention_security_group,
            async_failures=async_failures,
            reserved_concurrency=ONE_AT_A_TIME,
        )
        self.retention.role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="SignInToWorkgroupWithIam",
                actions=["redshift-serverless:GetCredentials"],
                resources=[workgroup_arn],
            )
        )
        Tags.of(self.retention.role).add("RedshiftDbRoles", RETENTION_DB_ROLE)
        self.retention_schedule = events.Rule(
            self,
            "RetentionSchedule",
            description=f"{cfg.prefix}: apply the risk_events retention daily",
            schedule=RETENTION_SCHEDULE,
            targets=[targets.LambdaFunction(self.retention.function, retry_attempts=2)],
        )
        acknowledge(
            self.retention_schedule,
            "Serverless-EventBusDLQ",
            "A missed daily purge is caught by the retention-not-run alarm, and the next run deletes everything "
            "past the cutoff anyway: a DLQ would hold only a scheduled event with no data.",
        )
