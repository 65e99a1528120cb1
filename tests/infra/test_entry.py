"""The Entry stack: the S3 inbox, its notification to the ingest queue, and the file ingest function."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import ConfigError, read_environments
from stacks.ingestion_config import ingestion_config
from tests.infra.conftest import Synth

pytestmark = pytest.mark.synth


def _one(synth: Synth, type_: str, where: Any = lambda _: True) -> dict[str, Any]:
    (resource,) = [r for r in synth.resources("Entry", type_).values() if where(r)]
    return resource


def _statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_the_inbox_is_private_tls_only_and_encrypted_with_its_own_key(each_env: Synth) -> None:
    entry = each_env.risk_app.stacks["Entry"]
    bucket = each_env.resources("Entry", "AWS::S3::Bucket")[each_env.logical_id(entry.inbox)]["Properties"]
    (rule,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {
        "Fn::GetAtt": [each_env.logical_id(entry.inbox_key), "Arn"]
    }
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "LoggingConfiguration" in bucket
    expiry = {r["Id"]: r.get("ExpirationInDays") for r in bucket["LifecycleConfiguration"]["Rules"]}
    days = ingestion_config(each_env.env).file_ingest.moved_file_expiry_days
    assert (expiry["expire-checkpoints"], expiry["expire-done-files"], expiry["expire-failed-files"]) == (7, days, days)
    policy = _one(each_env, "AWS::S3::BucketPolicy")["Properties"]["PolicyDocument"]["Statement"]  # TLS only
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)


def test_new_inbox_files_notify_the_ingest_queue_which_only_that_bucket_may_send_to(dev: Synth) -> None:
    entry = dev.risk_app.stacks["Entry"]
    bucket = dev.resources("Entry", "AWS::S3::Bucket")[dev.logical_id(entry.inbox)]
    (config,) = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    queue_id = dev.logical_id(entry.ingest_queue)
    assert config["Event"] == "s3:ObjectCreated:*"
    assert config["Queue"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    assert config["Filter"]["S3Key"]["Rules"] == [{"Name": "prefix", "Value": "inbox/"}]
    assert not dev.resources("Entry", "Custom::S3BucketNotifications")  # no helper function with a managed policy
    queue_policy = _one(dev, "AWS::SQS::QueuePolicy", lambda p: p["Properties"]["Queues"] == [{"Ref": queue_id}])[
        "Properties"
    ]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in queue_policy if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "s3.amazonaws.com"} and allow["Action"] == "sqs:SendMessage"
    assert set(allow["Condition"]) == {"ArnEquals", "StringEquals"}  # this bucket, this account
    key = dev.resources("Entry", "AWS::KMS::Key")[dev.logical_id(entry.queue_key)]["Properties"]
    (s3_grant,) = [s for s in key["KeyPolicy"]["Statement"] if s.get("Principal") == {"Service": "s3.amazonaws.com"}]
    assert s3_grant["Condition"] == allow["Condition"] and key["EnableKeyRotation"] is True


def test_the_ingest_queue_has_a_dlq_and_outlasts_six_function_timeouts(each_env: Synth) -> None:
    entry = each_env.risk_app.stacks["Entry"]
    files = ingestion_config(each_env.env).file_ingest
    queues = each_env.resources("Entry", "AWS::SQS::Queue")
    queue = queues[each_env.logical_id(entry.ingest_queue)]["Properties"]
    assert queue["QueueName"] == f"{each_env.cfg.prefix}-ingest"
    assert queue["VisibilityTimeout"] == each_env.cfg.queues.visibility_timeout_factor * files.timeout_s
    assert queue["RedrivePolicy"] == {
        "deadLetterTargetArn": {"Fn::GetAtt": [each_env.logical_id(entry.ingest_dlq), "Arn"]},
        "maxReceiveCount": each_env.cfg.queues.max_receive_count,
    }
    assert queue["KmsMasterKeyId"] == {"Fn::GetAtt": [each_env.logical_id(entry.queue_key), "Arn"]}


def test_the_function_takes_one_file_message_at_a_time_with_its_settings(each_env: Synth) -> None:
    entry = each_env.risk_app.stacks["Entry"]
    files = ingestion_config(each_env.env).file_ingest
    function = each_env.resources("Entry", "AWS::Lambda::Function")[each_env.logical_id(entry.ingest.function)]
    props = function["Properties"]
    assert props["FunctionName"] == f"{each_env.cfg.prefix}-ingest"
    assert props["Handler"] == "risk.ingest.handler.lambda_handler"
    assert (props["Timeout"], props["MemorySize"]) == (files.timeout_s, files.memory_mb)
    assert set(props["Environment"]["Variables"]) >= {"STREAM_NAME", "ARCHIVE_BUCKET", "INGEST_QUEUE_URL"}
    (mapping,) = each_env.resources("Entry", "AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["BatchSize"] == 1
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["Properties"]["ScalingConfig"] == {"MaximumConcurrency": files.max_concurrency}


def test_the_function_role_holds_exactly_what_the_ingest_does(dev: Synth) -> None:
    entry = dev.risk_app.stacks["Entry"]
    roles = dev.resources("Entry", "AWS::IAM::Role")
    statements = _statements(roles[dev.logical_id(entry.ingest.role)])
    policies = dev.resources("Entry", "AWS::IAM::Policy")
    mine = [p for p in policies.values() if dev.logical_id(entry.ingest.role) in json.dumps(p["Properties"]["Roles"])]
    statements += [s for p in mine for s in p["Properties"]["PolicyDocument"]["Statement"]]
    actions = {a for s in statements for a in _actions(s)}
    assert actions == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:GetQueueUrl",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:SendMessage",
        "s3:GetObject",
        "s3:PutObject",
        "s3:DeleteObject",
        "s3:ListBucket",
        "kinesis:PutRecords",
        "kinesis:PutRecord",
        "kinesis:DescribeStreamSummary",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }
    for statement in statements:
        if any(a.startswith("kms:") for a in _actions(statement)):
            assert "kms:ViaService" in statement["Condition"]["StringEquals"]  # each key only through its service
        if "s3:DeleteObject" in _actions(statement):
            resources = [str(r) for r in statement["Resource"]]
            assert all("/inbox/*" in r or "/ingest-state/*" in r for r in resources), resources


def test_a_bad_ingestion_setting_names_its_key() -> None:
    ingestion = read_environments()["dev"]["ingestion"]
    too_long = {**ingestion, "file_ingest": {**ingestion["file_ingest"], "timeout_s": 1200}}
    with pytest.raises(ConfigError, match=r"ingestion\.file_ingest\.timeout_s: 1200 is outside \[60, 900\]"):
        ingestion_config("dev", {"dev": {"ingestion": too_long}})
    too_many = {**ingestion, "eventbridge": {**ingestion["eventbridge"], "max_retry_attempts": 200}}
    with pytest.raises(ConfigError, match=r"ingestion\.eventbridge\.max_retry_attempts: 200 is outside \[0, 185\]"):
        ingestion_config("dev", {"dev": {"ingestion": too_many}})
    with pytest.raises(ConfigError, match=r"ingestion\.file_ingest: missing"):
        ingestion_config("dev", {"dev": {}})


def test_a_bus_per_environment_forwards_the_documented_events_to_the_stream_by_user(each_env: Synth) -> None:
    from stacks.ingestion_config import (  # noqa: PLC0415
        EVENT_INPUT_PATHS,
        EVENT_INPUT_TEMPLATE,
        EVENT_PARTITION_KEY_PATH,
        EVENT_PATTERN,
    )

    entry = each_env.risk_app.stacks["Entry"]
    bus = _one(each_env, "AWS::Events::EventBus")["Properties"]
    assert bus["Name"] == f"{each_env.cfg.prefix}-events"
    assert bus["KmsKeyIdentifier"] == {"Fn::GetAtt": [each_env.logical_id(entry.queue_key), "Arn"]}
    rule = _one(each_env, "AWS::Events::Rule")["Properties"]
    assert rule["EventPattern"] == EVENT_PATTERN and rule["State"] == "ENABLED"
    (target,) = rule["Targets"]
    stream_arn = target["Arn"]
    assert "Fn::ImportValue" in stream_arn  # the Ingest stack's stream
    assert target["KinesisParameters"] == {"PartitionKeyPath": EVENT_PARTITION_KEY_PATH}
    assert target["InputTransformer"] == {"InputPathsMap": EVENT_INPUT_PATHS, "InputTemplate": EVENT_INPUT_TEMPLATE}
    bridge = ingestion_config(each_env.env).eventbridge
    assert target["RetryPolicy"] == {
        "MaximumRetryAttempts": bridge.max_retry_attempts,
        "MaximumEventAgeInSeconds": bridge.max_event_age_s,
    }
    assert target["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [each_env.logical_id(entry.event_dlq), "Arn"]}}
    role = each_env.resources("Entry", "AWS::IAM::Role")[each_env.logical_id(entry.event_role)]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"} and "aws:SourceAccount" in str(trust["Condition"])
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert {a for s in statements for a in _actions(s)} == {"kinesis:PutRecord", "kms:GenerateDataKey"}
    dlq_policy = _one(
        each_env,
        "AWS::SQS::QueuePolicy",
        lambda p: p["Properties"]["Queues"] == [{"Ref": each_env.logical_id(entry.event_dlq)}],
    )["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in dlq_policy if s["Effect"] == "Allow"]
    assert (
        allow["Principal"] == {"Service": "events.amazonaws.com"} and "aws:SourceArn" in allow["Condition"]["ArnEquals"]
    )


def test_the_ways_in_have_a_dashboard_and_alarms_paging_for_dlqs_and_mailing_for_failures(each_env: Synth) -> None:
    monitoring = each_env.risk_app.stacks["Monitoring"]
    critical = each_env.logical_id(monitoring.alarm_topic)
    warning = each_env.logical_id(monitoring.warning_topic)
    alarms = {
        r["Properties"]["AlarmName"].removeprefix(f"{each_env.cfg.prefix}-"): r["Properties"]
        for r in each_env.resources("Entry", "AWS::CloudWatch::Alarm").values()
    }
    assert set(alarms) == {
        "ingest-dlq-not-empty",
        "events-dlq-not-empty",
        "ingest-files-failed",
        "ingest-errors",
        "events-failed-invocations",
        "api-5xx-rate",
        "webhook-errors",
        "waf-blocked-spike",
    }
    for name, props in alarms.items():
        (action,) = props["AlarmActions"]
        topic = critical if name in ("ingest-dlq-not-empty", "events-dlq-not-empty", "api-5xx-rate") else warning
        assert topic in json.dumps(action), name  # the Monitoring stack's topic of that severity
        assert "OKActions" not in props
    failed = alarms["events-failed-invocations"]
    metric = failed if "Namespace" in failed else failed["Metrics"][0]["MetricStat"]["Metric"]
    assert (metric["Namespace"], metric["MetricName"]) == ("AWS/Events", "FailedInvocations")
    assert {d["Name"]: d["Value"] for d in metric["Dimensions"]} == {
        "RuleName": f"{each_env.cfg.prefix}-events-to-stream",
        "EventBusName": f"{each_env.cfg.prefix}-events",
    }
    filters = [f["Properties"] for f in each_env.resources("Entry", "AWS::Logs::MetricFilter").values()]
    assert sorted(f["MetricTransformations"][0]["MetricName"] for f in filters) == [
        "ApiThrottled",
        "FilesDone",
        "FilesFailed",
    ]
    for f in filters:
        if f["MetricTransformations"][0]["MetricName"].startswith("Files"):
            assert '$.message = "file ingest"' in f["FilterPattern"]
    (dashboard,) = each_env.resources("Entry", "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == f"{each_env.cfg.prefix}-ways-in"


def _metrics_of(alarm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Metric id (or the alarm's own single metric as "metric") -> {namespace, name, statistic, dimensions}."""
    if "Namespace" in alarm:
        return {
            "metric": {
                "namespace": alarm["Namespace"],
                "name": alarm["MetricName"],
                "statistic": alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
                "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
            }
        }
    return {
        m["Id"]: {
            "namespace": m["MetricStat"]["Metric"]["Namespace"],
            "name": m["MetricStat"]["Metric"]["MetricName"],
            "statistic": m["MetricStat"]["Stat"],
            "dimensions": {d["Name"]: d["Value"] for d in m["MetricStat"]["Metric"].get("Dimensions", [])},
        }
        for m in alarm["Metrics"]
        if "MetricStat" in m
    }


def test_the_api_alarms_read_the_stage_5xx_rate_the_webhook_function_and_the_web_acls_blocks(
    each_env: Synth,
) -> None:
    hook = ingestion_config(each_env.env).webhook
    prefix = each_env.cfg.prefix
    alarms = {
        r["Properties"]["AlarmName"].removeprefix(f"{prefix}-"): r["Properties"]
        for r in each_env.resources("Entry", "AWS::CloudWatch::Alarm").values()
    }
    rate = alarms["api-5xx-rate"]
    (expression,) = [m["Expression"] for m in rate["Metrics"] if "Expression" in m]
    assert expression == "IF(requests > 0, 100 * errors / requests, 0)"
    stage = {"ApiName": f"{prefix}-ingestion", "Stage": each_env.env}
    assert _metrics_of(rate) == {
        "requests": {"namespace": "AWS/ApiGateway", "name": "Count", "statistic": "SampleCount", "dimensions": stage},
        "errors": {"namespace": "AWS/ApiGateway", "name": "5XXError", "statistic": "Sum", "dimensions": stage},
    }
    assert (rate["Threshold"], rate["ComparisonOperator"]) == (hook.alarm_5xx_rate_pct, "GreaterThanThreshold")
    # the stage's names are the API's and the stage's own
    (api,) = each_env.resources("Entry", "AWS::ApiGateway::RestApi").values()
    (stage_resource,) = each_env.resources("Entry", "AWS::ApiGateway::Stage").values()
    assert (api["Properties"]["Name"], stage_resource["Properties"]["StageName"]) == tuple(stage.values())

    (errors,) = _metrics_of(alarms["webhook-errors"]).values()
    function = each_env.logical_id(each_env.risk_app.stacks["Entry"].webhook.function.function)
    assert (errors["namespace"], errors["name"]) == ("AWS/Lambda", "Errors")
    assert errors["dimensions"] == {"FunctionName": {"Ref": function}}

    blocked = alarms["waf-blocked-spike"]
    (waf,) = _metrics_of(blocked).values()
    (acl,) = each_env.resources("Entry", "AWS::WAFv2::WebACL").values()
    assert (waf["namespace"], waf["name"], waf["statistic"]) == ("AWS/WAFV2", "BlockedRequests", "Sum")
    assert waf["dimensions"] == {
        "WebACL": acl["Properties"]["VisibilityConfig"]["MetricName"],
        "Rule": "ALL",
        "Region": each_env.cfg.region,
    }
    assert blocked["Threshold"] == hook.alarm_waf_blocked_per_5min


def test_throttled_api_requests_are_counted_from_429_lines_of_the_encrypted_access_log(each_env: Synth) -> None:
    from stacks.webhook import ACCESS_LOG_FIELDS  # noqa: PLC0415

    webhook = each_env.risk_app.stacks["Entry"].webhook
    (throttled,) = [
        f["Properties"]
        for f in each_env.resources("Entry", "AWS::Logs::MetricFilter").values()
        if f["Properties"]["MetricTransformations"][0]["MetricName"] == "ApiThrottled"
    ]
    assert throttled["FilterPattern"] == '{ $.status = "429" }'
    assert throttled["LogGroupName"] == {"Ref": each_env.logical_id(webhook.access_logs)}
    (transformation,) = throttled["MetricTransformations"]
    assert {d["Key"]: d["Value"] for d in transformation["Dimensions"]} == {
        "environment": "$.stage",
        "resourcePath": "$.resourcePath",
    }
    # the fields the filter reads are in every access log line, as the stage writes it
    (stage,) = each_env.resources("Entry", "AWS::ApiGateway::Stage").values()
    line = json.loads(stage["Properties"]["AccessLogSetting"]["Format"])
    assert line == ACCESS_LOG_FIELDS
    assert (line["status"], line["stage"], line["resourcePath"]) == (
        "$context.status",
        "$context.stage",
        "$context.resourcePath",
    )
    group = each_env.resources("Entry", "AWS::Logs::LogGroup")[each_env.logical_id(webhook.access_logs)]
    assert "KmsKeyId" in group["Properties"]


def test_the_ways_in_dashboard_graphs_the_api_the_web_acl_and_the_webhook_function(dev: Synth) -> None:
    (dashboard,) = dev.resources("Entry", "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dev.risk_app.stacks["Entry"].resolve(dashboard["Properties"]["DashboardBody"]))
    for needle in (
        '\\"AWS/ApiGateway\\",\\"Count\\"',
        '\\"AWS/ApiGateway\\",\\"4XXError\\"',
        '\\"AWS/ApiGateway\\",\\"5XXError\\"',
        '\\"AWS/ApiGateway\\",\\"Latency\\"',
        '\\"AWS/WAFV2\\",\\"BlockedRequests\\"',
        "ApiThrottled",
        "Webhook function",
    ):
        assert needle in body, needle
