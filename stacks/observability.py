"""Dashboards and alarms that on-call engineers run the pipeline from.

``PipelineMonitoring`` builds, per environment:

* the **Pipeline overview** dashboard: the product's own metrics (``risk.common.telemetry``), one line
  per stage side by side so a drop shows where it happened, quarantine reasons, end-to-end lag and the
  score distribution by band and model version;
* the **Stage health** dashboard: the per-service sections of cdk-monitoring-constructs (Lambda, Kinesis,
  SQS with DLQ, DynamoDB) plus custom sections where the library has nothing (Firehose delivery from a
  Kinesis source, Redshift Serverless, the loader);
* the alarms, every one with its action on the topic of its severity, a description that says what it
  means and what to do first (naming the runbook), and a composite "pipeline unhealthy" alarm over all
  of them (on the warning topic: the critical ones already page by themselves).

Severity: **critical** when data is at risk (a dead-letter queue is filling and will expire, the
stream's iterator falls behind its retention, the loader is failing), **warning** otherwise.

Alarms are plain ``aws_cloudwatch`` alarms rather than the library's so that each one's metric,
threshold, comparison and missing-data treatment is stated here once, next to its description.
Thresholds come from ``cfg.alarms`` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cdk_monitoring_constructs as cmc
from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from constructs import Construct

from risk.common import telemetry
from risk.events.reasons import Reason
from stacks.config import PARSE_FAILURES_QUEUE, WORK_QUEUES, EnvironmentConfig
from stacks.monitored import MonitoredResources

STAGES = ("parse", "score", "load")
ONE_MINUTE = Duration.minutes(1)
FIVE_MINUTES = Duration.minutes(5)

# The runbooks (docs/runbooks/, written with the local tools). Alarm descriptions and the dashboards'
# text widgets name these paths, so an alarm e-mail already says where to start.
RUNBOOK_DLQ = "docs/runbooks/dlq-full.md"
RUNBOOK_STUCK_ITERATOR = "docs/runbooks/stuck-iterator.md"
RUNBOOK_WAREHOUSE = "docs/runbooks/warehouse-outage.md"
RUNBOOK_MODEL_ROLLBACK = "docs/runbooks/model-rollback.md"
RUNBOOKS = (RUNBOOK_DLQ, RUNBOOK_STUCK_ITERATOR, RUNBOOK_WAREHOUSE, RUNBOOK_MODEL_ROLLBACK)
STAGE_RUNBOOK = {"parse": RUNBOOK_STUCK_ITERATOR, "score": RUNBOOK_MODEL_ROLLBACK, "load": RUNBOOK_WAREHOUSE}

# Dashboard widget titles: the tests look for each one in the synthesized bodies.
TITLE_STAGE_THROUGHPUT = "Events per minute by stage"
TITLE_STAGE_LAST = "Events in the last minute by stage"
TITLE_QUARANTINE_REASONS = "Quarantined per minute by reason"
TITLE_QUARANTINE_RATE = "Quarantine rate (%)"
TITLE_LAG = "End-to-end lag (event time to load time)"
TITLE_DUPLICATES = "Duplicates skipped and suppressed"
TITLE_SCORE_BANDS = "Scored per minute by risk band and model version"
TITLE_FLAGGED_RATE = "Flagged rate (%)"
TITLE_ALARMS = "Alarms"
TITLE_FIREHOSE = "Firehose delivery to the archive"
TITLE_REDSHIFT = "Redshift Serverless"
TITLE_LOADER = "Loader"


CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class AlarmInfo:
    """What the tests and the docs need to know about one alarm besides its CloudFormation."""

    alarm: cw.Alarm
    runbook: str
    severity: str = WARNING


class PipelineMonitoring(Construct):
    """Dashboards, alarms and the composite alarm of one environment."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cfg: EnvironmentConfig,
        resources: MonitoredResources,
        alarm_topic: sns.ITopic,
        warning_topic: sns.ITopic | None = None,
        runbook_base_url: str | None = None,
    ) -> None:
        """``alarm_topic`` gets the critical alarms, ``warning_topic`` (default: the same) the others."""
        super().__init__(scope, construct_id)
        self._cfg = cfg
        self._res = resources
        self._topics = {CRITICAL: alarm_topic, WARNING: warning_topic or alarm_topic}
        self._runbook_base_url = runbook_base_url.rstrip("/") if runbook_base_url else None
        self.alarms: dict[str, AlarmInfo] = {}

        self._add_alarms()
        self.pipeline_unhealthy = self._add_composite()
        self.overview = self._overview_dashboard()
        self.stage_health = self._stage_health_dashboard()

    # ------------------------------------------------------------------ metrics

    def product_metric(
        self,
        spec: telemetry.MetricSpec,
        *,
        period: Duration = ONE_MINUTE,
        statistic: str | None = None,
        label: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> cw.Metric:
        """A contract metric with this environment's base dimensions (and only contract dimensions)."""
        dimensions = {"service": telemetry.SERVICE, "environment": self._cfg.name, **(extra or {})}
        unknown = set(dimensions) - set(spec.dimensions)
        if unknown:
            raise ValueError(f"{spec.name}: dimensions {sorted(unknown)} are not in the metric contract")
        return cw.Metric(
            namespace=telemetry.NAMESPACE,
            metric_name=spec.name,
            dimensions_map=dimensions,
            statistic=statistic or spec.statistic,
            period=period,
            label=label,
        )

    def _search(self, spec: telemetry.MetricSpec, statistic: str, period: Duration, label: str) -> cw.MathExpression:
        """SEARCH over a contract metric's full dimension schema, pinned to this environment.

        Used where a dimension's values are open-ended but low-cardinality (model_version): every
        version that scored events in the window shows up, including the previous one during a rollback.
        """
        schema = ",".join((telemetry.NAMESPACE, *spec.dimensions))
        query = f'{{{schema}}} MetricName="{spec.name}" service="{telemetry.SERVICE}" environment="{self._cfg.name}"'
        return cw.MathExpression(
            expression=f"SEARCH('{query}', '{statistic}', {int(period.to_seconds())})",
            label=label,
            period=period,
        )

    def _rate_pct(self, part: cw.IMetric, whole: cw.IMetric, label: str, period: Duration) -> cw.MathExpression:
        """100 * part / whole, 0 when there was nothing to divide by (no false alarm on idle periods)."""
        return cw.MathExpression(
            expression="IF(whole > 0, 100 * part / whole, 0)",
            using_metrics={"part": part, "whole": whole},
            label=label,
            period=period,
        )

    def _firehose_metric(self, name: str, statistic: str, label: str) -> cw.Metric:
        return cw.Metric(
            namespace="AWS/Firehose",
            metric_name=name,
            dimensions_map={"DeliveryStreamName": self._res.delivery_stream_name},
            statistic=statistic,
            period=FIVE_MINUTES,
            label=label,
        )

    def _redshift_metric(self, name: str, statistic: str, label: str) -> cw.Metric:
        return cw.Metric(
            namespace="AWS/Redshift-Serverless",
            metric_name=name,
            dimensions_map={"Workgroup": self._res.redshift_workgroup_name},
            statistic=statistic,
            period=FIVE_MINUTES,
            label=label,
        )

    def _runbook(self, path: str) -> str:
        """Markdown naming a runbook: a link when the repository's URL is known, else the path."""
        return f"[{path}]({self._runbook_base_url}/{path})" if self._runbook_base_url else f"`{path}`"

    # ------------------------------------------------------------------ alarms

    def _alarm(
        self,
        key: str,
        *,
        metric: cw.IMetric,
        threshold: float,
        comparison: cw.ComparisonOperator,
        missing: cw.TreatMissingData,
        meaning: str,
        first_step: str,
        runbook: str,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
        severity: str = WARNING,
    ) -> cw.Alarm:
        alarm = cw.Alarm(
            self,
            f"Alarm-{key}",
            alarm_name=f"{self._cfg.prefix}-{key}",
            alarm_description=f"{meaning} First: {first_step} Runbook: {runbook}.",
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            treat_missing_data=missing,
        )
        action = cw_actions.SnsAction(self._topics[severity])
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)
        self.alarms[key] = AlarmInfo(alarm, runbook, severity)
        return alarm

    def _add_alarms(self) -> None:
        a = self._cfg.alarms
        gt = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
        not_breaching = cw.TreatMissingData.NOT_BREACHING

        dlqs = dict(self._res.dead_letter_queues)
        for key in (*(q.dlq_key for q in WORK_QUEUES), PARSE_FAILURES_QUEUE):
            queue = dlqs[key]
            # IGNORE keeps the alarm in ALARM while a full DLQ goes quiet (SQS stops publishing metrics
            # for queues without activity): it clears only when someone has drained the queue.
            self._alarm(
                f"{key}-not-empty" if key.endswith("-dlq") else f"{key}-dlq-not-empty",
                metric=queue.metric_approximate_number_of_messages_visible(period=ONE_MINUTE, statistic="Maximum"),
                threshold=0,
                comparison=gt,
                missing=cw.TreatMissingData.IGNORE,
                meaning=f"Messages are waiting in the dead-letter queue {key}: they failed every retry "
                "and will expire after the DLQ's retention.",
                first_step="read one message and the consumer's logs to find the cause, fix it, then redrive.",
                runbook=RUNBOOK_DLQ,
                severity=CRITICAL,
            )

        self._alarm(
            "kinesis-iterator-age",
            metric=self._res.stream.metric_get_records_iterator_age_milliseconds(
                period=ONE_MINUTE, statistic="Maximum"
            ),
            threshold=a.iterator_age_ms,
            comparison=gt,
            missing=not_breaching,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            meaning=f"A consumer of the Kinesis stream (the parse function or Firehose) is more than "
            f"{a.iterator_age_ms} ms behind; records expire after {self._cfg.kinesis.retention_hours} h.",
            first_step="check the parse function's errors and throttles and the Firehose section of Stage health.",
            runbook=RUNBOOK_STUCK_ITERATOR,
            severity=CRITICAL,
        )

        for spec in WORK_QUEUES:
            self._alarm(
                f"{spec.key}-oldest-message",
                metric=self._res.queues[spec.key].metric_approximate_age_of_oldest_message(
                    period=ONE_MINUTE, statistic="Maximum"
                ),
                threshold=a.queue_oldest_message_s,
                comparison=gt,
                missing=not_breaching,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                meaning=f"The oldest message in the {spec.key} queue is older than {a.queue_oldest_message_s} s: "
                f"the {spec.consumer} function is not keeping up or keeps failing.",
                first_step=f"check the {spec.consumer} function's errors, throttles and concurrency on Stage health.",
                runbook=STAGE_RUNBOOK[spec.consumer],
            )

        for stage in STAGES:
            fn = self._res.functions[stage]
            self._alarm(
                f"{stage}-error-rate",
                metric=self._rate_pct(
                    fn.metric_errors(period=FIVE_MINUTES, statistic="Sum"),
                    fn.metric_invocations(period=FIVE_MINUTES, statistic="Sum"),
                    f"{stage} error rate (%)",
                    FIVE_MINUTES,
                ),
                threshold=a.function_error_rate_pct,
                comparison=gt,
                missing=not_breaching,
                meaning=f"More than {a.function_error_rate_pct}% of the {stage} function's invocations failed "
                "in 5 minutes; failed batches are retried and end in a dead-letter queue.",
                first_step=f"read the {stage} function's error logs (Logs Insights on its log group).",
                runbook=STAGE_RUNBOOK[stage],
            )
            self._alarm(
                f"{stage}-throttles",
                metric=fn.metric_throttles(period=FIVE_MINUTES, statistic="Sum"),
                threshold=0,
                comparison=gt,
                missing=not_breaching,
                meaning=f"The {stage} function was throttled: the account or function concurrency limit is reached.",
                first_step="compare ConcurrentExecutions with the account limit and the mapping's maximum concurrency.",
                runbook=STAGE_RUNBOOK[stage],
            )

        self._alarm(
            "firehose-freshness",
            metric=self._firehose_metric("DeliveryToS3.DataFreshness", "Maximum", "Data freshness (s)"),
            threshold=a.firehose_freshness_s,
            comparison=gt,
            missing=not_breaching,
            meaning=f"The oldest record in Firehose is more than {a.firehose_freshness_s} s old: the raw "
            "archive is falling behind (S3 or KMS errors, or throttling).",
            first_step="read the delivery stream's error logs and DeliveryToS3.Success.",
            runbook=RUNBOOK_STUCK_ITERATOR,
        )

        self._alarm(
            "quarantine-rate",
            metric=self._rate_pct(
                self.product_metric(telemetry.EVENTS_QUARANTINED, period=FIVE_MINUTES),
                self.product_metric(telemetry.RECORDS_RECEIVED, period=FIVE_MINUTES),
                "Quarantine rate (%)",
                FIVE_MINUTES,
            ),
            threshold=a.quarantine_rate_pct,
            comparison=gt,
            missing=not_breaching,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            meaning=f"More than {a.quarantine_rate_pct}% of the records read from Kinesis are quarantined: a "
            "producer is sending malformed or unsupported events.",
            first_step="look at 'Quarantined per minute by reason' on the overview and the objects in "
            "the archive's quarantine/ prefix, then contact the producer.",
            runbook=RUNBOOK_STUCK_ITERATOR,
        )

        self._alarm(
            "end-to-end-lag",
            metric=self.product_metric(telemetry.END_TO_END_LAG),
            threshold=a.end_to_end_lag_s * 1000,
            comparison=gt,
            missing=not_breaching,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            meaning=f"Events reach the warehouse more than {a.end_to_end_lag_s} s after they happened.",
            first_step="find the slow stage on the overview (the first line that lags), then its queue age.",
            runbook=RUNBOOK_WAREHOUSE,
        )

        self._alarm(
            "loader-failures",
            metric=self.product_metric(telemetry.LOADER_FAILURES),
            threshold=0,
            comparison=gt,
            missing=not_breaching,
            meaning="The loader handed messages back to SQS: a load into Redshift failed or a message "
            "could not be decoded.",
            first_step="read the load function's logs; check the workgroup's status and the VPC endpoints.",
            runbook=RUNBOOK_WAREHOUSE,
            severity=CRITICAL,
        )

        minutes = a.silent_producer_minutes
        if minutes is not None:
            # One period of N minutes: "no record at all in N minutes", not "N quiet minutes in a row".
            self._alarm(
                "silent-producer",
                metric=self._res.stream.metric_incoming_records(period=Duration.minutes(minutes), statistic="Sum"),
                threshold=1,
                comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
                missing=cw.TreatMissingData.BREACHING,  # Kinesis publishes nothing when nothing arrives
                meaning=f"No record arrived on the Kinesis stream for {minutes} minutes although this "
                "environment expects continuous traffic.",
                first_step="check the producers (their errors and credentials) and PutRecords throttling.",
                runbook=RUNBOOK_STUCK_ITERATOR,
            )

    def _add_composite(self) -> cw.CompositeAlarm:
        composite = cw.CompositeAlarm(
            self,
            "PipelineUnhealthy",
            composite_alarm_name=f"{self._cfg.prefix}-pipeline-unhealthy",
            alarm_description="The risk-scoring pipeline is unhealthy: at least one of its alarms is in ALARM. "
            "First: open the Pipeline overview dashboard's alarm panel and follow that alarm's runbook "
            f"({', '.join(RUNBOOKS)}).",
            alarm_rule=cw.AlarmRule.any_of(
                *(cw.AlarmRule.from_alarm(info.alarm, cw.AlarmState.ALARM) for info in self.alarms.values())
            ),
        )
        action = cw_actions.SnsAction(self._topics[WARNING])
        composite.add_alarm_action(action)
        composite.add_ok_action(action)
        return composite

    # ------------------------------------------------------------------ dashboards

    def _alarm_status(self) -> cw.AlarmStatusWidget:
        return cw.AlarmStatusWidget(
            title=TITLE_ALARMS,
            alarms=[self.pipeline_unhealthy, *(info.alarm for info in self.alarms.values())],
            width=24,
            height=4,
            sort_by=cw.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
        )

    def _overview_dashboard(self) -> cw.Dashboard:
        m = self.product_metric
        dashboard = cw.Dashboard(
            self,
            "PipelineOverview",
            dashboard_name=f"{self._cfg.prefix}-pipeline-overview",
            default_interval=Duration.hours(3),
        )
        dashboard.add_widgets(
            cw.TextWidget(
                markdown=(
                    f"# Pipeline overview ({self._cfg.name})\n"
                    "Each line is one stage, per minute: the first line to drop shows where events stop. "
                    f"Runbooks: {', '.join(self._runbook(r) for r in RUNBOOKS)}. "
                    f"Per-service detail: dashboard `{self._cfg.prefix}-stage-health`."
                ),
                width=24,
                height=2,
            )
        )
        dashboard.add_widgets(self._alarm_status())

        stages: list[cw.IMetric] = [
            self._res.stream.metric_incoming_records(period=ONE_MINUTE, statistic="Sum", label="Into Kinesis"),
            m(telemetry.RECORDS_RECEIVED, label="Read by parse"),
            m(telemetry.EVENTS_PARSED, label="Parsed"),
            m(telemetry.EVENTS_QUARANTINED, label="Quarantined"),
            m(telemetry.EVENTS_SCORED, label="Scored"),
            m(telemetry.SCORE_EVENTS_QUARANTINED, label="Quarantined at score"),
            m(telemetry.EVENTS_FLAGGED, label="Flagged"),
            m(telemetry.EVENTS_LOADED, label="Loaded"),
        ]
        dashboard.add_widgets(
            cw.GraphWidget(
                title=TITLE_STAGE_THROUGHPUT,
                left=stages,
                width=24,
                height=7,
                left_y_axis=cw.YAxisProps(min=0, label="events / minute", show_units=False),
            ),
        )
        dashboard.add_widgets(
            cw.SingleValueWidget(title=TITLE_STAGE_LAST, metrics=stages, width=24, height=3, full_precision=True),
        )

        reasons = [m(telemetry.QUARANTINED_BY_REASON, label=r.value, extra={"reason": r.value}) for r in Reason]
        dashboard.add_widgets(
            cw.GraphWidget(
                title=TITLE_QUARANTINE_REASONS,
                left=reasons,
                stacked=True,
                width=12,
                height=7,
                left_y_axis=cw.YAxisProps(min=0),
            ),
            cw.GraphWidget(
                title=TITLE_QUARANTINE_RATE,
                left=[
                    self._rate_pct(
                        m(telemetry.EVENTS_QUARANTINED),
                        m(telemetry.RECORDS_RECEIVED),
                        "Quarantined / received (%)",
                        ONE_MINUTE,
                    )
                ],
                left_annotations=[
                    cw.HorizontalAnnotation(value=self._cfg.alarms.quarantine_rate_pct, label="alarm threshold")
                ],
                left_y_axis=cw.YAxisProps(min=0, max=100),
                width=12,
                height=7,
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title=TITLE_LAG,
                left=[
                    m(telemetry.END_TO_END_LAG, label="max"),
                    m(telemetry.END_TO_END_LAG, statistic="p50", label="p50"),
                ],
                left_annotations=[
                    cw.HorizontalAnnotation(value=self._cfg.alarms.end_to_end_lag_s * 1000, label="alarm threshold")
                ],
                left_y_axis=cw.YAxisProps(min=0, label="ms", show_units=False),
                width=12,
                height=7,
            ),
            cw.GraphWidget(
                title=TITLE_DUPLICATES,
                left=[
                    m(telemetry.DUPLICATE_EVENTS_SKIPPED, label="skipped by score (replays)"),
                    m(telemetry.DUPLICATES_SUPPRESSED, label="suppressed by load (already in warehouse)"),
                ],
                left_y_axis=cw.YAxisProps(min=0),
                width=12,
                height=7,
            ),
        )
        dashboard.add_widgets(
            cw.GraphWidget(
                title=TITLE_SCORE_BANDS,
                left=[self._search(telemetry.SCORED_BY_BAND, "Sum", ONE_MINUTE, "")],
                stacked=True,
                left_y_axis=cw.YAxisProps(min=0),
                width=12,
                height=7,
            ),
            cw.GraphWidget(
                title=TITLE_FLAGGED_RATE,
                left=[
                    self._rate_pct(
                        m(telemetry.EVENTS_FLAGGED), m(telemetry.EVENTS_SCORED), "Flagged / scored (%)", ONE_MINUTE
                    )
                ],
                left_y_axis=cw.YAxisProps(min=0, max=100),
                width=12,
                height=7,
            ),
        )
        return dashboard

    def _section_text(self, title: str, body: str, runbooks: Sequence[str]) -> cmc.SingleWidgetDashboardSegment:
        links = ", ".join(self._runbook(r) for r in runbooks)
        return cmc.SingleWidgetDashboardSegment(
            cw.TextWidget(markdown=f"## {title}\n{body} Runbook: {links}.", width=24, height=2)
        )

    def _stage_health_dashboard(self) -> cw.Dashboard:
        name = f"{self._cfg.prefix}-stage-health"
        factory = cmc.DefaultDashboardFactory(
            self,
            "StageHealthFactory",
            dashboard_name_prefix=name,
            create_dashboard=True,
            create_summary_dashboard=False,
            create_alarm_dashboard=False,
        )
        facade = cmc.MonitoringFacade(self, "StageHealth", dashboard_factory=factory)
        res = self._res
        prefix = self._cfg.prefix

        facade.add_segment(cmc.SingleWidgetDashboardSegment(self._alarm_status()))

        facade.add_segment(
            self._section_text(
                "Lambda functions",
                "Invocations, errors, throttles, duration p50/p99 and concurrency of parse, score and load.",
                [STAGE_RUNBOOK[s] for s in STAGES],
            )
        )
        for stage in STAGES:
            facade.monitor_lambda_function(
                lambda_function=res.functions[stage],
                human_readable_name=f"{stage} function",
                alarm_friendly_name=f"{prefix}-{stage}",
                latency_types_to_render=[cmc.LatencyType.P50, cmc.LatencyType.P99],
                is_iterator=stage == "parse",
            )

        facade.add_segment(
            self._section_text(
                "Kinesis stream", "Incoming records, iterator age and throttled puts.", [RUNBOOK_STUCK_ITERATOR]
            )
        )
        facade.monitor_kinesis_data_stream(
            stream_name=res.stream.stream_name,
            human_readable_name="Kinesis stream",
            alarm_friendly_name=f"{prefix}-stream",
        )

        facade.add_segment(
            self._section_text(
                "Queues", "Depth and age of the oldest message of each work queue, and its DLQ's depth.", [RUNBOOK_DLQ]
            )
        )
        for spec in WORK_QUEUES:
            facade.monitor_sqs_queue_with_dlq(
                queue=res.queues[spec.key],
                dead_letter_queue=res.dead_letter_queues[spec.dlq_key],
                human_readable_name=f"{spec.key} queue ({spec.producer} -> {spec.consumer})",
                alarm_friendly_name=f"{prefix}-{spec.key}",
            )
        facade.monitor_sqs_queue(
            queue=res.dead_letter_queues[PARSE_FAILURES_QUEUE],
            human_readable_name="parse-failures queue (Kinesis batches the parse function gave up on)",
            alarm_friendly_name=f"{prefix}-{PARSE_FAILURES_QUEUE}",
        )

        facade.monitor_custom(
            human_readable_name=TITLE_FIREHOSE,
            alarm_friendly_name=f"{prefix}-firehose",
            description=f"Raw archive delivery (Kinesis source, S3 destination). Runbook: "
            f"{self._runbook(RUNBOOK_STUCK_ITERATOR)}.",
            metric_groups=[
                cmc.CustomMetricGroup(
                    title="Delivery success (ratio)",
                    metrics=[self._firehose_metric("DeliveryToS3.Success", "Average", "DeliveryToS3.Success")],
                ),
                cmc.CustomMetricGroup(
                    title="Data freshness (s)",
                    metrics=[self._firehose_metric("DeliveryToS3.DataFreshness", "Maximum", "DataFreshness")],
                    horizontal_annotations=[
                        cw.HorizontalAnnotation(value=self._cfg.alarms.firehose_freshness_s, label="alarm threshold")
                    ],
                ),
                cmc.CustomMetricGroup(
                    title="Records read and delivered",
                    metrics=[
                        self._firehose_metric("DataReadFromKinesisStream.Records", "Sum", "read from Kinesis"),
                        self._firehose_metric("DeliveryToS3.Records", "Sum", "delivered to S3"),
                    ],
                ),
            ],
        )

        facade.add_segment(
            self._section_text(
                "DynamoDB feature state",
                "Throttles and latency of the per-user state the score function keeps.",
                [RUNBOOK_MODEL_ROLLBACK],
            )
        )
        facade.monitor_dynamo_table(
            table=res.state_table,
            human_readable_name="Feature state table",
            alarm_friendly_name=f"{prefix}-state",
        )

        facade.monitor_custom(
            human_readable_name=TITLE_REDSHIFT,
            alarm_friendly_name=f"{prefix}-redshift",
            description=f"Workgroup compute (RPU) and query duration. Runbook: {self._runbook(RUNBOOK_WAREHOUSE)}.",
            metric_groups=[
                cmc.CustomMetricGroup(
                    title="Compute capacity (RPU)",
                    metrics=[self._redshift_metric("ComputeCapacity", "Average", "ComputeCapacity")],
                    horizontal_annotations=[
                        cw.HorizontalAnnotation(value=self._cfg.redshift.base_rpu, label="base RPU"),
                        cw.HorizontalAnnotation(value=self._cfg.redshift.max_rpu, label="max RPU"),
                    ],
                ),
                cmc.CustomMetricGroup(
                    title="Query duration (µs)",
                    # QueryDuration carries more dimensions than the workgroup (database, query type, stage):
                    # a SEARCH on the workgroup shows them all without hard-coding that set.
                    metrics=[
                        cw.MathExpression(
                            expression='SEARCH(\'Namespace="AWS/Redshift-Serverless" MetricName="QueryDuration" '
                            f"Workgroup=\"{res.redshift_workgroup_name}\"', 'Average', 300)",
                            label="",
                            period=FIVE_MINUTES,
                        )
                    ],
                ),
            ],
        )

        m = self.product_metric
        facade.monitor_custom(
            human_readable_name=TITLE_LOADER,
            alarm_friendly_name=f"{prefix}-loader",
            description="Rows per batch and what the MERGE did with them. "
            f"Runbook: {self._runbook(RUNBOOK_WAREHOUSE)}.",
            metric_groups=[
                cmc.CustomMetricGroup(
                    title="Batch size (rows, average)", metrics=[m(telemetry.LOAD_BATCH_SIZE, period=FIVE_MINUTES)]
                ),
                cmc.CustomMetricGroup(
                    title="Rows merged, duplicates suppressed, failures",
                    metrics=[
                        m(telemetry.ROWS_MERGED, period=FIVE_MINUTES),
                        m(telemetry.DUPLICATES_SUPPRESSED, period=FIVE_MINUTES),
                        m(telemetry.LOADER_FAILURES, period=FIVE_MINUTES),
                    ],
                ),
            ],
        )

        dashboard = factory.dashboard
        assert dashboard is not None  # create_dashboard=True
        return dashboard
