"""HTTPS ingestion: a regional REST API in front of the stream, for webhooks and apps (issue 17).

Both methods go to one small function (``risk.ingest.webhook_handler``) rather than a direct Kinesis
integration: a webhook's HMAC signature, the per-sender secret and parse's validation cannot be done
in a mapping template, and one code path for both methods keeps their validation and refusals
identical. ``POST /events`` is IAM-authorised (services with AWS credentials); ``POST
/webhooks/{sender}`` has no AWS identity, its signature is the authentication (checked by the
function). API Gateway's ``execute-api`` endpoint serves HTTPS only. Throttling: the stage holds the
steady rate and burst of cdk.json ``ingestion.webhook`` (every caller together); per client, each
webhook sender has its own API key and usage plan (``ingestion.webhook.senders``), and a WAF web ACL
blocks an IP above its rate-based rule. The body limit (``risk.ingest.webhook.MAX_BODY_BYTES``) is
the function's (a 413 before hashing); WAF sees only a body's first kilobytes. Access logs go to a
log group encrypted with the pipeline key.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from aws_cdk import Aws, SecretValue
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from risk.common import settings
from stacks.bundling import Packaging
from stacks.config import EnvironmentConfig, runtime_environment
from stacks.function import RiskFunction
from stacks.guards import acknowledge, log_retention, removal_policy
from stacks.ingestion_config import WEBHOOK_STAGE, WebhookConfig

WEBHOOK_HANDLER = "risk.ingest.webhook_handler.lambda_handler"
EVENTS_PATH = "events"
WEBHOOKS_PATH = "webhooks"
RATE_RULE = "requests-per-ip"
KNOWN_BAD_INPUTS = "AWSManagedRulesKnownBadInputsRuleSet"
# One JSON line per request: API Gateway's standard fields, plus the stage (metric filters take the
# environment from it), the caller's API key id (which sender) and WAF's verdict. A throttled request
# is a "status": "429" line: ``stacks.entry_monitoring`` counts those per resource path.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "user": "$context.identity.user",
    "caller": "$context.identity.caller",
    "apiKeyId": "$context.identity.apiKeyId",
    "requestTime": "$context.requestTime",
    "httpMethod": "$context.httpMethod",
    "resourcePath": "$context.resourcePath",
    "stage": "$context.stage",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "wafResponseCode": "$context.wafResponseCode",
}


class WebhookApi(Construct):
    """The API, its function, the senders' secret and the web ACL; ``.api``, ``.function``, ``.secret``."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: EnvironmentConfig,
        settings_: WebhookConfig,
        packaging: Packaging,
        layers: Sequence[lambda_.ILayerVersion],
        pipeline_key: kms.IKey,
        secret_key: kms.IKey,
        stream: kinesis.IStream,
        async_failures: sqs.IQueue,
    ) -> None:
        super().__init__(scope, id)
        # {"<sender>": "<secret>"}: starts empty; operators add a sender's secret when they onboard it.
        self.secret = secretsmanager.Secret(
            self,
            "SenderSecrets",
            secret_name=f"{cfg.prefix}/webhook-senders",
            description=f"{cfg.prefix}: HMAC-SHA256 secret of each webhook sender, as JSON {{sender: secret}}",
            encryption_key=secret_key,
            secret_string_value=SecretValue.unsafe_plain_text("{}"),  # no secret in it: an empty object
            removal_policy=removal_policy(cfg),
        )
        acknowledge(
            self.secret,
            "AwsSolutions-SMG4",
            "Each value is a secret shared with an outside sender: it changes when the sender rotates with us "
            "(the function accepts two v1 signatures meanwhile), which a rotation Lambda cannot do alone.",
        )
        self.function = RiskFunction(
            self,
            "Function",
            cfg=cfg,
            stage=WEBHOOK_STAGE,
            handler=WEBHOOK_HANDLER,
            description=f"{cfg.prefix} HTTPS ingestion: signed webhooks and IAM-authorised events onto the stream",
            code=packaging.code(),
            layers=layers,
            memory_mb=settings_.memory_mb,
            timeout_s=settings_.timeout_s,
            environment=runtime_environment(
                cfg,
                WEBHOOK_STAGE,
                {settings.STREAM_NAME: stream.stream_name, settings.WEBHOOK_SECRETS_ARN: self.secret.secret_arn},
            ),
            log_key=pipeline_key,
            async_failures=async_failures,
            reserved_concurrency=settings_.reserved_concurrency,  # a flood gets 429s, not the pipeline's share
        )
        role = self.function.role
        role.add_to_principal_policy(
            iam.PolicyStatement(sid="PutOnTheStream", actions=["kinesis:PutRecords"], resources=[stream.stream_arn])
        )
        role.add_to_principal_policy(  # the stream's key only through Kinesis, for this stream
            iam.PolicyStatement(
                sid="EncryptForTheStream",
                actions=["kms:GenerateDataKey"],
                resources=[pipeline_key.key_arn],
                conditions={
                    "StringEquals": {
                        "kms:ViaService": f"kinesis.{Aws.REGION}.amazonaws.com",
                        "kms:EncryptionContext:aws:kinesis:arn": stream.stream_arn,
                    }
                },
            )
        )
        self.secret.grant_read(role)

        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            log_group_name=f"/aws/apigateway/{cfg.prefix}-ingestion",
            retention=log_retention(cfg),
            encryption_key=pipeline_key,
            removal_policy=removal_policy(cfg),
        )
        self.api = apigw.RestApi(
            self,
            "Api",
            rest_api_name=f"{cfg.prefix}-ingestion",
            description=f"{cfg.prefix}: HTTPS ingestion (POST /events with IAM, POST /webhooks/{{sender}} signed)",
            endpoint_types=[apigw.EndpointType.REGIONAL],
            cloud_watch_role=False,  # no account-wide role with a managed policy: access logs need none
            deploy_options=apigw.StageOptions(
                stage_name=cfg.name,
                access_log_destination=apigw.LogGroupLogDestination(self.access_logs),
                access_log_format=apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))),
                tracing_enabled=True,
                throttling_rate_limit=settings_.throttle_rate_per_s,
                throttling_burst_limit=settings_.throttle_burst,
            ),
        )
        integration = apigw.LambdaIntegration(self.function.function, proxy=True)
        # API Gateway validates what it can before the function runs: a single event (application/json) must
        # be a JSON object; a batch is JSON Lines (application/x-ndjson), not JSON, so only the function
        # validates it. Parse's validation (the reasons) is the function's either way.
        validator = self.api.add_request_validator(
            "Validator", validate_request_body=True, validate_request_parameters=True
        )
        one_event = self.api.add_model(
            "OneEvent",
            content_type="application/json",
            model_name="OneEvent",
            schema=apigw.JsonSchema(schema=apigw.JsonSchemaVersion.DRAFT4, type=apigw.JsonSchemaType.OBJECT),
        )
        events = self.api.root.add_resource(EVENTS_PATH).add_method(
            "POST",
            integration,
            authorization_type=apigw.AuthorizationType.IAM,
            request_validator=validator,
            request_models={"application/json": one_event},
        )
        acknowledge(
            events,
            "AwsSolutions-COG4",
            "Producers of POST /events are services with AWS credentials: the method is IAM-authorised (SigV4).",
        )
        hooks = self.api.root.add_resource(WEBHOOKS_PATH).add_resource("{sender}")
        hook = hooks.add_method(
            "POST",
            integration,
            authorization_type=apigw.AuthorizationType.NONE,
            request_parameters={"method.request.header.X-Risk-Signature": True},
            api_key_required=True,  # the sender's key: its usage plan throttles it (per client)
            request_validator=validator,
            request_models={"application/json": one_event},
        )
        for finding in ("AwsSolutions-APIG4", "AwsSolutions-COG4"):
            acknowledge(
                hook,
                finding,
                "Webhook senders have no AWS identity or Cognito user: the function checks each request's "
                "HMAC-SHA256 signature with the sender's secret (risk.ingest.webhook), as payment providers sign.",
            )
        acknowledge(
            self.api,
            "AwsSolutions-APIG6",
            "Execution logging needs the account-wide API Gateway CloudWatch role (a managed policy); every "
            "request is in the CMK-encrypted access log and the function logs each refusal with its reason.",
        )
        # Per client: each webhook sender has its own API key bound to its own usage plan (rate and burst of
        # cdk.json ingestion.webhook.senders), so one sender's flood gets 429s without eating another's
        # share. The key is not the authentication (the HMAC is); API Gateway refuses a request without a
        # known key (403) before the function runs. IAM callers of POST /events share the stage throttle.
        self.sender_keys: dict[str, apigw.IApiKey] = {}
        self.usage_plans: dict[str, apigw.UsagePlan] = {}
        for sender, throttle in settings_.senders.items():
            part = "".join(p.capitalize() for p in sender.split("-"))
            key = apigw.ApiKey(
                self,
                f"Key{part}",
                api_key_name=f"{cfg.prefix}-webhook-{sender}",
                description=f"{cfg.prefix}: webhook sender {sender} (x-api-key beside its X-Risk-Signature)",
                enabled=True,
            )
            plan = self.api.add_usage_plan(
                f"Plan{part}",
                name=f"{cfg.prefix}-webhook-{sender}",
                description=f"{cfg.prefix}: throttle of webhook sender {sender}",
                throttle=apigw.ThrottleSettings(rate_limit=throttle.rate_per_s, burst_limit=throttle.burst),
                api_stages=[apigw.UsagePlanPerApiStage(api=self.api, stage=self.api.deployment_stage)],
            )
            plan.add_api_key(key)
            self.sender_keys[sender], self.usage_plans[sender] = key, plan

        self.web_acl = wafv2.CfnWebACL(
            self,
            "WebAcl",
            name=f"{cfg.prefix}-ingestion",
            scope="REGIONAL",
            default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
            visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
                cloud_watch_metrics_enabled=True,
                metric_name=f"{cfg.prefix}-ingestion",
                sampled_requests_enabled=True,
            ),
            rules=[
                wafv2.CfnWebACL.RuleProperty(
                    name=RATE_RULE,
                    priority=0,
                    action=wafv2.CfnWebACL.RuleActionProperty(block={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        rate_based_statement=wafv2.CfnWebACL.RateBasedStatementProperty(
                            limit=settings_.waf_requests_per_5min_per_ip, aggregate_key_type="IP"
                        )
                    ),
                    visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
                        cloud_watch_metrics_enabled=True,
                        metric_name=f"{cfg.prefix}-ingestion-{RATE_RULE}",
                        sampled_requests_enabled=True,
                    ),
                ),
                wafv2.CfnWebACL.RuleProperty(  # request patterns known to be malicious (Log4j lookups among them)
                    name=KNOWN_BAD_INPUTS,
                    priority=1,
                    override_action=wafv2.CfnWebACL.OverrideActionProperty(none={}),
                    statement=wafv2.CfnWebACL.StatementProperty(
                        managed_rule_group_statement=wafv2.CfnWebACL.ManagedRuleGroupStatementProperty(
                            vendor_name="AWS", name=KNOWN_BAD_INPUTS
                        )
                    ),
                    visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
                        cloud_watch_metrics_enabled=True,
                        metric_name=f"{cfg.prefix}-ingestion-known-bad-inputs",
                        sampled_requests_enabled=True,
                    ),
                ),
            ],
        )
        wafv2.CfnWebACLAssociation(
            self,
            "WebAclAssociation",
            resource_arn=self.api.deployment_stage.stage_arn,
            web_acl_arn=self.web_acl.attr_arn,
        )
