"""Monitoring of the ways in (the Entry stack): a dashboard and alarms, in the Entry stack.

Files ingested and failed are counted from the ingest function's own log lines (a metric filter on
``"file ingest"`` lines by ``status``), so the metric contract of ``risk.common.telemetry`` is not
widened; every other figure is an AWS metric (Lambda, SQS, EventBridge). The alarms notify by
themselves, once on ALARM (as the retention alarms do): a message in ``ingest-dlq`` or
``events-dlq`` pages the critical topic (data at risk); a failed file, ingest function errors and
the rule's failed deliveries mail the warning topic.

The HTTPS API (issue 17 item 7): its stage's requests, 4XX, 5XX and latency, the webhook function, and
the web ACL's blocked requests (``AWS/WAFV2 BlockedRequests`` by WebACL, Rule, Region). API Gateway
publishes no throttle metric (a throttled request is a 429 inside ``4XXError``), so a metric filter
on the CMK-encrypted access log counts ``"status": "429"`` lines by resource path (``ApiThrottled``).
A 5XX rate over ``ingestion.webhook.alarm_5xx_rate_pct`` pages (callers' events refused by us);
webhook function errors and a spike of WAF blocks mail the warning topic.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns

from stacks.config import EnvironmentConfig
from stacks.entry import EntryStack
from stacks.ingestion_config import ingestion_config
from stacks.webhook import KNOWN_BAD_INPUTS, RATE_RULE

FILES_NAMESPACE = "RiskScoring/Ingest"  # log-derived, outside the handlers' metric contract
FIVE_MINUTES = Duration.minutes(5)
CRITICAL_ALARMS = ("ingest-dlq-not-empty", "events-dlq-not-empty", "api-5xx-rate")  # page; the others mail


@dataclass
class EntryMonitoring:
    dashboard: cw.Dashboard
    alarms: dict[str, cw.Alarm]


def entry_monitoring(
    entry: EntryStack, cfg: EnvironmentConfig, critical: sns.ITopic, warning: sns.ITopic
) -> EntryMonitoring:
    files = {}
    for status in ("done", "failed"):
        logs.MetricFilter(
            entry,
            f"Files{status.capitalize()}Filter",
            log_group=entry.ingest.log_group,
            filter_pattern=logs.FilterPattern.all(
                logs.FilterPattern.string_value("$.message", "=", "file ingest"),
                logs.FilterPattern.string_value("$.status", "=", status),
            ),
            metric_namespace=FILES_NAMESPACE,
            metric_name=f"Files{status.capitalize()}",
            dimensions={"environment": "$.environment"},
            metric_value="1",
        )
        files[status] = cw.Metric(
            namespace=FILES_NAMESPACE,
            metric_name=f"Files{status.capitalize()}",
            dimensions_map={"environment": cfg.name},
            period=FIVE_MINUTES,
            statistic="Sum",
            label=f"files {status}",
        )
    rule = {"RuleName": entry.event_rule_name, "EventBusName": entry.event_bus_name}

    def events_metric(name: str) -> cw.Metric:
        return cw.Metric(
            namespace="AWS/Events",
            metric_name=name,
            dimensions_map=rule,
            period=FIVE_MINUTES,
            statistic="Sum",
            label=name,
        )

    fn = entry.ingest.function
    depth = {
        key: queue.metric_approximate_number_of_messages_visible(
            period=Duration.minutes(1), statistic="Maximum", label=key
        )
        for key, queue in (
            ("ingest", entry.ingest_queue),
            ("ingest-dlq", entry.ingest_dlq),
            ("events-dlq", entry.event_dlq),
        )
    }
    alarms = {
        "ingest-dlq-not-empty": _alarm(
            entry,
            cfg,
            "ingest-dlq-not-empty",
            metric=depth["ingest-dlq"],
            description="A file message failed every retry (ingest-dlq): the file is still in inbox/ with its "
            "checkpoint; read the ingest function's log for the key, fix the cause, then redrive (docs/ingestion.md).",
        ),
        "events-dlq-not-empty": _alarm(
            entry,
            cfg,
            "events-dlq-not-empty",
            metric=depth["events-dlq"],
            description="EventBridge could not put events on the stream after its retries (events-dlq): each message "
            "holds the event and the error; fix the cause (a missing user_id, throttling), then re-put them.",
        ),
        "ingest-files-failed": _alarm(
            entry,
            cfg,
            "ingest-files-failed",
            metric=files["failed"],
            description="An inbox file could not be read and was moved to inbox/failed/: its report says why.",
        ),
        "ingest-errors": _alarm(
            entry,
            cfg,
            "ingest-errors",
            metric=fn.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
            description="The file ingest function failed (the message is retried and resumes from its checkpoint).",
        ),
        "events-failed-invocations": _alarm(
            entry,
            cfg,
            "events-failed-invocations",
            metric=events_metric("FailedInvocations"),
            description="The bus's rule failed to put events on the stream (they are retried, then go to events-dlq).",
        ),
    }
    api = _api_metrics(entry, cfg)
    hook_settings = ingestion_config(cfg.name).webhook
    hook_fn = entry.webhook.function.function
    alarms["api-5xx-rate"] = _alarm(
        entry,
        cfg,
        "api-5xx-rate",
        metric=cw.MathExpression(
            expression="IF(requests > 0, 100 * errors / requests, 0)",
            using_metrics={"requests": api["requests"], "errors": api["5xx"]},
            period=FIVE_MINUTES,
            label="5XX % of requests",
        ),
        threshold=hook_settings.alarm_5xx_rate_pct,
        description="The HTTPS API answered 5XX to more than the configured share of requests: callers' events "
        "were refused (a 503 is Kinesis throttling, a 502 the webhook function failing); they retry, a caller that "
        "gives up loses its events. Runbook: docs/runbooks/ways-in.md.",
    )
    alarms["webhook-errors"] = _alarm(
        entry,
        cfg,
        "webhook-errors",
        metric=hook_fn.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
        description="The webhook function failed (a crash or timeout: its caller got a 5XX and retries); "
        "its log says why.",
    )
    alarms["waf-blocked-spike"] = _alarm(
        entry,
        cfg,
        "waf-blocked-spike",
        metric=api["blocked"],
        threshold=hook_settings.alarm_waf_blocked_per_5min,
        description="The web ACL blocked more requests than usual in 5 minutes: a flood from one IP (rate rule) "
        "or malicious inputs; a legitimate sender blocked needs its limit raised. Sampled requests show which.",
    )
    for key, alarm in alarms.items():
        topic = critical if key in CRITICAL_ALARMS else warning
        alarm.add_alarm_action(cw_actions.SnsAction(topic))  # once on ALARM: no OK mail

    dashboard = cw.Dashboard(
        entry,
        "WaysInDashboard",
        dashboard_name=f"{cfg.prefix}-ways-in",
        widgets=[
            [
                cw.TextWidget(
                    markdown="## Ways in\nFiles through the S3 inbox (file ingest) and events through the bus; "
                    "PutRecords producers show on the pipeline dashboards. docs/ingestion.md.",
                    width=24,
                    height=2,
                )
            ],
            [
                cw.GraphWidget(title="Inbox files (done, failed)", left=[files["done"], files["failed"]], width=8),
                cw.GraphWidget(
                    title="File ingest function",
                    left=[
                        fn.metric_invocations(period=FIVE_MINUTES, label="invocations"),
                        fn.metric_errors(period=FIVE_MINUTES, label="errors"),
                        fn.metric_throttles(period=FIVE_MINUTES, label="throttles"),
                    ],
                    width=8,
                ),
                cw.GraphWidget(title="Ingest queue and DLQs (messages)", left=list(depth.values()), width=8),
            ],
            [
                cw.GraphWidget(
                    title="Event bus rule",
                    left=[events_metric(n) for n in ("TriggeredRules", "Invocations", "FailedInvocations")],
                    right=[events_metric("ThrottledRules")],
                    width=12,
                ),
                cw.AlarmStatusWidget(title="Ways-in alarms", alarms=list(alarms.values()), width=12),
            ],
            [
                cw.TextWidget(
                    markdown="## HTTPS API\nRequests and errors of the stage; throttled = `429` lines of the "
                    "access log (API Gateway has no throttle metric: a 429 is also in 4XX); WAF blocks by rule.",
                    width=24,
                    height=2,
                )
            ],
            [
                cw.GraphWidget(
                    title="API requests, 4XX, 5XX, throttled (429)",
                    left=[api["requests"], api["4xx"], api["5xx"]],
                    right=[api["throttled-events"], api["throttled-webhooks"]],
                    width=8,
                ),
                cw.GraphWidget(title="API latency (ms)", left=[api["latency-p50"], api["latency-p99"]], width=8),
                cw.GraphWidget(
                    title="WAF blocked requests",
                    left=[api["blocked"], api["blocked-rate-rule"], api["blocked-known-bad"]],
                    width=8,
                ),
            ],
            [
                cw.GraphWidget(
                    title="Webhook function",
                    left=[
                        hook_fn.metric_invocations(period=FIVE_MINUTES, label="invocations"),
                        hook_fn.metric_errors(period=FIVE_MINUTES, label="errors"),
                        hook_fn.metric_throttles(period=FIVE_MINUTES, label="throttles"),
                    ],
                    right=[hook_fn.metric_duration(period=FIVE_MINUTES, statistic="p99", label="duration p99")],
                    width=12,
                ),
            ],
        ],
    )
    return EntryMonitoring(dashboard, alarms)


def _api_metrics(entry: EntryStack, cfg: EnvironmentConfig) -> dict[str, cw.IMetric]:
    """The stage's API Gateway metrics, the access log's 429s by resource path, the web ACL's blocks."""
    stage = {"ApiName": f"{cfg.prefix}-ingestion", "Stage": cfg.name}

    def gateway(name: str, statistic: str, label: str) -> cw.Metric:
        return cw.Metric(
            namespace="AWS/ApiGateway",
            metric_name=name,
            dimensions_map=stage,
            period=FIVE_MINUTES,
            statistic=statistic,
            label=label,
        )

    logs.MetricFilter(
        entry,
        "ApiThrottledFilter",
        log_group=entry.webhook.access_logs,
        filter_pattern=logs.FilterPattern.string_value("$.status", "=", "429"),
        metric_namespace=FILES_NAMESPACE,
        metric_name="ApiThrottled",
        dimensions={"environment": "$.stage", "resourcePath": "$.resourcePath"},
        metric_value="1",
    )

    def throttled(path: str) -> cw.Metric:
        return cw.Metric(
            namespace=FILES_NAMESPACE,
            metric_name="ApiThrottled",
            dimensions_map={"environment": cfg.name, "resourcePath": path},
            period=FIVE_MINUTES,
            statistic="Sum",
            label=f"429 {path}",
        )

    acl = entry.webhook.web_acl.name or f"{cfg.prefix}-ingestion"

    def blocked(rule: str, label: str) -> cw.Metric:
        return cw.Metric(
            namespace="AWS/WAFV2",
            metric_name="BlockedRequests",
            dimensions_map={"WebACL": acl, "Rule": rule, "Region": entry.region},
            period=FIVE_MINUTES,
            statistic="Sum",
            label=label,
        )

    return {
        "requests": gateway("Count", "SampleCount", "requests"),
        "4xx": gateway("4XXError", "Sum", "4XX"),
        "5xx": gateway("5XXError", "Sum", "5XX"),
        "latency-p50": gateway("Latency", "p50", "latency p50"),
        "latency-p99": gateway("Latency", "p99", "latency p99"),
        "throttled-events": throttled("/events"),
        "throttled-webhooks": throttled("/webhooks/{sender}"),
        "blocked": blocked("ALL", "blocked (all rules)"),
        "blocked-rate-rule": blocked(f"{cfg.prefix}-ingestion-{RATE_RULE}", "blocked: requests per IP"),
        "blocked-known-bad": blocked(f"{cfg.prefix}-ingestion-known-bad-inputs", f"blocked: {KNOWN_BAD_INPUTS}"),
    }


def _alarm(
    entry: EntryStack,
    cfg: EnvironmentConfig,
    name: str,
    *,
    metric: cw.IMetric,
    description: str,
    threshold: float = 0,
) -> cw.Alarm:
    """Any value above ``threshold`` (zero unless given) in one period."""
    return cw.Alarm(
        entry,
        "".join(part.capitalize() for part in name.split("-")) + "Alarm",
        alarm_name=f"{cfg.prefix}-{name}",
        alarm_description=description,
        metric=metric,
        threshold=threshold,
        evaluation_periods=1,
        comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        # A DLQ alarm stays on while a full DLQ goes quiet (SQS publishes nothing for idle queues).
        treat_missing_data=cw.TreatMissingData.IGNORE
        if name.endswith("dlq-not-empty")
        else cw.TreatMissingData.NOT_BREACHING,
    )
