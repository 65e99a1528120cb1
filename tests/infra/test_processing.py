"""The three functions, their queues and event source mappings, the state table and the PII key."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Match

from risk.common import aws, settings
from risk.ingest import webhook
from stacks.bundling import ARCHITECTURE, RUNTIME
from stacks.config import (
    PARSE_FAILURES_QUEUE,
    REPO_ROOT,
    WORK_QUEUES,
    ConfigError,
    lambda_runtime,
    parse_environment,
    read_environments,
    runtime_environment,
)
from stacks.processing import HANDLERS
from tests.infra.conftest import Synth

STAGES = ("parse", "score", "load")


def _function(synth: Synth, stage: str) -> dict[str, Any]:
    fn = synth.risk_app.stacks["Processing"].functions[stage]
    return synth.resources("Processing", "AWS::Lambda::Function")[synth.logical_id(fn)]


def _queue(synth: Synth, key: str) -> tuple[str, dict[str, Any]]:
    name = synth.cfg.queue_name(key)
    matches = [
        (k, q)
        for k, q in synth.resources("Processing", "AWS::SQS::Queue").items()
        if q["Properties"]["QueueName"] == name
    ]
    assert len(matches) == 1, name
    return matches[0]


def _mappings(synth: Synth, stage: str) -> list[dict[str, Any]]:
    fn_id = synth.logical_id(synth.risk_app.stacks["Processing"].functions[stage])
    return [
        m["Properties"]
        for m in synth.resources("Processing", "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": fn_id}
    ]


def _statements(role: dict[str, Any], policies: dict[str, dict[str, Any]], role_id: str) -> list[dict[str, Any]]:
    found = [s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
    for policy in policies.values():
        if {"Ref": role_id} in policy["Properties"]["Roles"]:
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def _role_statements(synth: Synth, stage: str) -> list[dict[str, Any]]:
    role = synth.risk_app.stacks["Processing"].functions[stage].role
    role_id = synth.logical_id(role)
    return _statements(
        synth.resources("Processing", "AWS::IAM::Role")[role_id],
        synth.resources("Processing", "AWS::IAM::Policy"),
        role_id,
    )


@pytest.mark.parametrize("stage", STAGES)
def test_functions_are_arm64_pinned_python_traced_with_their_own_logs(each_env: Synth, stage: str) -> None:
    props = _function(each_env, stage)["Properties"]
    fn_cfg = each_env.cfg.function(stage)
    assert props["Runtime"] == RUNTIME.name == lambda_runtime()  # the Python `make test-runtime` also tests on
    assert props["Architectures"] == [ARCHITECTURE.name] == ["arm64"]
    assert props["Handler"] == HANDLERS[stage] == f"risk.{stage}.handler.lambda_handler"
    assert props["TracingConfig"] == {"Mode": "Active"}
    assert props["MemorySize"] == fn_cfg.memory_mb
    assert props["Timeout"] == fn_cfg.timeout_s
    assert len(props["Layers"]) == 1
    group = props["LoggingConfig"]["LogGroup"]
    assert set(group) == {"Ref"} and group["Ref"] in each_env.resources("Processing", "AWS::Logs::LogGroup")


def test_every_risk_function_outlasts_one_aws_calls_worst_case(each_env: Synth) -> None:
    """risk.common.aws bounds a call (timeouts x attempts + backoff); each function's timeout must hold it."""
    timeouts = {
        f"{part}/{logical_id}": resource["Properties"]["Timeout"]
        for part, template in each_env.raw.items()
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
        and str(resource["Properties"].get("Handler", "")).startswith("risk.")
    }
    assert len(timeouts) == len(HANDLERS) + 4  # and the migration, retention, file ingest and webhook functions
    # The webhook's caller waits (API Gateway gives up after 29 s): its clients have shorter timeouts.
    webhook_call_s = aws.worst_case_call_s(webhook.CONNECT_TIMEOUT_S, webhook.READ_TIMEOUT_S)
    budget = {k: webhook_call_s if "Webhook" in k else aws.WORST_CASE_CALL_S for k in timeouts}
    assert {k: t for k, t in timeouts.items() if t <= budget[k]} == {}


@pytest.mark.parametrize("stage", STAGES)
def test_function_environment_is_exactly_runtime_environment(dev: Synth, stage: str) -> None:
    variables = _function(dev, stage)["Properties"]["Environment"]["Variables"]
    placeholders = {name: "x" for name in vars(settings).values() if isinstance(name, str) and name.isupper()}
    expected = runtime_environment(dev.cfg, stage, placeholders)
    assert set(variables) == set(expected)
    for name, value in expected.items():
        if value != "x":  # config-derived values are literal; resource values are CloudFormation tokens
            assert variables[name] == value, name
    assert variables["POWERTOOLS_SERVICE_NAME"] == "risk-scoring"


def test_each_function_has_its_own_role(dev: Synth) -> None:
    roles = {str(_function(dev, stage)["Properties"]["Role"]) for stage in STAGES}
    assert len(roles) == 3


@pytest.mark.parametrize("spec", WORK_QUEUES, ids=lambda s: s.key)
def test_work_queues_redrive_to_their_own_dlq(each_env: Synth, spec: Any) -> None:
    cfg = each_env.cfg
    _, queue = _queue(each_env, spec.key)
    dlq_id, dlq = _queue(each_env, spec.dlq_key)
    redrive = queue["Properties"]["RedrivePolicy"]
    assert redrive["maxReceiveCount"] == cfg.queues.max_receive_count
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": [dlq_id, "Arn"]}
    assert dlq["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    consumer = cfg.function(spec.consumer)
    visibility = queue["Properties"]["VisibilityTimeout"]
    assert visibility == cfg.queues.visibility_timeout_s(consumer)
    assert visibility >= 6 * consumer.timeout_s


def test_max_receive_count_differs_per_environment(dev: Synth, prod: Synth) -> None:
    assert _queue(dev, "parsed")[1]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 3
    assert _queue(prod, "parsed")[1]["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5


def test_every_queue_denies_requests_without_tls(each_env: Synth) -> None:
    queue_ids = set(each_env.resources("Processing", "AWS::SQS::Queue"))
    covered: set[str] = set()
    for policy in each_env.resources("Processing", "AWS::SQS::QueuePolicy").values():
        statements = policy["Properties"]["PolicyDocument"]["Statement"]
        if any(
            s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements
        ):
            covered |= {q["Ref"] for q in policy["Properties"]["Queues"]}
    assert covered == queue_ids
    _, failures = _queue(each_env, PARSE_FAILURES_QUEUE)
    assert failures["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_parse_reads_the_stream_with_the_configured_mapping(each_env: Synth) -> None:
    ks = each_env.cfg.kinesis_source
    (mapping,) = _mappings(each_env, "parse")
    failures_id, _ = _queue(each_env, PARSE_FAILURES_QUEUE)
    assert "Fn::ImportValue" in mapping["EventSourceArn"]
    assert mapping["BatchSize"] == ks.batch_size
    assert mapping["MaximumBatchingWindowInSeconds"] == ks.batching_window_s
    assert mapping["BisectBatchOnFunctionError"] is ks.bisect_on_error
    assert mapping["MaximumRetryAttempts"] == ks.retry_attempts
    assert mapping["MaximumRecordAgeInSeconds"] == ks.max_record_age_s
    assert mapping["ParallelizationFactor"] == ks.parallelization_factor
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [failures_id, "Arn"]}}}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"


def test_retry_settings_differ_between_dev_and_prod(dev: Synth, prod: Synth) -> None:
    (dev_mapping,), (prod_mapping,) = _mappings(dev, "parse"), _mappings(prod, "parse")
    assert (dev_mapping["MaximumRetryAttempts"], prod_mapping["MaximumRetryAttempts"]) == (3, 10)
    assert (dev_mapping["ParallelizationFactor"], prod_mapping["ParallelizationFactor"]) == (1, 4)


@pytest.mark.parametrize(("stage", "queue_key"), [("score", "parsed"), ("load", "scored")])
def test_sqs_mappings_report_item_failures_and_cap_concurrency(each_env: Synth, stage: str, queue_key: str) -> None:
    fn_cfg = each_env.cfg.function(stage)
    queue_id, _ = _queue(each_env, queue_key)
    (mapping,) = _mappings(each_env, stage)
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert mapping["BatchSize"] == fn_cfg.batch_size
    assert mapping.get("MaximumBatchingWindowInSeconds", 0) == fn_cfg.batching_window_s
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": fn_cfg.max_concurrency}


def test_parsed_queue_and_its_dlq_are_fifo_with_groups_from_the_config(each_env: Synth) -> None:
    """Per-user order: FIFO (high throughput, explicit deduplication ids), its DLQ FIFO too, and a
    mapping FIFO accepts (batch size at most 10, no batching window)."""
    _, parsed = _queue(each_env, "parsed")
    _, dlq = _queue(each_env, "parsed-dlq")
    _, scored = _queue(each_env, "scored")
    assert parsed["Properties"]["QueueName"].endswith(".fifo") and dlq["Properties"]["QueueName"].endswith(".fifo")
    assert parsed["Properties"]["FifoQueue"] is True and dlq["Properties"]["FifoQueue"] is True
    assert parsed["Properties"]["ContentBasedDeduplication"] is False
    assert parsed["Properties"]["DeduplicationScope"] == "messageGroup"
    assert parsed["Properties"]["FifoThroughputLimit"] == "perMessageGroupId"
    assert "FifoQueue" not in scored["Properties"]
    (mapping,) = _mappings(each_env, "score")
    assert mapping["BatchSize"] <= 10 and "MaximumBatchingWindowInSeconds" not in mapping
    env = _function(each_env, "parse")["Properties"]["Environment"]["Variables"]
    assert env[settings.PARSED_MESSAGE_GROUPS] == str(each_env.cfg.queues.parsed_message_groups)


def test_a_fifo_consumer_with_a_batching_window_is_refused() -> None:
    raw = json.loads(json.dumps(read_environments()["dev"]))
    raw["functions"]["score"]["batching_window_s"] = 1
    with pytest.raises(ConfigError, match="FIFO"):
        parse_environment("dev", raw)


def test_loader_concurrency_protects_redshift(dev: Synth, prod: Synth) -> None:
    assert _mappings(dev, "load")[0]["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert _mappings(prod, "load")[0]["ScalingConfig"] == {"MaximumConcurrency": 4}


def test_state_table(each_env: Synth) -> None:
    ((table_id, table),) = each_env.resources("Processing", "AWS::DynamoDB::Table").items()
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "user_id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "user_id", "AttributeType": "S"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["DeletionPolicy"] == ("Retain" if each_env.env == "prod" else "Delete")
    score_access = [
        s for s in _role_statements(each_env, "score") if s["Resource"] == {"Fn::GetAtt": [table_id, "Arn"]}
    ]
    assert score_access and all("dynamodb:DeleteItem" not in s["Action"] for s in score_access)


def test_only_the_loader_runs_in_the_vpc_with_its_security_group(dev: Synth) -> None:
    assert "VpcConfig" not in _function(dev, "parse")["Properties"]
    assert "VpcConfig" not in _function(dev, "score")["Properties"]
    vpc_config = _function(dev, "load")["Properties"]["VpcConfig"]
    assert len(vpc_config["SubnetIds"]) == len(dev.cfg.availability_zones)
    (sg,) = vpc_config["SecurityGroupIds"]
    assert "LoaderSecurityGroup" in str(sg)


def test_only_the_loader_reads_the_pii_key_and_signs_in_to_the_workgroup(each_env: Synth) -> None:
    (secret_id,) = each_env.resources("Processing", "AWS::SecretsManager::Secret")
    load_env = _function(each_env, "load")["Properties"]["Environment"]["Variables"]
    assert load_env[settings.PII_KEY_SECRET_ARN] == {"Ref": secret_id}
    readers = {
        stage for stage in STAGES if any({"Ref": secret_id} == s["Resource"] for s in _role_statements(each_env, stage))
    }
    assert readers == {"load"}
    credentials = [s for s in _role_statements(each_env, "load") if s["Action"] == "redshift-serverless:GetCredentials"]
    assert len(credentials) == 1 and "Fn::ImportValue" in credentials[0]["Resource"]
    for stage in ("parse", "score"):
        assert not any("redshift" in str(s["Action"]) for s in _role_statements(each_env, stage))


def test_no_function_policy_grants_wildcard_actions_beyond_acknowledged_ones(dev: Synth) -> None:
    for stage in STAGES:
        for statement in _role_statements(dev, stage):
            actions = [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
            for action in actions:
                assert action != "*" and not action.endswith(":*"), (stage, action)


def test_pii_key_secret_is_retained_in_prod(prod: Synth) -> None:
    prod.template("Processing").has_resource(
        "AWS::SecretsManager::Secret",
        {
            "DeletionPolicy": "Retain",
            "Properties": Match.object_like({"GenerateSecretString": Match.object_like({"PasswordLength": 64})}),
        },
    )


def test_loader_role_receives_the_loader_database_role(dev: Synth) -> None:
    role_id = dev.logical_id(dev.risk_app.stacks["Processing"].load.role)
    tags = dev.resources("Processing", "AWS::IAM::Role")[role_id]["Properties"]["Tags"]
    assert {"Key": "RedshiftDbRoles", "Value": "risk_loader"} in tags
    grants = (REPO_ROOT / "redshift_schema" / "V003__roles_and_grants.sql").read_text()
    assert "CREATE ROLE risk_loader;" in grants
