"""Customer-managed KMS keys, one per data domain, with rotation.

- ``pipeline``: the stream, the queues, the state table, the log groups and the alarm topic
  (everything that carries in-flight events or their telemetry);
- ``archive``: the S3 archive (raw, enriched, quarantine);
- ``warehouse``: the Redshift Serverless namespace, its admin secret and the PII HMAC key.

Key policies: the account root statement CDK writes by default delegates to IAM, and each
function/service role is granted exactly the key it needs through its own policy (the
``grant*`` calls in the stacks that own the roles). Service principals that act without a
role of ours are named here with conditions pinning them to this account and region:
CloudWatch Logs (encrypted log groups) and CloudWatch alarms (publishing to the topic).

The encryption context each service sets on its KMS calls, which the roles' key statements pin
(``kms:EncryptionContext:<key>``; a wrong key would deny the service in production):

- Kinesis Data Streams: ``aws:kinesis:arn`` = the stream's ARN, on all its KMS calls
  (https://docs.aws.amazon.com/streams/latest/dev/permissions-user-key-KMS.html, "encryption context").
- CloudWatch Logs: ``aws:logs:arn`` = the log group's ARN
  (https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html).
- SQS: ``aws:sqs:arn`` = the queue's ARN
  (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html).
- S3 with a bucket key: ``aws:s3:arn`` = the bucket's ARN, not the object's
  (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucket-key.html, "encryption context").
- DynamoDB: ``aws:dynamodb:tableName`` and ``aws:dynamodb:subscriberId`` (the account); the statements
  pin the table name (https://docs.aws.amazon.com/kms/latest/developerguide/services-dynamodb.html).
- Secrets Manager: ``SecretARN`` and ``SecretVersionId``; the statements pin the secret's ARN
  (https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html).
- Lambda environment variables (every function's, under the pipeline key): Lambda decrypts them through a
  grant it creates at deploy, so no role holds a key statement for them
  (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-encryption.html).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from constructs import Construct

from stacks.config import EnvironmentConfig
from stacks.guards import removal_policy

_LOG_GROUPS_OF_THIS_ACCOUNT = f"arn:{Aws.PARTITION}:logs:{Aws.REGION}:{Aws.ACCOUNT_ID}:*"


class KeysStack(Stack):
    def __init__(self, scope: Construct, id: str, *, cfg: EnvironmentConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, **kwargs)
        self.pipeline_key = self._key("Pipeline", cfg, "stream, queues, state table, log groups and alarm topic")
        self.archive_key = self._key("Archive", cfg, "S3 archive bucket (raw, enriched, quarantine)")
        self.warehouse_key = self._key("Warehouse", cfg, "Redshift Serverless namespace and warehouse secrets")

        self.pipeline_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsEncryptLogGroups",
                principals=[iam.ServicePrincipal(f"logs.{Aws.REGION}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": _LOG_GROUPS_OF_THIS_ACCOUNT}},
            )
        )
        self.pipeline_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublishToEncryptedTopic",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )

    def _key(self, id: str, cfg: EnvironmentConfig, purpose: str) -> kms.Key:
        return kms.Key(
            self,
            id,
            alias=f"alias/{cfg.prefix}-{id.lower()}",
            description=f"{cfg.prefix}: {purpose}",
            enable_key_rotation=True,
            removal_policy=removal_policy(cfg),
            pending_window=None,
        )
