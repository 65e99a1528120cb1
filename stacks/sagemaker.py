"""SageMaker: the bundled XGBoost model on a serverless endpoint, registered in a Model Package Group.

Built only for an environment whose ``scoring.sagemaker`` is set (cdk.json; staging runs it as a
shadow). From ``artifacts/sagemaker/<artifact>/model.tar.gz`` (the same trees as the function's
``<artifact>.json``, written by ``tools/train_xgb.py``):

- the Model Package Group (the registry, ``<prefix>-models``: the deployed version, approved, and any
  registered by hand; a version the stack replaces is deleted except in prod, where it is kept);
- a model package in it, Approved, with the region's built-in XGBoost image (``xgboost-images.json``
  beside the artifacts, taken from the sagemaker SDK's image table), ``text/csv`` in and out;
- a model created from that package, run by its own execution role: read exactly the artifact object,
  pull exactly the image's repository, write its own log group;
- a serverless endpoint configuration (memory and concurrency from config, the stack's own CMK) and
  the endpoint, named by config (``scoring.sagemaker.endpoint_name``), which is also what the score
  function calls and what its role may invoke (stacks/processing.py).

Serverless endpoints take no VPC configuration and no network isolation (AWS's list of features
serverless inference does not support); the score function calls the endpoint over the public
SageMaker Runtime API with TLS, as it calls SQS and DynamoDB (it runs outside a VPC).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.config import SAGEMAKER_IMAGES, ConfigError, EnvironmentConfig, SageMakerConfig
from stacks.guards import acknowledge, log_retention, removal_policy

CONTENT_TYPE = "text/csv"  # what the built-in container reads and answers (risk.score.scorers.sagemaker)
VARIANT = "AllTraffic"


def xgboost_image_uri(region: str, tag: str) -> str:
    """The built-in XGBoost inference image of ``region`` (accounts: the sagemaker SDK's table)."""
    table = json.loads(SAGEMAKER_IMAGES.read_text())
    account = table["accounts"].get(region)
    if account is None:
        raise ConfigError(f"region {region}: no built-in XGBoost image listed in {SAGEMAKER_IMAGES.name}")
    if tag not in table["tags"]:
        raise ConfigError(f"scoring.sagemaker.xgboost_image_tag: {tag!r} is not one of {', '.join(table['tags'])}")
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}/{table['repository']}:{tag}"


def model_package_group_name(cfg: EnvironmentConfig) -> str:
    return f"{cfg.prefix}-models"


def endpoint_log_group_name(endpoint: str) -> str:
    """Where SageMaker writes an endpoint's container logs."""
    return f"/aws/sagemaker/Endpoints/{endpoint}"


class SageMakerStack(Stack):
    def __init__(self, scope: Construct, id: str, *, cfg: EnvironmentConfig, log_key: kms.IKey, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        sm = cfg.scoring.sagemaker
        if sm is None:
            raise ConfigError(f"environments.{cfg.name}.scoring.sagemaker: the SageMaker stack needs it")
        self.settings: SageMakerConfig = sm
        image = xgboost_image_uri(cfg.region, sm.xgboost_image_tag)
        self.image = image

        self.artifact = s3_assets.Asset(self, "Artifact", path=str(sm.artifact_path))
        self.key = kms.Key(
            self,
            "ModelKey",
            alias=f"alias/{cfg.prefix}-model",
            description=f"{cfg.prefix}: the SageMaker endpoint's storage and image ({sm.artifact})",
            enable_key_rotation=True,
            removal_policy=removal_policy(cfg),
        )
        self.log_group = logs.LogGroup(
            self,
            "EndpointLogs",
            log_group_name=endpoint_log_group_name(sm.endpoint_name),
            retention=log_retention(cfg),
            encryption_key=log_key,
            removal_policy=removal_policy(cfg),
        )

        self.registry = sagemaker.CfnModelPackageGroup(
            self,
            "Registry",
            model_package_group_name=model_package_group_name(cfg),
            model_package_group_description=f"{cfg.prefix}: risk models for the built-in XGBoost container",
        )
        self.registry.apply_removal_policy(removal_policy(cfg))
        digest = hashlib.sha256(sm.artifact_path.read_bytes()).hexdigest()
        self.package = sagemaker.CfnModelPackage(
            self,
            "Package",
            model_package_group_name=model_package_group_name(cfg),
            model_package_description=f"{sm.artifact}: tools/train_xgb.py, artifacts/sagemaker/{sm.artifact}",
            model_approval_status="Approved",
            customer_metadata_properties={"model_version": sm.artifact, "artifact_sha256": digest},
            inference_specification=sagemaker.CfnModelPackage.InferenceSpecificationProperty(
                containers=[
                    sagemaker.CfnModelPackage.ModelPackageContainerDefinitionProperty(
                        image=image, model_data_url=self.artifact.s3_object_url, framework="XGBOOST"
                    )
                ],
                supported_content_types=[CONTENT_TYPE],
                supported_response_mime_types=[CONTENT_TYPE],
            ),
        )
        self.package.node.add_dependency(self.registry)
        self.package.apply_removal_policy(removal_policy(cfg))

        self.execution_role = iam.Role(
            self,
            "ModelExecutionRole",
            assumed_by=iam.ServicePrincipal(
                "sagemaker.amazonaws.com", conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}}
            ),
            description=f"{cfg.prefix}: the SageMaker model {sm.artifact} (artifact, image, its logs)",
        )
        policy = iam.Policy(
            self,
            "ExecutionPolicy",
            statements=[
                iam.PolicyStatement(
                    sid="ReadTheArtifact",
                    actions=["s3:GetObject"],
                    resources=[
                        f"arn:{Aws.PARTITION}:s3:::{self.artifact.s3_bucket_name}/{self.artifact.s3_object_key}"
                    ],
                ),
                iam.PolicyStatement(
                    sid="PullTheImage",
                    actions=["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                    resources=[_repository_arn(image)],
                ),
                iam.PolicyStatement(sid="EcrLogin", actions=["ecr:GetAuthorizationToken"], resources=["*"]),
                iam.PolicyStatement(
                    sid="WriteOwnLogGroup",
                    actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                    resources=[self.log_group.log_group_arn],
                ),
            ],
        )
        policy.attach_to_role(self.execution_role)
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permission (IAM requires Resource *); it only "
            "returns a registry login token, the image pull itself is limited to the one repository.",
        )

        self.model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.execution_role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                model_package_name=self.package.attr_model_package_arn
            ),
        )
        self.model.node.add_dependency(policy)
        self.endpoint_config = sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            kms_key_id=self.key.key_arn,
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    model_name=self.model.attr_model_name,
                    variant_name=VARIANT,
                    serverless_config=sagemaker.CfnEndpointConfig.ServerlessConfigProperty(
                        memory_size_in_mb=sm.memory_mb, max_concurrency=sm.max_concurrency
                    ),
                )
            ],
        )
        self.endpoint = sagemaker.CfnEndpoint(
            self,
            "Endpoint",
            endpoint_name=sm.endpoint_name,
            endpoint_config_name=self.endpoint_config.attr_endpoint_config_name,
        )
        self.endpoint.node.add_dependency(self.log_group)


def _repository_arn(image: str) -> str:
    """``<account>.dkr.ecr.<region>.<suffix>/<repository>:<tag>`` -> the repository's ARN."""
    host, _, rest = image.partition("/")
    account, _, _, region = host.split(".")[:4]
    return f"arn:{Aws.PARTITION}:ecr:{region}:{account}:repository/{rest.split(':')[0]}"
