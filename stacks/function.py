"""One Lambda function as every stage wants it: own role, own log group, arm64, X-Ray, no managed policies.

The function's name is fixed by the config (``cfg.function_name(stage)``, ``risk-scoring-<env>-<stage>``)
and its log group is ``/aws/lambda/<that name>``, the group Lambda itself would use, so the names in
the runbooks and the console are the deployed ones.

Each function gets a dedicated role whose inline policy holds only what every function needs
(writing its own log group; ENI management when it runs in the VPC). Everything else is
granted by the stack that wires the function to its resources (queue, table, bucket, secret),
so each role ends up with exactly its own permissions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.bundling import ARCHITECTURE, RUNTIME
from stacks.config import EnvironmentConfig
from stacks.guards import acknowledge, log_retention, removal_policy

# Reserved concurrency of the functions that must never overlap themselves (migrations, the retention purge,
# custom-resource handlers that get one event per deploy).
ONE_AT_A_TIME = 1


class RiskFunction(Construct):
    """A Lambda function with its role and log group; ``.function``, ``.role``, ``.log_group``."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: EnvironmentConfig,
        stage: str,
        handler: str,
        description: str,
        code: lambda_.Code,
        layers: Sequence[lambda_.ILayerVersion],
        memory_mb: int,
        timeout_s: int,
        environment: Mapping[str, str],
        log_key: kms.IKey,
        vpc: ec2.IVpc | None = None,
        security_group: ec2.ISecurityGroup | None = None,
        async_failures: sqs.IQueue,
        reserved_concurrency: int | None = None,
    ) -> None:
        """``async_failures``: where Lambda puts an asynchronous invocation's event once its retries failed
        (every function has it, whoever invokes it: EventBridge, CloudFormation or an operator's
        ``--invocation-type Event``; event source mappings never use it); ``reserved_concurrency``: its cap."""
        super().__init__(scope, id)
        self.function_name = cfg.function_name(stage)
        self.log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/lambda/{self.function_name}",
            retention=log_retention(cfg),
            encryption_key=log_key,
            removal_policy=removal_policy(cfg),
        )
        statements = [
            iam.PolicyStatement(
                sid="WriteOwnLogGroup",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            )
        ]
        if vpc is not None:
            statements.append(
                iam.PolicyStatement(
                    sid="ManageVpcNetworkInterfaces",
                    actions=[
                        "ec2:CreateNetworkInterface",
                        "ec2:DescribeNetworkInterfaces",
                        "ec2:DescribeSubnets",
                        "ec2:DeleteNetworkInterface",
                        "ec2:AssignPrivateIpAddresses",
                        "ec2:UnassignPrivateIpAddresses",
                    ],
                    resources=["*"],
                )
            )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{cfg.prefix} {id}: {description}",
            inline_policies={"runtime": iam.PolicyDocument(statements=statements)},
        )
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=self.function_name,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=code,
            layers=list(layers),
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_s),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            environment=dict(environment),
            # The environment holds no secret, but names every resource: under the customer-managed key (Lambda
            # decrypts it through a grant it creates at deploy; the role needs no key permission for it).
            environment_encryption=log_key,
            # Key-less: CDK's send grant would cover the whole key; allow_async_failures narrows it below.
            dead_letter_queue=sqs.Queue.from_queue_arn(self, "AsyncFailures", async_failures.queue_arn),
            reserved_concurrent_executions=reserved_concurrency,
            role=self.role,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED) if vpc else None,
            security_groups=[security_group] if security_group else None,
        )
        allow_async_failures(self.role, async_failures, log_key)
        for finding in ("AwsSolutions-L1", "Serverless-LambdaLatestVersion"):
            acknowledge(
                self.function,
                finding,
                f"{RUNTIME.name} on purpose (cdk.json lambda_runtime): CI runs the Lambda code's tests on "
                "that Python too (make test-runtime); the newest runtime's Python is not in CI.",
            )
        if vpc is not None:
            acknowledge(
                self.role,
                "Serverless-LambdaStarPermissions",
                "Only the Lambda VPC ENI actions use Resource '*' (EC2 offers no resource-level "
                "permissions for DescribeNetworkInterfaces; Lambda manages the ENIs).",
            )
        acknowledge(
            self.role,
            "AwsSolutions-IAM5[Resource::*]",
            "X-Ray PutTraceSegments/PutTelemetryRecords and the Lambda VPC ENI actions "
            "(Create/Describe/DeleteNetworkInterface) support no resource-level permissions.",
        )


def async_failure_statements(queue: sqs.IQueue, key: kms.IKey, region: str) -> list[iam.PolicyStatement]:
    """What Lambda needs to put a failed asynchronous event into ``queue`` with a function's role: SendMessage
    on that queue and the queue's key through SQS, for that queue only (SQS sets ``aws:sqs:arn``, see
    stacks/keys.py)."""
    return [
        iam.PolicyStatement(sid="SendAsyncFailures", actions=["sqs:SendMessage"], resources=[queue.queue_arn]),
        iam.PolicyStatement(
            sid="EncryptAsyncFailures",
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[key.key_arn],
            conditions={
                "StringEquals": {
                    "kms:ViaService": f"sqs.{region}.amazonaws.com",
                    "kms:EncryptionContext:aws:sqs:arn": queue.queue_arn,
                }
            },
        ),
    ]


def allow_async_failures(role: iam.IRole, queue: sqs.IQueue, key: kms.IKey) -> None:
    """:func:`async_failure_statements` in ``role``'s policy."""
    for statement in async_failure_statements(queue, key, Stack.of(role).region):
        role.add_to_principal_policy(statement)
