"""HTTPS ingestion in the Entry stack: a regional REST API (IAM on /events, HMAC-signed webhooks), its
function's least privilege, throttling, access logs under a CMK and a WAF rate-based rule on the stage."""

from __future__ import annotations

import json
from typing import Any

import pytest

from risk.common import aws
from risk.ingest import webhook
from stacks.config import ConfigError, read_environments
from stacks.ingestion_config import ingestion_config
from tests.infra.conftest import Synth

pytestmark = pytest.mark.synth


def _only(synth: Synth, type_: str) -> dict[str, Any]:
    (resource,) = synth.resources("Entry", type_).values()
    return dict(resource["Properties"])


def _methods(synth: Synth) -> dict[str, dict[str, Any]]:
    """Path of the method's resource (by its PathPart chain) -> the method's properties."""
    resources = synth.resources("Entry", "AWS::ApiGateway::Resource")

    def path(ref: Any) -> str:
        if isinstance(ref, dict) and "Ref" in ref and ref["Ref"] in resources:
            props = resources[ref["Ref"]]["Properties"]
            return path(props["ParentId"]) + "/" + props["PathPart"]
        return ""

    return {
        path(m["Properties"]["ResourceId"]): m["Properties"]
        for m in synth.resources("Entry", "AWS::ApiGateway::Method").values()
    }


def test_the_api_is_regional_and_both_methods_are_post_to_the_function(each_env: Synth) -> None:
    assert _only(each_env, "AWS::ApiGateway::RestApi")["EndpointConfiguration"] == {"Types": ["REGIONAL"]}
    methods = _methods(each_env)
    assert set(methods) == {"/events", "/webhooks/{sender}"}
    function = each_env.logical_id(each_env.risk_app.stacks["Entry"].webhook.function.function)
    for props in methods.values():
        assert props["HttpMethod"] == "POST"
        assert props["Integration"]["Type"] == "AWS_PROXY"
        assert function in json.dumps(props["Integration"]["Uri"])


def test_events_need_iam_and_webhooks_need_a_signature_header(dev: Synth) -> None:
    methods = _methods(dev)
    assert methods["/events"]["AuthorizationType"] == "AWS_IAM"
    assert methods["/webhooks/{sender}"]["AuthorizationType"] == "NONE"  # the HMAC is the authentication
    assert methods["/webhooks/{sender}"]["RequestParameters"] == {"method.request.header.X-Risk-Signature": True}
    validator = _only(dev, "AWS::ApiGateway::RequestValidator")
    assert validator["ValidateRequestBody"] is True and validator["ValidateRequestParameters"] is True
    assert _only(dev, "AWS::ApiGateway::Model")["Schema"]["type"] == "object"


def test_the_stage_throttles_every_caller_and_logs_to_a_cmk_group(each_env: Synth) -> None:
    hook = ingestion_config(each_env.env).webhook
    stage = _only(each_env, "AWS::ApiGateway::Stage")
    (settings,) = stage["MethodSettings"]
    assert (settings["HttpMethod"], settings["ResourcePath"]) == ("*", "/*")
    assert (settings["ThrottlingRateLimit"], settings["ThrottlingBurstLimit"]) == (
        hook.throttle_rate_per_s,
        hook.throttle_burst,
    )
    assert stage["TracingEnabled"] is True
    logs = {k: v["Properties"] for k, v in each_env.resources("Entry", "AWS::Logs::LogGroup").items()}
    (target,) = [t for t in logs if t in json.dumps(stage["AccessLogSetting"]["DestinationArn"])]
    assert "KmsKeyId" in logs[target]
    assert logs[target]["LogGroupName"].startswith("/aws/apigateway/")


def test_each_webhook_sender_has_its_own_api_key_and_usage_plan_with_its_throttle(each_env: Synth) -> None:
    hook = ingestion_config(each_env.env).webhook
    assert hook.senders, "cdk.json names at least one sender per environment"
    prefix = each_env.cfg.prefix
    keys = {k: v["Properties"] for k, v in each_env.resources("Entry", "AWS::ApiGateway::ApiKey").items()}
    plans = {k: v["Properties"] for k, v in each_env.resources("Entry", "AWS::ApiGateway::UsagePlan").items()}
    bindings = [v["Properties"] for v in each_env.resources("Entry", "AWS::ApiGateway::UsagePlanKey").values()]
    assert sorted(p["UsagePlanName"] for p in plans.values()) == sorted(f"{prefix}-webhook-{s}" for s in hook.senders)
    assert len(keys) == len(bindings) == len(hook.senders)
    (stage_id,) = each_env.resources("Entry", "AWS::ApiGateway::Stage")
    for sender, throttle in hook.senders.items():
        (plan_id,) = [k for k, p in plans.items() if p["UsagePlanName"] == f"{prefix}-webhook-{sender}"]
        (key_id,) = [k for k, p in keys.items() if p["Name"] == f"{prefix}-webhook-{sender}"]
        assert plans[plan_id]["Throttle"] == {"RateLimit": throttle.rate_per_s, "BurstLimit": throttle.burst}
        (api_stage,) = plans[plan_id]["ApiStages"]
        assert api_stage["Stage"] == {"Ref": stage_id}
        assert keys[key_id]["Enabled"] is True and "Value" not in keys[key_id]  # generated, never in the template
        assert {"KeyId": {"Ref": key_id}, "KeyType": "API_KEY", "UsagePlanId": {"Ref": plan_id}} in bindings
    methods = _methods(each_env)
    assert methods["/webhooks/{sender}"]["ApiKeyRequired"] is True  # no key of a plan: 403 before the function
    assert not methods["/events"].get("ApiKeyRequired")  # IAM callers share the stage's throttle


def test_a_waf_rate_based_rule_per_ip_guards_the_stage(each_env: Synth) -> None:
    acl = _only(each_env, "AWS::WAFv2::WebACL")
    assert acl["Scope"] == "REGIONAL"
    rule, known_bad = acl["Rules"]
    assert known_bad["Statement"]["ManagedRuleGroupStatement"]["Name"] == "AWSManagedRulesKnownBadInputsRuleSet"
    assert rule["Action"] == {"Block": {}}
    assert rule["Statement"]["RateBasedStatement"] == {
        "Limit": ingestion_config(each_env.env).webhook.waf_requests_per_5min_per_ip,
        "AggregateKeyType": "IP",
    }
    association = _only(each_env, "AWS::WAFv2::WebACLAssociation")
    stages = each_env.resources("Entry", "AWS::ApiGateway::Stage")
    assert any(stage_id in json.dumps(association["ResourceArn"]) for stage_id in stages)


def test_the_function_may_only_put_on_the_stream_and_read_the_senders_secret(dev: Synth) -> None:
    entry = dev.risk_app.stacks["Entry"]
    role = dev.resources("Entry", "AWS::IAM::Role")[dev.logical_id(entry.webhook.function.role)]
    actions = sorted(
        a
        for p in role["Properties"].get("Policies", [])
        for s in p["PolicyDocument"]["Statement"]
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    )
    extra = [
        s
        for r in dev.resources("Entry", "AWS::IAM::Policy").values()
        if dev.logical_id(entry.webhook.function.role) in json.dumps(r["Properties"]["Roles"])
        for s in r["Properties"]["PolicyDocument"]["Statement"]
    ]
    actions += sorted(a for s in extra for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]))
    # Its logs, the async-failure queue every function has, the stream and its key, the secret and its key.
    assert set(actions) == {
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "sqs:SendMessage",
        "kms:GenerateDataKey",
        "kms:Decrypt",
        "kinesis:PutRecords",
        "secretsmanager:GetSecretValue",
        "secretsmanager:DescribeSecret",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }, actions
    assert not role["Properties"].get("ManagedPolicyArns")
    secret = _only(dev, "AWS::SecretsManager::Secret")
    assert "KmsKeyId" in secret and json.loads(secret["SecretString"]) == {}


def test_the_function_outlasts_its_aws_calls_and_fits_api_gateways_timeout(each_env: Synth) -> None:
    hook = ingestion_config(each_env.env).webhook
    one_call = aws.worst_case_call_s(webhook.CONNECT_TIMEOUT_S, webhook.READ_TIMEOUT_S)
    assert one_call + 1 < hook.timeout_s <= 29
    function = each_env.resources("Entry", "AWS::Lambda::Function")[
        each_env.logical_id(each_env.risk_app.stacks["Entry"].webhook.function.function)
    ]["Properties"]
    assert function["Timeout"] == hook.timeout_s
    assert function["ReservedConcurrentExecutions"] == hook.reserved_concurrency
    assert set(function["Environment"]["Variables"]) >= {"STREAM_NAME", "WEBHOOK_SECRETS_ARN"}


def test_a_bad_webhook_setting_names_its_key() -> None:
    envs = read_environments()
    hook = envs["dev"]["ingestion"]["webhook"]
    hook["senders"] = {"Acme Pay": {"rate_per_s": 1, "burst": 1}}
    with pytest.raises(ConfigError, match=r"webhook\.senders\.Acme Pay: a sender name is lowercase"):
        ingestion_config("dev", envs)
    hook["senders"] = {"acme": {"rate_per_s": hook["throttle_rate_per_s"] + 1, "burst": 1}}
    with pytest.raises(ConfigError, match=r"webhook\.senders\.acme\.rate_per_s: \d+ is outside \[1, \d+\]"):
        ingestion_config("dev", envs)
    hook["senders"] = {}
    hook["alarm_5xx_rate_pct"] = 0
    with pytest.raises(ConfigError, match=r"webhook\.alarm_5xx_rate_pct: 0 is outside"):
        ingestion_config("dev", envs)
    envs = read_environments()
    envs["dev"]["ingestion"]["webhook"]["timeout_s"] = 30
    with pytest.raises(ConfigError, match=r"environments\.dev\.ingestion\.webhook\.timeout_s: 30 is outside"):
        ingestion_config("dev", envs)
    del envs["dev"]["ingestion"]["webhook"]
    with pytest.raises(ConfigError, match=r"environments\.dev\.ingestion\.webhook: missing"):
        ingestion_config("dev", envs)
