"""Customer-managed keys: rotation, who may use them, and a CMK on every store."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk.assertions import Match

from stacks.config import REPO_ROOT
from tests.infra.conftest import Synth


def _key_ref(synth: Synth, key_attr: str) -> str:
    keys = synth.risk_app.stacks["Keys"]
    return synth.logical_id(getattr(keys, key_attr))


def _refers_to(value: Any, logical_id: str) -> bool:
    """True when ``value`` (a CFN intrinsic) points at ``logical_id``, directly or through an export."""
    text = str(value)
    return logical_id in text


def test_three_rotating_customer_managed_keys(each_env: Synth) -> None:
    keys = each_env.resources("Keys", "AWS::KMS::Key")
    assert len(keys) == 3
    for key in keys.values():
        assert key["Properties"]["EnableKeyRotation"] is True
        assert key["Properties"].get("KeySpec", "SYMMETRIC_DEFAULT") == "SYMMETRIC_DEFAULT"
    aliases = {a["Properties"]["AliasName"] for a in each_env.resources("Keys", "AWS::KMS::Alias").values()}
    prefix = each_env.cfg.prefix
    assert aliases == {f"alias/{prefix}-pipeline", f"alias/{prefix}-archive", f"alias/{prefix}-warehouse"}


def test_key_policies_name_only_the_account_and_scoped_services(dev: Synth) -> None:
    for logical_id, key in dev.resources("Keys", "AWS::KMS::Key").items():
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            principal = statement["Principal"]
            assert principal != "*" and principal.get("AWS") != "*", (logical_id, statement)
            if "Service" in principal:
                # A service principal is always pinned to this account by a condition.
                assert statement.get("Condition"), (logical_id, statement)
    pipeline = dev.resources("Keys", "AWS::KMS::Key")[_key_ref(dev, "pipeline_key")]
    sids = {s.get("Sid") for s in pipeline["Properties"]["KeyPolicy"]["Statement"]}
    assert {"CloudWatchLogsEncryptLogGroups", "CloudWatchAlarmsPublishToEncryptedTopic"} <= sids


def test_keys_are_retained_in_prod_and_destroyed_in_dev(dev: Synth, prod: Synth) -> None:
    assert {k["DeletionPolicy"] for k in prod.resources("Keys", "AWS::KMS::Key").values()} == {"Retain"}
    assert {k["DeletionPolicy"] for k in dev.resources("Keys", "AWS::KMS::Key").values()} == {"Delete"}


def test_every_store_is_encrypted_with_its_domain_key(each_env: Synth) -> None:
    pipeline = _key_ref(each_env, "pipeline_key")
    archive = _key_ref(each_env, "archive_key")
    warehouse = _key_ref(each_env, "warehouse_key")

    (stream,) = each_env.resources("Ingest", "AWS::Kinesis::Stream").values()
    assert stream["Properties"]["StreamEncryption"]["EncryptionType"] == "KMS"
    assert _refers_to(stream["Properties"]["StreamEncryption"]["KeyId"], pipeline)

    queues = each_env.resources("Processing", "AWS::SQS::Queue")
    assert len(queues) == 5
    for queue in queues.values():
        assert _refers_to(queue["Properties"]["KmsMasterKeyId"], pipeline)

    (table,) = each_env.resources("Processing", "AWS::DynamoDB::Table").values()
    sse = table["Properties"]["SSESpecification"]
    assert sse["SSEEnabled"] is True and sse["SSEType"] == "KMS"
    assert _refers_to(sse["KMSMasterKeyId"], pipeline)

    archive_bucket = each_env.resources("Archive", "AWS::S3::Bucket")[
        each_env.logical_id(each_env.risk_app.stacks["Archive"].bucket)
    ]
    (rule,) = archive_bucket["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert _refers_to(rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"], archive)
    assert rule["BucketKeyEnabled"] is True

    (namespace,) = each_env.resources("Warehouse", "AWS::RedshiftServerless::Namespace").values()
    assert _refers_to(namespace["Properties"]["KmsKeyId"], warehouse)
    assert _refers_to(namespace["Properties"]["AdminPasswordSecretKmsKeyId"], warehouse)  # the managed secret

    (secret,) = each_env.resources("Processing", "AWS::SecretsManager::Secret").values()
    assert _refers_to(secret["Properties"]["KmsKeyId"], warehouse)

    topics = each_env.resources("Monitoring", "AWS::SNS::Topic").values()
    assert len(topics) == 2  # critical and warning alarms
    assert all(_refers_to(topic["Properties"]["KmsMasterKeyId"], pipeline) for topic in topics)

    (delivery,) = each_env.resources("Ingest", "AWS::KinesisFirehose::DeliveryStream").values()
    kms_config = delivery["Properties"]["ExtendedS3DestinationConfiguration"]["EncryptionConfiguration"]
    assert _refers_to(kms_config["KMSEncryptionConfig"]["AWSKMSKeyARN"], archive)


def test_every_log_group_is_encrypted_and_expires(each_env: Synth) -> None:
    groups = each_env.all_resources("AWS::Logs::LogGroup")
    assert len(groups) >= 7  # 4 functions, provider, Firehose delivery, VPC flow logs
    pipeline = _key_ref(each_env, "pipeline_key")
    for part, logical_id, group in groups:
        assert group["Properties"]["RetentionInDays"] == each_env.cfg.log_retention_days, (part, logical_id)
        assert _refers_to(group["Properties"]["KmsKeyId"], pipeline), (part, logical_id)


# CDK's own provider that strips the VPC default security group's rules (Security Hub EC2.2) comes
# with AWSLambdaBasicExecutionRole; it is the one role we do not write, and it only runs on deploy.
CDK_FRAMEWORK_ROLES = ("CustomVpcRestrictDefaultSGCustomResourceProviderRole",)


def test_no_role_of_ours_uses_an_aws_managed_policy(each_env: Synth) -> None:
    roles = each_env.all_resources("AWS::IAM::Role")
    assert len(roles) >= 8
    for part, logical_id, role in roles:
        if logical_id.startswith(CDK_FRAMEWORK_ROLES):
            continue
        assert "ManagedPolicyArns" not in role["Properties"], (part, logical_id)
    each_env.template("Processing").resource_properties_count_is(
        "AWS::IAM::Role", {"ManagedPolicyArns": Match.any_value()}, 0
    )


def _kms_statements(each_env: Synth) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for part in each_env.raw:
        for logical_id, resource in each_env.raw[part]["Resources"].items():
            documents = []
            if resource["Type"] == "AWS::IAM::Policy":
                documents.append(resource["Properties"]["PolicyDocument"])
            elif resource["Type"] == "AWS::IAM::Role":
                documents.extend(p["PolicyDocument"] for p in resource["Properties"].get("Policies", []))
            for document in documents:
                for statement in document["Statement"]:
                    actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                    if any(a.startswith("kms:") for a in actions):
                        found.append((part, logical_id, statement))
    return found


def test_every_key_use_goes_through_one_service_for_one_resource_with_exact_actions(each_env: Synth) -> None:
    """No role may use a key directly, with a wildcard action, or for another resource of the same key
    (the encryption context each service sets names the queue, table, stream, bucket or secret)."""
    statements = _kms_statements(each_env)
    assert len(statements) >= 12
    for part, logical_id, statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), (part, logical_id, actions)
        conditions = statement.get("Condition", {}).get("StringEquals", {})
        assert "kms:ViaService" in conditions, (part, logical_id, actions)
        if actions != ["kms:DescribeKey"]:  # DescribeKey carries no encryption context
            assert any(k.startswith("kms:EncryptionContext:") for k in conditions), (part, logical_id, actions)


def test_no_pipeline_role_can_decrypt_logs_or_the_alarm_topic(each_env: Synth) -> None:
    for part, logical_id, statement in _kms_statements(each_env):
        via = json.dumps(statement["Condition"]["StringEquals"]["kms:ViaService"])
        assert not any(f"{service}." in via for service in ("logs", "sns")), (part, logical_id, via)


def test_every_function_environment_is_encrypted_with_the_pipeline_key(each_env: Synth) -> None:
    """Lambda decrypts it through a grant it creates at deploy: no role needs a key statement for it."""
    with_environment = [
        (part, logical_id, fn)
        for part, logical_id, fn in each_env.all_resources("AWS::Lambda::Function")
        if fn["Properties"].get("Environment")
    ]
    assert len(with_environment) >= 6
    for part, logical_id, fn in with_environment:
        key = json.dumps(fn["Properties"]["KmsKeyArn"])
        assert "Fn::ImportValue" in key and "Pipeline" in key, (part, logical_id, key)


# Each IAM role of the templates (logical id prefix) -> its row in docs/infrastructure.md "Security model".
SECURITY_MODEL_ROWS = {
    "DeliveryRole": "Firehose delivery role",
    "ParseRole": "parse function",
    "ScoreRole": "score function",
    "LoadRole": "load function (VPC)",
    "CopyRole": "COPY role (namespace default)",
    "SpectrumRole": "Spectrum role (namespace)",
    "MigrateRole": "migration function (VPC)",
    "RetentionRole": "retention function (VPC, daily)",
    "ProviderRole": "schema provider framework",
    "UsageLimitRole": "SDK custom resources (usage limit, S3 prefix-list lookup)",
    "CustomVpcRestrictDefaultSGCustomResourceProviderRole": "default-SG handler (CDK)",
    "FlowLogRole": "VPC flow-logs delivery role",
    "IngestRole": "file ingest function",
    "EventsToStreamRole": "event bus rule role",
    "WebhookFunctionRole": "webhook function",
    "ModelExecutionRole": "SageMaker model execution role (where configured)",
}
OPTIONAL_ROLES = {"SageMaker": "ModelExecutionRole"}  # stack part -> its role, only where that stack exists


def _security_model_rows() -> set[str]:
    text = (REPO_ROOT / "docs" / "infrastructure.md").read_text()
    section = text.split("## Security model", 1)[1].split("\n## ", 1)[0]
    return {
        line.split("|")[1].strip().strip("`")
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| principal") and not line.startswith("|---")
    }


def test_every_iam_role_of_the_templates_has_its_row_in_the_security_model(each_env: Synth) -> None:
    roles = [logical_id for _, logical_id, _ in each_env.all_resources("AWS::IAM::Role")]
    documented = {
        prefix for prefix in SECURITY_MODEL_ROWS if any(logical_id.startswith(prefix) for logical_id in roles)
    }
    undocumented = [r for r in roles if not any(r.startswith(prefix) for prefix in SECURITY_MODEL_ROWS)]
    assert undocumented == []
    absent = {role for part, role in OPTIONAL_ROLES.items() if part not in each_env.raw}
    assert documented == set(SECURITY_MODEL_ROWS) - absent  # no row for a role that no longer exists
    assert set(SECURITY_MODEL_ROWS.values()) <= _security_model_rows()
