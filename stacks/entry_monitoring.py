"""Monitoring of the ways in (the Entry stack): a dashboard and alarms, in the Entry stack.

Files ingested and failed are counted from the ingest function's own log lines (a metric filter on
``"file ingest"`` lines by ``status``), so the metric contract of ``risk.common.telemetry`` is not
widened; every other figure is an AWS metric (Lambda, SQS, EventBridge). The alarms notify by
themselves, once on ALARM (as the retention alarms do): a message in ``ingest-dlq`` or
``events-dlq`` pages the critical topic (data at risk); a failed file, ingest function errors and
the rule's failed deliveries mail the warning topic.
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

FILES_NAMESPACE = "RiskScoring/Ingest"  # log-derived, outside the handlers' metric contract
FIVE_MINUTES = Duration.minutes(5)


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
    for key, alarm in alarms.items():
        topic = critical if key.endswith("dlq-not-empty") else warning
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
        ],
    )
    return EntryMonitoring(dashboard, alarms)


def _alarm(entry: EntryStack, cfg: EnvironmentConfig, name: str, *, metric: cw.IMetric, description: str) -> cw.Alarm:
    """Any value above zero in one period."""
    return cw.Alarm(
        entry,
        "".join(part.capitalize() for part in name.split("-")) + "Alarm",
        alarm_name=f"{cfg.prefix}-{name}",
        alarm_description=description,
        metric=metric,
        threshold=0,
        evaluation_periods=1,
        comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        # A DLQ alarm stays on while a full DLQ goes quiet (SQS publishes nothing for idle queues).
        treat_missing_data=cw.TreatMissingData.IGNORE
        if name.endswith("dlq-not-empty")
        else cw.TreatMissingData.NOT_BREACHING,
    )
