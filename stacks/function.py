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

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.bundling import ARCHITECTURE, RUNTIME
from stacks.config import EnvironmentConfig
from stacks.guards import acknowledge, log_retention, removal_policy


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
    ) -> None:
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
            role=self.role,
            vpc=vpc,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED) if vpc else None,
            security_groups=[security_group] if security_group else None,
        )
        acknowledge(
            self.function,
            "Serverless-LambdaDLQ",
            "Never invoked asynchronously: event source mappings (whose failures go to the queues' DLQs "
            "or the Kinesis on-failure queue) or the CloudFormation provider framework invoke it.",
        )
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
