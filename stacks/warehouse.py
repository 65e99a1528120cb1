"""Warehouse: an isolated VPC and Redshift Serverless (namespace + workgroup).

The VPC has private isolated subnets only (no NAT, no internet route), so everything the
loader and the migration function call goes through VPC endpoints. The workgroup's security
group admits 5439 from exactly two client security groups, created here and handed to the
stacks that run those functions (so no stack needs a back-reference to another).
The loader signs in with IAM (``GetCredentials``), never a password. The admin user is the
schema owner: Redshift manages its password (``ManageAdminPassword``) in a Secrets Manager secret
under the warehouse CMK and rotates it itself; only the migration function reads it, because
migrations CREATE ROLE and masking policies. No password appears in any template.
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, CfnOutput, CfnResource, Duration, Stack, Token, Validations
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_redshiftserverless as redshift
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from constructs import Construct

from risk.common.archive import ENRICHED_PREFIX
from stacks.catalog import database_name as catalog_database_name
from stacks.config import EnvironmentConfig
from stacks.function import ONE_AT_A_TIME, allow_async_failures, async_failure_statements
from stacks.guards import acknowledge, log_retention, nag_ref, removal_policy

# The construct id CDK gives the singleton function of every AwsCustomResource in a stack.
SDK_PROVIDER_ID = "AWS679f53fac002430cb0da5b7982bd2287"
# Its AwsCustomResources (the usage limit, the S3 prefix list lookup) may run at once during a deploy.
SDK_PROVIDER_CONCURRENCY = 2
# The provider CDK adds for ``restrict_default_security_group``; it runs once per VPC change.
RESTRICT_DEFAULT_SG_PROVIDER_ID = "Custom::VpcRestrictDefaultSGCustomResourceProvider"
ASYNC_FAILURES_QUEUE = "async-failures"
SPECTRUM_TABLE = "enriched"  # the one catalog table (stacks/catalog.py) Spectrum may read
SPECTRUM_GLUE_ACTIONS = (
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
)
# The region's AWS-managed prefix list of S3, the gateway endpoint's route (its id differs per region).
S3_PREFIX_LIST_NAME = "com.amazonaws.{region}.s3"

REDSHIFT_PORT = 5439
SUBNET_MASK = 24
# Interface endpoints the in-VPC functions need (S3 is a gateway endpoint), and Glue, which the workgroup's
# Spectrum queries need under enhanced VPC routing to read the archive's catalog (docs/warehouse.md).
INTERFACE_ENDPOINTS = {
    "Glue": ec2.InterfaceVpcEndpointAwsService.GLUE,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "RedshiftServerless": ec2.InterfaceVpcEndpointAwsService.REDSHIFT_SERVERLESS,
    "Sqs": ec2.InterfaceVpcEndpointAwsService.SQS,
    "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,
    "SecretsManager": ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
}
LOG_EXPORTS = ["connectionlog", "useractivitylog", "userlog"]
# The ARN of the admin secret Redshift manages (ManageAdminPassword), as CloudFormation exposes it.
ADMIN_SECRET_ARN_ATTRIBUTE = "Namespace.AdminPasswordSecretArn"
PII_KEY_SECRET_NAME_PREFIX = "PiiKey"  # stacks/processing.py's secretsmanager.Secret(self, "PiiKey", ...)
CFN_LINT_OUTPUT_SCHEMA_CHECK = "E6101"  # an output's GetAtt attribute unknown to cfn-lint's schema


class WarehouseStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: EnvironmentConfig,
        warehouse_key: kms.IKey,
        log_key: kms.IKey,
        archive_bucket: s3.IBucket,
        archive_key: kms.IKey,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cfg.vpc_cidr),
            availability_zones=list(cfg.availability_zones),
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=SUBNET_MASK
                )
            ],
            restrict_default_security_group=True,
        )
        flow_logs = logs.LogGroup(
            self, "FlowLogs", retention=log_retention(cfg), encryption_key=log_key, removal_policy=removal_policy(cfg)
        )
        # The delivery role trusts VPC Flow Logs for this account's flow logs only (confused-deputy guard).
        flow_log_role = iam.Role(
            self,
            "FlowLogRole",
            assumed_by=iam.ServicePrincipal("vpc-flow-logs.amazonaws.com").with_conditions(
                {
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{self.partition}:ec2:{self.region}:{self.account}:vpc-flow-log/*"
                    },
                }
            ),
            description=f"{cfg.prefix}: VPC flow logs delivery to their log group",
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_logs, flow_log_role),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[ec2.SubnetSelection(subnets=self.subnets)]
        )
        endpoint_sg = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="Interface VPC endpoints: HTTPS from inside the VPC only",
            allow_all_outbound=False,
        )
        endpoint_sg.add_ingress_rule(ec2.Peer.ipv4(cfg.vpc_cidr), ec2.Port.tcp(443), "HTTPS from the VPC")
        self.endpoint_sg = endpoint_sg
        self.interface_endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        for name, service in INTERFACE_ENDPOINTS.items():
            self.interface_endpoints[name] = self.vpc.add_interface_endpoint(
                name,
                service=service,
                private_dns_enabled=True,
                security_groups=[endpoint_sg],
                open=False,
                subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
            )

        # The dead-letter queue of every function invoked asynchronously (by CloudFormation, EventBridge or an
        # operator): the lowest stack that all function stacks depend on, so each can name it.
        self.async_failures = sqs.Queue(
            self,
            "AsyncFailures",
            queue_name=cfg.queue_name(ASYNC_FAILURES_QUEUE),
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=log_key,
            data_key_reuse=Duration.minutes(15),
            enforce_ssl=True,
            retention_period=Duration.days(cfg.queues.dlq_retention_days),
            removal_policy=removal_policy(cfg),
        )
        acknowledge(
            self.async_failures,
            "AwsSolutions-SQS3",
            "async-failures is itself a dead-letter destination (of asynchronous Lambda invocations), read only "
            "by operators.",
        )
        acknowledge(
            self.async_failures,
            "Serverless-SQSRedrivePolicy",
            "async-failures is a dead-letter destination itself; operators read it, no function consumes it.",
        )
        self._log_key = log_key
        self._sdk_logs = logs.LogGroup(
            self,
            "UsageLimitLogs",
            retention=log_retention(cfg),
            encryption_key=log_key,
            removal_policy=removal_policy(cfg),
        )
        self._sdk_role = iam.Role(  # our own: no AWS managed policy, logs only to its own group
            self,
            "UsageLimitRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{cfg.prefix}: the AwsCustomResource calls (usage limit, S3 prefix list lookup)",
            inline_policies={
                "logs": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[self._sdk_logs.log_group_arn],
                        )
                    ]
                )
            },
        )
        self._s3_prefix_list = ec2.Peer.prefix_list(self._s3_prefix_list_id())
        self._configure_restrict_default_sg_provider()
        # Clients of the warehouse: the loader (Processing) and the migration function (Schema).
        self.workgroup_sg = ec2.SecurityGroup(
            self,
            "WorkgroupSecurityGroup",
            vpc=self.vpc,
            description="Redshift Serverless workgroup",
            allow_all_outbound=False,
        )
        # Enhanced VPC routing sends the workgroup's own S3 and Glue traffic through this VPC: COPY and Spectrum
        # read S3 through the gateway endpoint, Spectrum reaches the catalog through the Glue endpoint.
        self.workgroup_sg.add_egress_rule(
            self._s3_prefix_list, ec2.Port.tcp(443), "COPY and Spectrum read S3 through the gateway endpoint"
        )
        self.workgroup_sg.add_egress_rule(
            self.endpoint_sg, ec2.Port.tcp(443), "Spectrum reads the Glue catalog through its interface endpoint"
        )
        self.loader_sg = self._client_sg("LoaderSecurityGroup", "load function")
        self.migrator_sg = self._client_sg("MigratorSecurityGroup", "schema migration function")
        self.retention_sg = self._client_sg("RetentionSecurityGroup", "warehouse retention function")
        # The namespace's default role: the loader's COPY of a large batch reads the enriched objects the
        # load function has just written. Only enriched/ (pseudonymised): never raw/, whose clear-text
        # PII must not be loadable past the pseudonymisation and the masking policy.
        self.copy_role = iam.Role(
            self,
            "CopyRole",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("redshift.amazonaws.com"),
                iam.ServicePrincipal("redshift-serverless.amazonaws.com"),
            ).with_conditions({"StringEquals": {"aws:SourceAccount": self.account}}),
            description=f"{cfg.prefix}: Redshift COPY of the loader's enriched/ objects",
            inline_policies={
                "copy-from-enriched": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="ReadEnrichedObjects",
                            actions=["s3:GetObject"],
                            resources=[archive_bucket.arn_for_objects(f"{ENRICHED_PREFIX}*")],
                        ),
                        iam.PolicyStatement(
                            sid="ListEnriched",
                            actions=["s3:ListBucket"],
                            resources=[archive_bucket.bucket_arn],
                            conditions={"StringLike": {"s3:prefix": [f"{ENRICHED_PREFIX}*"]}},
                        ),
                        self._decrypt_archive_through_s3(archive_bucket, archive_key),
                    ]
                )
            },
        )
        acknowledge(
            self.copy_role,
            f"AwsSolutions-IAM5[Resource::{nag_ref(self, archive_bucket.bucket_arn)}/{ENRICHED_PREFIX}*]",
            "COPY reads any object under enriched/; object keys are generated per load batch.",
        )

        self.spectrum_role = self._spectrum_role(cfg, archive_bucket, archive_key)
        self.namespace = redshift.CfnNamespace(
            self,
            "Namespace",
            namespace_name=cfg.prefix,
            db_name=cfg.redshift.database,
            admin_username=cfg.redshift.admin_username,
            # Redshift creates the admin password, keeps it in Secrets Manager under the warehouse key and
            # rotates it itself: no password in the template, no rotation function in the VPC.
            manage_admin_password=True,
            admin_password_secret_kms_key_id=warehouse_key.key_arn,
            kms_key_id=warehouse_key.key_arn,
            iam_roles=[self.copy_role.role_arn, self.spectrum_role.role_arn],
            default_iam_role_arn=self.copy_role.role_arn,
            log_exports=LOG_EXPORTS,
        )
        self.namespace.apply_removal_policy(removal_policy(cfg))
        self._accept_the_managed_secret_attribute()
        self.workgroup = redshift.CfnWorkgroup(
            self,
            "Workgroup",
            workgroup_name=cfg.prefix,
            namespace_name=self.namespace.namespace_name,
            base_capacity=cfg.redshift.base_rpu,
            max_capacity=cfg.redshift.max_rpu,
            subnet_ids=[s.subnet_id for s in self.subnets],
            security_group_ids=[self.workgroup_sg.security_group_id],
            enhanced_vpc_routing=True,
            publicly_accessible=False,
            port=REDSHIFT_PORT,
            config_parameters=[
                redshift.CfnWorkgroup.ConfigParameterProperty(parameter_key="require_ssl", parameter_value="true")
            ],
        )
        self.workgroup.add_resource_dependency(self.namespace)
        self.workgroup.apply_removal_policy(removal_policy(cfg))
        self.usage_limit = self._usage_limit(cfg)
        self._endpoint_policies(cfg, archive_bucket, (warehouse_key, archive_key, log_key))

    def _decrypt_archive_through_s3(self, archive_bucket: s3.IBucket, archive_key: kms.IKey) -> iam.PolicyStatement:
        """Decrypt with the archive key only through S3 and only for the archive bucket (bucket keys: the
        encryption context is the bucket's ARN): what Redshift's COPY and Spectrum read with."""
        return iam.PolicyStatement(
            sid="DecryptThroughS3",
            actions=["kms:Decrypt"],
            resources=[archive_key.key_arn],
            conditions={
                "StringEquals": {
                    "kms:ViaService": f"s3.{self.region}.amazonaws.com",
                    "kms:EncryptionContext:aws:s3:arn": archive_bucket.bucket_arn,
                }
            },
        )

    def _spectrum_role(self, cfg: EnvironmentConfig, archive_bucket: s3.IBucket, archive_key: kms.IKey) -> iam.Role:
        """Redshift Spectrum over the Glue catalog (docs/warehouse.md's archive join): read-only, the
        catalog's database and its ``enriched`` table, the enriched/ objects and their key through S3.
        Like the COPY role, never raw/ or quarantine/ (clear-text PII past the pseudonymisation)."""
        database = catalog_database_name(cfg)
        glue_arn = f"arn:{self.partition}:glue:{self.region}:{self.account}"
        role = iam.Role(
            self,
            "SpectrumRole",
            assumed_by=iam.CompositePrincipal(
                iam.ServicePrincipal("redshift.amazonaws.com"),
                iam.ServicePrincipal("redshift-serverless.amazonaws.com"),
            ).with_conditions({"StringEquals": {"aws:SourceAccount": self.account}}),
            description=f"{cfg.prefix}: Redshift Spectrum reads the catalog's enriched table (read-only)",
            inline_policies={
                "spectrum-enriched": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            sid="ReadTheCatalogsEnrichedTable",
                            actions=list(SPECTRUM_GLUE_ACTIONS),
                            resources=[
                                f"{glue_arn}:catalog",
                                f"{glue_arn}:database/{database}",
                                f"{glue_arn}:table/{database}/{SPECTRUM_TABLE}",
                            ],
                        ),
                        iam.PolicyStatement(
                            sid="ReadEnrichedObjects",
                            actions=["s3:GetObject"],
                            resources=[archive_bucket.arn_for_objects(f"{ENRICHED_PREFIX}*")],
                        ),
                        iam.PolicyStatement(
                            sid="ListEnriched",
                            actions=["s3:ListBucket"],
                            resources=[archive_bucket.bucket_arn],
                            conditions={"StringLike": {"s3:prefix": [f"{ENRICHED_PREFIX}*"]}},
                        ),
                        iam.PolicyStatement(
                            sid="LocateTheArchive",
                            actions=["s3:GetBucketLocation"],
                            resources=[archive_bucket.bucket_arn],
                        ),
                        self._decrypt_archive_through_s3(archive_bucket, archive_key),
                    ]
                )
            },
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::{nag_ref(self, archive_bucket.bucket_arn)}/{ENRICHED_PREFIX}*]",
            "Spectrum reads any object under enriched/ (the table's location); object keys are generated per "
            "load batch.",
        )
        CfnOutput(
            self,
            "SpectrumRoleArn",
            value=role.role_arn,
            export_name=f"{cfg.prefix}-spectrum-role-arn",
            description="IAM_ROLE of CREATE EXTERNAL SCHEMA ... FROM DATA CATALOG (docs/warehouse.md)",
        )
        return role

    def _usage_limit(self, cfg: EnvironmentConfig) -> cr.AwsCustomResource:
        """A daily RPU-hours limit on the workgroup (CloudFormation has no resource for it, so an SDK call).

        ``deactivate`` stops queries at the limit (loads then wait in the scored queue, see
        docs/runbooks/warehouse-outage.md); ``emit-metric``/``log`` only record the breach.
        """
        workgroup_arn = self.workgroup.attr_workgroup_workgroup_arn
        limit = {"amount": cfg.redshift.rpu_hours_per_day, "breachAction": cfg.redshift.usage_limit_breach_action}
        limit_id = cr.PhysicalResourceId.from_response("usageLimit.usageLimitId")
        usage_limit = cr.AwsCustomResource(
            self,
            "UsageLimit",
            on_create=cr.AwsSdkCall(
                service="RedshiftServerless",
                action="CreateUsageLimit",
                parameters={
                    "resourceArn": workgroup_arn,
                    "usageType": "serverless-compute",
                    "period": "daily",
                    **limit,
                },
                physical_resource_id=limit_id,
            ),
            on_update=cr.AwsSdkCall(
                service="RedshiftServerless",
                action="UpdateUsageLimit",
                parameters={"usageLimitId": cr.PhysicalResourceIdReference(), **limit},
                physical_resource_id=limit_id,
            ),
            on_delete=cr.AwsSdkCall(
                service="RedshiftServerless",
                action="DeleteUsageLimit",
                parameters={"usageLimitId": cr.PhysicalResourceIdReference()},
            ),
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=[
                            "redshift-serverless:CreateUsageLimit",
                            "redshift-serverless:UpdateUsageLimit",
                            "redshift-serverless:DeleteUsageLimit",
                        ],
                        resources=[
                            workgroup_arn,
                            f"arn:{self.partition}:redshift-serverless:{self.region}:{self.account}:usagelimit/*",
                        ],
                    )
                ]
            ),
            install_latest_aws_sdk=False,
            role=self._sdk_role,
            log_group=self._sdk_logs,
        )
        account = "<AWS::AccountId>" if Token.is_unresolved(self.account) else self.account
        acknowledge(
            usage_limit,
            f"AwsSolutions-IAM5[Resource::arn:{self.partition}:redshift-serverless:{self.region}:{account}:usagelimit/*]",
            "Update and delete name the usage limit by the id CreateUsageLimit returns; it is not known before.",
        )
        return usage_limit

    def _s3_prefix_list_id(self) -> str:
        """The id of the region's S3 prefix list, looked up at deploy time (``DescribeManagedPrefixLists`` by
        name): it differs per region and partition, so no id is typed anywhere."""
        name = S3_PREFIX_LIST_NAME.format(region=self.region)
        lookup = cr.AwsSdkCall(
            service="EC2",
            action="DescribeManagedPrefixLists",
            parameters={"Filters": [{"Name": "prefix-list-name", "Values": [name]}]},
            physical_resource_id=cr.PhysicalResourceId.of(name),
            output_paths=["PrefixLists.0.PrefixListId"],
        )
        prefix_list = cr.AwsCustomResource(
            self,
            "S3PrefixList",
            on_create=lookup,
            on_update=lookup,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["ec2:DescribeManagedPrefixLists"], resources=["*"])]
            ),
            install_latest_aws_sdk=False,
            role=self._sdk_role,
            log_group=self._sdk_logs,
        )
        acknowledge(
            prefix_list,
            "AwsSolutions-IAM5[Resource::*]",
            "ec2:DescribeManagedPrefixLists is a List/Describe action with no resource-level permissions.",
        )
        self._configure_sdk_provider()
        return prefix_list.get_response_field("PrefixLists.0.PrefixListId")

    def _configure_restrict_default_sg_provider(self) -> None:
        """CDK's handler that empties the VPC's default security group (``restrict_default_security_group``):
        CloudFormation invokes it asynchronously as well; same dead-letter queue and cap, written onto CDK's
        raw resources (they have no construct props for it)."""
        provider = self.node.find_child(RESTRICT_DEFAULT_SG_PROVIDER_ID)
        handler, role = provider.node.find_child("Handler"), provider.node.find_child("Role")
        assert isinstance(handler, CfnResource) and isinstance(role, CfnResource)
        handler.add_property_override("DeadLetterConfig", {"TargetArn": self.async_failures.queue_arn})
        handler.add_property_override("ReservedConcurrentExecutions", ONE_AT_A_TIME)
        send = iam.PolicyDocument(statements=async_failure_statements(self.async_failures, self._log_key, self.region))
        role.add_property_override("Policies.1", {"PolicyName": "async-failures", "PolicyDocument": send.to_json()})

    def _configure_sdk_provider(self) -> None:
        """The singleton Lambda behind every AwsCustomResource: CloudFormation invokes it asynchronously, so a
        failed event goes to the async-failures queue; its concurrency is capped (it runs a few calls per deploy)."""
        provider = self.node.find_child(SDK_PROVIDER_ID)
        function = provider.node.default_child
        assert isinstance(function, lambda_.CfnFunction)
        function.dead_letter_config = lambda_.CfnFunction.DeadLetterConfigProperty(
            target_arn=self.async_failures.queue_arn
        )
        function.reserved_concurrent_executions = SDK_PROVIDER_CONCURRENCY
        allow_async_failures(self._sdk_role, self.async_failures, self._log_key)
        for finding, reason in (
            ("Serverless-LambdaTracing", "One SDK call per deploy; CloudFormation events record it."),
            ("Serverless-LambdaDefaultMemorySize", "One SDK call per deploy; 128 MB is ample."),
        ):
            acknowledge(provider, finding, reason)

    def _accept_the_managed_secret_attribute(self) -> None:
        """Fn::GetAtt Namespace.AdminPasswordSecretArn is documented by CloudFormation but missing from the
        resource schemas that CDK's validator (F6101) and cfn-lint (E6101, Outputs) check against; the
        export of that attribute is the only output of this stack they flag (the infra tests pin it)."""
        reason = (
            "Namespace.AdminPasswordSecretArn (ManageAdminPassword) is a documented CloudFormation attribute "
            "absent from the bundled resource schema; the Schema stack imports it as the admin secret ARN."
        )
        Validations.of(self).acknowledge(Acknowledgment(id="CloudFormation-Validate::F6101", reason=reason))
        # A template's own cfn-lint config replaces .cfnlintrc's ignore list for it: repeat W3005 (see there).
        ignored = [CFN_LINT_OUTPUT_SCHEMA_CHECK, "W3005"]
        self.template_options.metadata = {"cfn-lint": {"config": {"ignore_checks": ignored}}}

    def _endpoint_policies(
        self, cfg: EnvironmentConfig, archive_bucket: s3.IBucket, keys: tuple[kms.IKey, ...]
    ) -> None:
        """Each endpoint admits only principals of this account, the actions the in-VPC callers make
        (the loader, the migrator, and Redshift's COPY, which enhanced VPC routing sends through the
        S3 gateway) and the resources they make them on."""
        account = {"StringEquals": {"aws:PrincipalAccount": self.account}}
        arn = f"arn:{self.partition}"
        where = f"{self.region}:{self.account}"

        def allow(sid: str, actions: list[str], resources: list[str]) -> iam.PolicyStatement:
            return iam.PolicyStatement(
                sid=sid, principals=[iam.AnyPrincipal()], actions=actions, resources=resources, conditions=account
            )

        enriched = archive_bucket.arn_for_objects(f"{ENRICHED_PREFIX}*")
        self.s3_endpoint.add_to_policy(allow("LoaderWritesEnriched", ["s3:PutObject"], [enriched]))
        self.s3_endpoint.add_to_policy(allow("CopyReadsEnriched", ["s3:GetObject"], [enriched]))
        self.s3_endpoint.add_to_policy(allow("CopyListsArchive", ["s3:ListBucket"], [archive_bucket.bucket_arn]))
        secrets = [
            # The Redshift-managed admin secret, named redshift!<namespace>-<admin user> (its GetAtt is kept out of
            # resource properties: the validators' schemas lack that attribute, see above).
            f"{arn}:secretsmanager:{where}:secret:redshift!{cfg.prefix}-*",
            # The PII HMAC key (Processing stack, deployed after this one): CloudFormation names it after its id.
            f"{arn}:secretsmanager:{where}:secret:{PII_KEY_SECRET_NAME_PREFIX}*",
        ]
        database = catalog_database_name(cfg)
        policies = {
            "Glue": [  # Spectrum (the workgroup, as the Spectrum role) reads the archive's catalog, nothing else
                allow(
                    "ReadTheArchiveCatalog",
                    list(SPECTRUM_GLUE_ACTIONS),
                    [
                        f"{arn}:glue:{where}:catalog",
                        f"{arn}:glue:{where}:database/{database}",
                        f"{arn}:glue:{where}:table/{database}/{SPECTRUM_TABLE}",
                    ],
                )
            ],
            "SecretsManager": [
                allow(
                    "ReadPipelineSecrets", ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"], secrets
                )
            ],
            "RedshiftServerless": [
                allow(
                    "SignInToTheWorkgroup",
                    ["redshift-serverless:GetCredentials", "redshift-serverless:GetWorkgroup"],
                    [self.workgroup_arn],
                )
            ],
            "Kms": [
                allow(
                    "UseThePipelineKeys",
                    ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
                    [key.key_arn for key in keys],
                )
            ],
            "Sqs": [
                allow(
                    "PipelineQueues",
                    ["sqs:SendMessage", "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                    [f"{arn}:sqs:{where}:{cfg.prefix}-*"],
                )
            ],
            "Logs": [
                allow(
                    "PipelineLogGroups",
                    ["logs:CreateLogStream", "logs:PutLogEvents"],
                    [f"{arn}:logs:{where}:log-group:*"],
                )
            ],
            "Sts": [allow("CallerIdentity", ["sts:GetCallerIdentity"], ["*"])],
        }
        assert set(policies) == set(self.interface_endpoints)
        for name, statements in policies.items():
            for statement in statements:
                self.interface_endpoints[name].add_to_policy(statement)

    @property
    def subnets(self) -> list[ec2.ISubnet]:
        return list(self.vpc.isolated_subnets)

    @property
    def workgroup_name(self) -> str:
        return self.workgroup.attr_workgroup_workgroup_name

    @property
    def workgroup_arn(self) -> str:
        return self.workgroup.attr_workgroup_workgroup_arn

    @property
    def admin_secret_arn(self) -> str:
        """The schema owner's credentials (``{"username", "password"}``): the Redshift-managed secret."""
        return self.namespace.get_att(ADMIN_SECRET_ARN_ATTRIBUTE).to_string()

    @property
    def workgroup_host(self) -> str:
        return self.workgroup.attr_workgroup_endpoint_address

    def _client_sg(self, id: str, who: str) -> ec2.SecurityGroup:
        sg = ec2.SecurityGroup(
            self,
            id,
            vpc=self.vpc,
            description=f"{who}: Redshift and HTTPS to the VPC endpoints only",
            allow_all_outbound=False,
        )
        sg.add_egress_rule(self.workgroup_sg, ec2.Port.tcp(REDSHIFT_PORT), "Redshift workgroup")
        sg.add_egress_rule(self.endpoint_sg, ec2.Port.tcp(443), "AWS APIs through the interface endpoints")
        sg.add_egress_rule(self._s3_prefix_list, ec2.Port.tcp(443), "S3 through the gateway endpoint")
        self.workgroup_sg.add_ingress_rule(sg, ec2.Port.tcp(REDSHIFT_PORT), f"from the {who}")
        return sg
