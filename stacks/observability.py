"""Dashboards and alarms that on-call engineers run the pipeline from.

``PipelineMonitoring`` builds, per environment:

* the **Pipeline overview** dashboard: does it flow (events by stage, per minute and over aligned
  5-minute periods), where is it stuck (queue ages, each stream consumer's iterator age), is anything
  lost (DLQ depth and age, failures by stage and cause, quarantine), lag per event, score distribution;
* the **Stage health** dashboard: the per-service sections of cdk-monitoring-constructs (Lambda, Kinesis,
  SQS, DynamoDB) plus custom sections where the library has nothing or counts wrong (each DLQ by depth,
  Firehose delivery from a Kinesis source, Redshift Serverless, the loader);
* the alarms, each with a description that says what it means, what to do first and its runbook. Child
  alarms have no actions of their own: ``pipeline-critical`` (any critical child) pages once per
  incident, ``pipeline-unhealthy`` (any warning child) mails the warning topic and is suppressed while
  the critical one is on. Only the DLQ-age escalations notify by themselves.

Severity: **critical** when data is at risk (a dead-letter queue filling or ageing towards expiry, a
stream consumer near the age its records are skipped or expire, a stage failing minute after minute, a
stalled load with messages waiting), **warning** otherwise.

Alarms are plain ``aws_cloudwatch`` alarms rather than the library's so that each one's metric,
threshold, comparison and missing-data treatment is stated here once, next to its description; the
local run evaluates the same synthesized definitions (``tools.local.alarms``). Thresholds come from
``cdk.json`` only (constants: evaluation windows, ``HORIZON_SHARE``, ``NEAR_TIMEOUT``,
``BUDGET_WARNING_SHARE``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cdk_monitoring_constructs as cmc
from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from risk.common import telemetry
from risk.events.reasons import Reason
from risk.score.model import RISK_BANDS
from risk.score.scorers import load_model_file
from risk.score.scorers.base import Thresholds
from risk.score.scorers.rules import RulesScorer
from stacks.config import PARSE_FAILURES_QUEUE, WORK_QUEUES, EnvironmentConfig
from stacks.ingest import FIREHOSE_BUFFER_INTERVAL_S
from stacks.monitored import MonitoredResources
from stacks.sagemaker import VARIANT as SAGEMAKER_VARIANT

STAGES = ("parse", "score", "load")
STATE_STORE_OPERATIONS = ("BatchGetItem", "PutItem")  # what risk.score.store.DynamoStateStore calls
ONE_MINUTE = Duration.minutes(1)
ONE_HOUR = Duration.hours(1)
HIGH_BAND_HOURS, HIGH_BAND_WINDOW_HOURS = 3, 4  # high-band-rate: out of band in 3 of the last 4 hours
FIVE_MINUTES = Duration.minutes(5)
BUDGET_WARNING_SHARE = 0.8  # warn before the Redshift usage limit acts
NEAR_TIMEOUT = 0.8  # a function running longer than this share of its timeout is about to time out
# Horizons: page when a consumer has used this share of the time before its data expires, so that
# the rest is left for someone to act (a quarter: prod's 24 h MaximumRecordAgeInSeconds pages at 6 h).
HORIZON_SHARE = 0.25


def parse_iterator_threshold_ms(cfg: EnvironmentConfig) -> int:
    """The parse mapping drops records older than MaximumRecordAgeInSeconds (or the stream's retention)."""
    horizon_s = min(cfg.kinesis_source.max_record_age_s, cfg.kinesis.retention_hours * 3600)
    return int(horizon_s * HORIZON_SHARE * 1000)


def firehose_behind_threshold_ms(cfg: EnvironmentConfig) -> int:
    """Firehose has no record-age limit of its own: its horizon is the stream's retention."""
    return int(cfg.kinesis.retention_hours * 3600 * HORIZON_SHARE * 1000)


# Firehose: S3 delivery is retried for this long, then the records are dropped (fixed by the service).
FIREHOSE_S3_RETRY_HOURS = 24
# Firehose read vs delivered: compare over periods of this many buffer intervals; alarm below this share.
FIREHOSE_COMPARE_BUFFERS = 15
FIREHOSE_DELIVERED_MIN_PCT = 50


def firehose_compare_period() -> Duration:
    """Many buffer intervals, so that the buffers in flight at a period's edges are a small share of it."""
    return Duration.minutes(max(5, math.ceil(FIREHOSE_COMPARE_BUFFERS * FIREHOSE_BUFFER_INTERVAL_S / 60)))


def firehose_undelivered_threshold_s() -> int:
    return int(FIREHOSE_S3_RETRY_HOURS * 3600 * HORIZON_SHARE)


def work_queue_age_threshold_s(cfg: EnvironmentConfig) -> int:
    """A work queue deletes messages ``queues.retention_days`` after they were sent: page at the horizon share."""
    return int(cfg.queues.retention_days * 86400 * HORIZON_SHARE)


def dlq_age_threshold_s(cfg: EnvironmentConfig) -> int:
    """A dead-lettered message may already be ``queues.retention_days`` old (the enqueue time is kept):
    it is sure to live ``dlq_retention_days - retention_days`` in the DLQ; alarm at half of that."""
    return int((cfg.queues.dlq_retention_days - cfg.queues.retention_days) * 86400 / 2)


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
TITLE_STAGE_PERIODS = "Events per 5 minutes by stage (aligned periods)"
TITLE_FAILURES = "Failures by stage and cause (handed back for retry)"
TITLE_QUEUE_AGE = "Stuck? Age of the oldest message per queue (s)"
TITLE_ITERATOR_AGE = "Stuck? Stream consumers behind (ms)"
TITLE_DLQ_DEPTH = "Lost? Dead-letter and parse-failures depth"
TITLE_DLQ_AGE = "Lost? Oldest dead-lettered message (s)"
PERCENTILES = ("p50", "p90", "p99")
TITLE_QUARANTINE_REASONS = "Quarantined per minute by reason"
TITLE_QUARANTINE_RATE = "Quarantine rate (%)"
TITLE_LAG = "Lag per event to the warehouse: from arrival and from event time (ms)"
TITLE_DUPLICATES = "Duplicates skipped and suppressed"
TITLE_SCORE_BANDS = "Scored per minute by risk band and model version"
TITLE_FLAGGED_RATE = "Flagged rate (%)"
TITLE_ALARMS = "Alarms"
# Champion vs shadows (issue 15): one row per configured shadow; ``{shadow}`` is its model_version.
TITLE_SHADOWS = "Champion vs shadows"
TITLE_SHADOW_AGREEMENT = "{shadow}: same band as the champion (%)"
TITLE_SHADOW_FLIPS = "{shadow}: band flips against the champion (per 5 minutes)"
TITLE_SHADOW_HIGH_SHARE = "{shadow}: high-band share (%), champion and shadow on the same events"
TITLE_SHADOW_DISTRIBUTION = "{shadow}: score distribution beside the champion's (events per bucket, time range)"
BAND_ORDER = {band: k for k, band in enumerate(RISK_BANDS)}  # flips "up": the shadow bands the event higher
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
    direct_action: bool = False  # notifies by itself (an escalation), besides through its composite


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
        base = runbook_base_url or cfg.alarms.runbook_base_url
        self._runbook_base_url = base.rstrip("/") if base else None
        self.alarms: dict[str, AlarmInfo] = {}

        self._add_alarms()
        self._add_composites()
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

    def _search(
        self,
        spec: telemetry.MetricSpec,
        statistic: str,
        period: Duration,
        label: str,
        extra: Mapping[str, str] | None = None,
    ) -> cw.MathExpression:
        """SEARCH over a contract metric's full dimension schema, pinned to this environment.

        Used where a dimension's values are open-ended but low-cardinality (model_version): every
        version that scored events in the window shows up, including the previous one during a rollback.
        """
        schema = ",".join((telemetry.NAMESPACE, *spec.dimensions))
        query = f'{{{schema}}} MetricName="{spec.name}" service="{telemetry.SERVICE}" environment="{self._cfg.name}"'
        query += "".join(f' {k}="{v}"' for k, v in (extra or {}).items())
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

    def _firehose_metric(self, name: str, statistic: str, label: str, period: Duration = FIVE_MINUTES) -> cw.Metric:
        return cw.Metric(
            namespace="AWS/Firehose",
            metric_name=name,
            dimensions_map={"DeliveryStreamName": self._res.delivery_stream_name},
            statistic=statistic,
            period=period,
            label=label,
        )

    def _redshift_metric(self, name: str, statistic: str, label: str, period: Duration = FIVE_MINUTES) -> cw.Metric:
        return cw.Metric(
            namespace="AWS/Redshift-Serverless",
            metric_name=name,
            dimensions_map={"Workgroup": self._res.redshift_workgroup_name},
            statistic=statistic,
            period=period,
            label=label,
        )

    def _runbook(self, path: str) -> str:
        """Markdown naming a runbook: a link to the base URL when known, else to the repository path."""
        return f"[{path}]({self._runbook_text(path)})"

    def _runbook_text(self, path: str) -> str:
        """Plain text (alarm descriptions are not rendered): the URL when the base is known, else the path."""
        return f"{self._runbook_base_url}/{path}" if self._runbook_base_url else path

    # ------------------------------------------------------------------ alarms

    def _throttle_alarm(self, key: str, *, metric: cw.IMetric, meaning: str, first_step: str, runbook: str) -> cw.Alarm:
        """Any refused or failed call in ``alarms.failing_minutes`` of ``failing_window_minutes`` (a warning):
        one throttled minute is a retry the services absorb, several in the window are a trend."""
        a = self._cfg.alarms
        return self._alarm(
            key,
            metric=metric,
            threshold=0,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            missing=cw.TreatMissingData.NOT_BREACHING,
            evaluation_periods=a.failing_window_minutes,
            datapoints_to_alarm=a.failing_minutes,
            meaning=meaning,
            first_step=first_step,
            runbook=runbook,
        )

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
        direct_action: bool = False,
    ) -> cw.Alarm:
        """A child alarm: it notifies through the composite of its severity, not by itself.

        ``direct_action``: the alarm also notifies its topic itself (ALARM only), for an escalation
        that must reach someone while the composite is already in ALARM (DLQ age before expiry).
        """
        alarm = cw.Alarm(
            self,
            f"Alarm-{key}",
            alarm_name=f"{self._cfg.prefix}-{key}",
            alarm_description=f"{meaning} First: {first_step} Runbook: {self._runbook_text(runbook)}.",
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm,
            treat_missing_data=missing,
        )
        if direct_action:
            alarm.add_alarm_action(cw_actions.SnsAction(self._topics[severity]))
        self.alarms[key] = AlarmInfo(alarm, runbook, severity, direct_action)
        return alarm

    def _sum(self, metrics: Mapping[str, cw.IMetric], label: str, period: Duration) -> cw.MathExpression:
        """The sum of several metrics, a missing one counted as 0."""
        return cw.MathExpression(
            expression=" + ".join(f"FILL({k}, 0)" for k in metrics),
            using_metrics=dict(metrics),
            label=label,
            period=period,
        )

    def failures(self, stage: str, period: Duration = ONE_MINUTE) -> cw.MathExpression:
        """``ProcessingFailures`` of one stage, all its causes (``telemetry.FAILURE_CAUSES``) summed."""
        causes = telemetry.FAILURE_CAUSES[stage]
        return self._sum(
            {
                f"c{i}": self.product_metric(
                    telemetry.PROCESSING_FAILURES, period=period, extra={"stage": stage, "cause": cause}
                )
                for i, cause in enumerate(causes)
            },
            f"{stage} failures",
            period,
        )

    def _add_alarms(self) -> None:
        self._add_loss_alarms()
        self._add_failure_alarms()
        self._add_lag_alarms()
        self._add_blind_spot_alarms()

    def _add_loss_alarms(self) -> None:
        """Data at risk of expiring: DLQs, and every consumer of the stream against its horizon."""
        a, cfg = self._cfg.alarms, self._cfg
        gt = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
        not_breaching = cw.TreatMissingData.NOT_BREACHING
        dlqs = dict(self._res.dead_letter_queues)
        dlq_age_s = dlq_age_threshold_s(cfg)
        for key in (*(q.dlq_key for q in WORK_QUEUES), PARSE_FAILURES_QUEUE):
            queue = dlqs[key]
            name = key if key.endswith("-dlq") else f"{key}-dlq"
            # IGNORE keeps the alarm in ALARM while a full DLQ goes quiet (SQS stops publishing metrics
            # for queues without activity): it clears only when someone has drained the queue.
            self._alarm(
                f"{name}-not-empty",
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
                f"{name}-age",
                metric=queue.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum"),
                threshold=dlq_age_s,
                comparison=gt,
                missing=cw.TreatMissingData.IGNORE,
                meaning=f"A message has been in the dead-letter queue {key} for more than {dlq_age_s // 3600} h; "
                f"messages expire {cfg.queues.dlq_retention_days} days after they were first sent.",
                first_step="redrive or export the DLQ now (the not-empty alarm has been on since it filled).",
                runbook=RUNBOOK_DLQ,
                severity=CRITICAL,
                direct_action=True,  # the escalation: the composite is already in ALARM and will not re-notify
            )

        if self._res.async_failures is not None:
            # No retention clock of its own to beat: anything here is an invocation that already failed.
            self._alarm(
                "async-failures-not-empty",
                metric=self._res.async_failures.metric_approximate_number_of_messages_visible(
                    period=ONE_MINUTE, statistic="Maximum"
                ),
                threshold=0,
                comparison=gt,
                missing=cw.TreatMissingData.IGNORE,
                meaning="An asynchronous invocation (the daily retention job, a deploy-time handler) failed all "
                "its retries; its event is in the async-failures queue.",
                first_step="read the message (it names the function and the error), fix the cause, and re-run the "
                "function by hand if its work is still needed.",
                runbook=RUNBOOK_DLQ,
                severity=WARNING,
            )

        # Work queues: a stalled consumer pages once (scored-waiting-nothing-loaded, the composite stays on);
        # this escalates, by itself, before the queue's retention deletes what waits there.
        queue_horizon_s = work_queue_age_threshold_s(cfg)
        for spec in WORK_QUEUES:
            self._alarm(
                f"{spec.key}-near-expiry",
                metric=self._res.queues[spec.key].metric_approximate_age_of_oldest_message(
                    period=FIVE_MINUTES, statistic="Maximum"
                ),
                threshold=queue_horizon_s,
                comparison=gt,
                missing=not_breaching,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                meaning=f"A message has waited in the {spec.key} queue for more than {queue_horizon_s // 3600} h; "
                f"the queue deletes messages after {cfg.queues.retention_days} days (queues.retention_days).",
                first_step=f"bring the {spec.consumer} stage back now (its runbook); what expires is still in the raw "
                "archive: replay that time range afterwards (stuck-iterator.md).",
                runbook=STAGE_RUNBOOK[spec.consumer],
                severity=CRITICAL,
                direct_action=True,  # the escalation: the composite is already in ALARM since the stall
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
            f"{a.iterator_age_ms} ms behind: slow, not yet at risk (see parse-iterator-near-expiry and "
            "firehose-behind for the horizons).",
            first_step="check the parse function's errors and throttles and the Firehose section of Stage health.",
            runbook=RUNBOOK_STUCK_ITERATOR,
        )
        parse_horizon_ms = parse_iterator_threshold_ms(cfg)
        self._alarm(
            "parse-iterator-near-expiry",
            metric=self._res.functions["parse"].metric(
                "IteratorAge", period=ONE_MINUTE, statistic="Maximum", label="parse IteratorAge"
            ),
            threshold=parse_horizon_ms,
            comparison=gt,
            missing=not_breaching,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            meaning=f"The parse mapping is {parse_horizon_ms // 60000} min behind; it skips records older than "
            f"{cfg.kinesis_source.max_record_age_s} s (MaximumRecordAgeInSeconds) to the parse-failures queue.",
            first_step="find why parse fails or is slow (its failures by cause, errors, throttles, duration).",
            runbook=RUNBOOK_STUCK_ITERATOR,
            severity=CRITICAL,
        )
        firehose_horizon_ms = firehose_behind_threshold_ms(cfg)
        self._alarm(
            "firehose-behind",
            metric=self._firehose_metric("KinesisMillisBehindLatest", "Maximum", "Firehose behind (ms)", ONE_MINUTE),
            threshold=firehose_horizon_ms,
            comparison=gt,
            missing=not_breaching,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            meaning=f"Firehose reads the stream {firehose_horizon_ms // 3_600_000} h behind; records leave the "
            f"stream after {cfg.kinesis.retention_hours} h and would then be missing from the raw archive.",
            first_step="read the delivery stream's error logs, DeliveryToS3.Success and the archive bucket's KMS key.",
            runbook=RUNBOOK_STUCK_ITERATOR,
            severity=CRITICAL,
        )
        self._alarm(
            "firehose-delivery-failing",
            metric=self._firehose_metric("DeliveryToS3.Success", "Minimum", "Delivery success", FIVE_MINUTES),
            threshold=1,
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=not_breaching,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            meaning="Firehose failed deliveries to S3 in two of the last three 5-minute periods (it retries; "
            "records it cannot deliver go to raw-errors/).",
            first_step="read the delivery stream's error logs; compare records read with records delivered.",
            runbook=RUNBOOK_STUCK_ITERATOR,
        )
        # Read but not delivered. Over a period of many buffer intervals Firehose delivers about what it read
        # (only the buffers straddling the period's edges differ: 2 of FIREHOSE_COMPARE_BUFFERS), so less than
        # FIREHOSE_DELIVERED_MIN_PCT in two periods running is records held back or sent to raw-errors/, not
        # buffering. Idle periods (nothing read) count as 100%: no traffic is the silent producer's business.
        compare = firehose_compare_period()
        self._alarm(
            "firehose-read-not-delivered",
            metric=self.firehose_delivered_pct(),
            threshold=FIREHOSE_DELIVERED_MIN_PCT,
            comparison=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            missing=not_breaching,
            evaluation_periods=2,
            datapoints_to_alarm=2,
            meaning=f"Firehose read records from the stream but delivered less than {FIREHOSE_DELIVERED_MIN_PCT}% "
            f"of them to S3 in two {int(compare.to_minutes())}-minute periods running: the raw archive is "
            "missing what parse already processed.",
            first_step="read the delivery stream's error logs and the raw-errors/ prefix; check the archive "
            "key's policy and the delivery role.",
            runbook=RUNBOOK_STUCK_ITERATOR,
        )
        # Firehose retries a failing S3 delivery for FIREHOSE_S3_RETRY_HOURS, then drops the records: the oldest
        # undelivered record's age (DataFreshness) is a data-loss horizon like the iterator ages above.
        undelivered_s = firehose_undelivered_threshold_s()
        self._alarm(
            "firehose-undelivered-near-expiry",
            metric=self._firehose_metric("DeliveryToS3.DataFreshness", "Maximum", "Data freshness (s)"),
            threshold=undelivered_s,
            comparison=gt,
            missing=not_breaching,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            meaning=f"A record has waited in Firehose for more than {undelivered_s // 3600} h; Firehose gives up "
            f"on S3 delivery after {FIREHOSE_S3_RETRY_HOURS} h and the raw archive would then miss it.",
            first_step="fix the S3 delivery (error logs, bucket policy, archive key, delivery role) now; after "
            "the horizon, replay the missing range onto the stream from the producers or the warehouse.",
            runbook=RUNBOOK_STUCK_ITERATOR,
            severity=CRITICAL,
        )

    def _add_failure_alarms(self) -> None:
        """Failures the handlers hand back (partial batch responses): Lambda's Errors does not see them."""
        a = self._cfg.alarms
        gt = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
        for stage in STAGES:
            causes = ", ".join(telemetry.FAILURE_CAUSES[stage])
            self._alarm(
                f"{stage}-failing",
                metric=self.failures(stage),
                threshold=0,
                comparison=gt,
                missing=cw.TreatMissingData.NOT_BREACHING,
                evaluation_periods=a.failing_window_minutes,
                datapoints_to_alarm=a.failing_minutes,
                meaning=f"The {stage} stage handed work back for retry in {a.failing_minutes} of the last "
                f"{a.failing_window_minutes} minutes ({causes}): not one retried conflict but a dependency "
                "that keeps failing; the work reaches a dead-letter queue after its retries.",
                first_step=f"'Failures by stage and cause' on the overview says which dependency; then the {stage} "
                "function's error logs.",
                runbook=STAGE_RUNBOOK[stage],
                severity=CRITICAL,
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
                missing=cw.TreatMissingData.NOT_BREACHING,
                meaning=f"More than {a.function_error_rate_pct}% of the {stage} function's invocations crashed or "
                "timed out in 5 minutes (handled failures are the failing alarm's).",
                first_step=f"read the {stage} function's error logs (Logs Insights on its log group).",
                runbook=STAGE_RUNBOOK[stage],
            )

        if self._cfg.scoring.sagemaker_endpoint:
            self._alarm(
                "scorer-fallback",
                metric=self.product_metric(telemetry.SCORER_FALLBACKS, period=FIVE_MINUTES),
                threshold=0,
                comparison=gt,
                missing=cw.TreatMissingData.NOT_BREACHING,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                meaning="Events were scored by the bundled fallback model in 2 of 3 five-minute periods: the "
                f"SageMaker endpoint {self._cfg.scoring.sagemaker_endpoint} fails, times out or answers badly.",
                first_step="read the score logs ('SageMaker endpoint ... failed') and the endpoint's "
                "Invocation4XXErrors / ModelLatency metrics.",
                runbook=RUNBOOK_MODEL_ROLLBACK,
            )

        if self._cfg.scoring.shadows or self._cfg.scoring.shadow_endpoint:
            self._alarm(
                "shadow-failures",
                metric=self.product_metric(telemetry.SHADOW_FAILURES, period=FIVE_MINUTES),
                threshold=0,
                comparison=gt,
                missing=cw.TreatMissingData.NOT_BREACHING,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                meaning="A shadow model failed to score its batches in 2 of 3 five-minute periods: the champion "
                "still scores and decides, but the comparison has a gap (for a SageMaker shadow, the endpoint "
                "fails or times out).",
                first_step="read the score logs ('shadow ... failed') for the shadow's name and error.",
                runbook=RUNBOOK_MODEL_ROLLBACK,
                severity=WARNING,
            )

        self._add_high_band_rate_alarm()

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
            missing=cw.TreatMissingData.NOT_BREACHING,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            meaning=f"More than {a.quarantine_rate_pct}% of the records read from Kinesis are quarantined: a "
            "producer is sending malformed or unsupported events.",
            first_step="look at 'Quarantined per minute by reason' on the overview and the objects in "
            "the archive's quarantine/ prefix, then contact the producer.",
            runbook=RUNBOOK_STUCK_ITERATOR,
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

    def firehose_delivered_pct(self) -> cw.MathExpression:
        """Records delivered to S3 per 100 read from Kinesis over a comparison period; 100 when none were read."""
        compare = firehose_compare_period()
        return cw.MathExpression(
            expression="IF(FILL(read, 0) > 0, 100 * FILL(delivered, 0) / read, 100)",
            using_metrics={
                "read": self._firehose_metric("DataReadFromKinesisStream.Records", "Sum", "read", compare),
                "delivered": self._firehose_metric("DeliveryToS3.Records", "Sum", "delivered", compare),
            },
            label="records delivered to S3 / records read from Kinesis (%)",
            period=compare,
        )

    def waiting(self, key: str) -> cw.Metric:
        """Messages visible (not yet received) in a work queue, per minute."""
        return self._res.queues[key].metric_approximate_number_of_messages_visible(
            period=ONE_MINUTE, statistic="Maximum", label=f"waiting in {key}"
        )

    def champion_versions(self) -> tuple[str, ...]:
        """The ``model_version`` values the champion writes, known at synth for the bundled scorers only
        (a SageMaker endpoint names its variant at run time)."""
        scoring = self._cfg.scoring
        if scoring.scorer == "rules":
            return (RulesScorer.model_version,)
        if scoring.scorer in ("logistic", "xgboost"):
            return (load_model_file(scoring.model_file, Thresholds()).model_version,)
        return ()

    def shadow_versions(self) -> tuple[str, ...]:
        """The ``model_version`` of each configured shadow, known at synth: the bundled models', and the
        provisioned SageMaker endpoint's (stacks/sagemaker.py serves one variant, ``AllTraffic``)."""
        bundled = tuple(load_model_file(sh.model_file, Thresholds()).model_version for sh in self._cfg.scoring.shadows)
        endpoint = self._cfg.scoring.shadow_endpoint
        return bundled + ((f"sagemaker:{endpoint}:{SAGEMAKER_VARIANT}",) if endpoint else ())

    def _add_high_band_rate_alarm(self) -> None:
        """Warn when the champion's high-band share of scored events leaves ``alarms.high_band_rate``
        in HIGH_BAND_HOURS of HIGH_BAND_WINDOW_HOURS hours: a model, feature or traffic change, not noise."""
        band = self._cfg.alarms.high_band_rate
        versions = self.champion_versions()
        if band is None or not versions:
            return
        highs = {
            f"h{i}": self.product_metric(
                telemetry.SCORED_BY_BAND, period=ONE_HOUR, extra={"risk_band": "high", "model_version": v}
            )
            for i, v in enumerate(versions)
        }
        high = " + ".join(f"FILL({k}, 0)" for k in highs)
        rate = f"100 * ({high}) / scored"
        self._alarm(
            "high-band-rate",
            metric=cw.MathExpression(
                # 1 in an hour with enough events whose rate is out of band, else 0 (never missing).
                expression=f"IF(FILL(scored, 0) >= {band.min_events}, "
                f"IF({rate} < {band.min_pct}, 1, IF({rate} > {band.max_pct}, 1, 0)), 0)",
                using_metrics={**highs, "scored": self.product_metric(telemetry.EVENTS_SCORED, period=ONE_HOUR)},
                label="High band rate out of its band (1) or not (0)",
                period=ONE_HOUR,
            ),
            threshold=0,
            comparison=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            missing=cw.TreatMissingData.NOT_BREACHING,
            evaluation_periods=HIGH_BAND_WINDOW_HOURS,
            datapoints_to_alarm=HIGH_BAND_HOURS,
            meaning=f"The champion ({', '.join(versions)}) put under {band.min_pct}% or over {band.max_pct}% of "
            f"scored events in the high band in {HIGH_BAND_HOURS} of {HIGH_BAND_WINDOW_HOURS} hours with at "
            f"least {band.min_events} events: the model, a feature or the traffic changed.",
            first_step="compare 'Flagged rate' and 'Scored per minute by risk band' with last week, then "
            "v_feature_drift_daily for the feature that moved.",
            runbook=RUNBOOK_MODEL_ROLLBACK,
        )

    def _add_lag_alarms(self) -> None:
        """Lag that cannot go quiet: no load while messages wait counts against the pipeline."""
        a = self._cfg.alarms
        gt = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
        threshold_ms = a.end_to_end_lag_s * 1000
        for spec in WORK_QUEUES:
            # Stuck, not merely old: the oldest message is past the threshold AND the consumer deleted no
            # message in that minute. One poison message also ages the queue, but while the rest flows
            # (deletes > 0) it is only retried, one visibility timeout apart, until maxReceiveCount moves
            # it to the DLQ, whose alarms own it; in the FIFO parsed queue it holds back only its group.
            # Deletes are whole messages, so "near zero" is zero: a consumer that deletes anything in a
            # minute is moving. A consumer that is merely slow is load-lag's (arrival-to-load p90).
            queue = self._res.queues[spec.key]
            self._alarm(
                f"{spec.key}-oldest-message",
                metric=cw.MathExpression(
                    expression="IF(FILL(deleted, 0) > 0, 0, age)",
                    using_metrics={
                        "age": queue.metric_approximate_age_of_oldest_message(period=ONE_MINUTE, statistic="Maximum"),
                        "deleted": queue.metric_number_of_messages_deleted(period=ONE_MINUTE, statistic="Sum"),
                    },
                    label=f"age of the oldest message in {spec.key} (s) in minutes when none was deleted",
                    period=ONE_MINUTE,
                ),
                threshold=a.queue_oldest_message_s,
                comparison=gt,
                missing=cw.TreatMissingData.NOT_BREACHING,
                evaluation_periods=3,
                datapoints_to_alarm=3,
                meaning=f"The oldest message in the {spec.key} queue is older than {a.queue_oldest_message_s} s "
                f"and the {spec.consumer} function deleted no message for 3 minutes: the queue is stuck (mapping "
                "disabled, every batch failing, no concurrency). One poison message while the rest flows does "
                "not fire it (the DLQ alarms do).",
                first_step=f"check the {spec.consumer} mapping is enabled, then its failures by cause, throttles "
                "and concurrency.",
                runbook=STAGE_RUNBOOK[spec.consumer],
            )
        # While messages wait in "scored", a minute without any load counts as a breaching lag: a stalled
        # loader cannot read OK because it stopped emitting.
        self._alarm(
            "load-lag",
            metric=cw.MathExpression(
                expression=f"IF(FILL(waiting, 0) > 0, FILL(lag, {threshold_ms + 1}), FILL(lag, 0))",
                using_metrics={
                    "waiting": self.waiting("scored"),
                    "lag": self.product_metric(telemetry.ARRIVAL_TO_LOAD_LAG),
                },
                label="arrival-to-load lag p90 (ms), breaching when nothing loads while messages wait",
                period=ONE_MINUTE,
            ),
            threshold=threshold_ms,
            comparison=gt,
            missing=cw.TreatMissingData.NOT_BREACHING,
            evaluation_periods=5,
            datapoints_to_alarm=3,
            meaning=f"90% of the events loaded in a minute took more than {a.end_to_end_lag_s} s from arrival on "
            "the stream, or nothing was loaded while messages waited in the scored queue (3 of 5 minutes).",
            first_step="find the first stage that lags on the overview ('Where it is stuck'), then its failures.",
            runbook=RUNBOOK_WAREHOUSE,
        )
        self._alarm(
            "scored-waiting-nothing-loaded",
            metric=cw.MathExpression(
                expression="IF(FILL(waiting, 0) > 0, IF(FILL(loaded, 0) > 0, 0, 1), 0)",
                using_metrics={
                    "waiting": self.waiting("scored"),
                    "loaded": self.product_metric(telemetry.EVENTS_LOADED),
                },
                label="1 when messages wait in scored and nothing was loaded",
                period=ONE_MINUTE,
            ),
            threshold=0,
            comparison=gt,
            missing=cw.TreatMissingData.NOT_BREACHING,
            evaluation_periods=a.failing_window_minutes,
            datapoints_to_alarm=a.failing_minutes,
            meaning="Messages wait in the scored queue and nothing was loaded into the warehouse in "
            f"{a.failing_minutes} of the last {a.failing_window_minutes} minutes: the load is stalled.",
            first_step="check the load mapping is enabled, the load function's failures by cause and the workgroup.",
            runbook=RUNBOOK_WAREHOUSE,
            severity=CRITICAL,
        )

    def _add_blind_spot_alarms(self) -> None:
        """Dependencies whose trouble the stage metrics would only show late or ambiguously."""
        a, cfg, res = self._cfg.alarms, self._cfg, self._res
        gt = cw.ComparisonOperator.GREATER_THAN_THRESHOLD
        gte = cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
        not_breaching = cw.TreatMissingData.NOT_BREACHING
        for stage in STAGES:
            fn = res.functions[stage]
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
            timeout_ms = cfg.function(stage).timeout_s * 1000
            self._alarm(
                f"{stage}-near-timeout",
                metric=fn.metric_duration(period=ONE_MINUTE, statistic="Maximum"),
                threshold=int(timeout_ms * NEAR_TIMEOUT),
                comparison=gt,
                missing=not_breaching,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                meaning=f"The {stage} function ran longer than {int(NEAR_TIMEOUT * 100)}% of its "
                f"{cfg.function(stage).timeout_s} s timeout in 3 of 5 minutes: next come timeouts and retried batches.",
                first_step="see what grew: batch size, the dependency's latency (warehouse, DynamoDB), the table size.",
                runbook=STAGE_RUNBOOK[stage],
            )
            ceiling = cfg.function(stage).max_concurrency
            if ceiling is not None:
                self._alarm(
                    f"{stage}-at-max-concurrency",
                    metric=fn.metric("ConcurrentExecutions", period=ONE_MINUTE, statistic="Maximum"),
                    threshold=ceiling,
                    comparison=gte,
                    missing=not_breaching,
                    evaluation_periods=15,
                    datapoints_to_alarm=15,
                    meaning=f"The {stage} function has run at its mapping's maximum concurrency ({ceiling}) for "
                    "15 minutes: it cannot go faster, so its queue grows.",
                    first_step="compare the queue's age with the flow; raise max_concurrency in cdk.json if it lags.",
                    runbook=STAGE_RUNBOOK[stage],
                )

        table = res.state_table
        self._throttle_alarm(
            "state-throttles",
            metric=self._sum(
                {
                    "r": cw.Metric(
                        namespace="AWS/DynamoDB",
                        metric_name="ReadThrottleEvents",
                        dimensions_map={"TableName": table.table_name},
                        statistic="Sum",
                        period=ONE_MINUTE,
                    ),
                    "w": cw.Metric(
                        namespace="AWS/DynamoDB",
                        metric_name="WriteThrottleEvents",
                        dimensions_map={"TableName": table.table_name},
                        statistic="Sum",
                        period=ONE_MINUTE,
                    ),
                },
                "state table throttle events",
                ONE_MINUTE,
            ),
            meaning="The feature-state table throttled reads or writes in "
            f"{a.failing_minutes} of {a.failing_window_minutes} minutes (on demand: a hot user or a sudden burst).",
            first_step="check score-failing (state_store) and the table's consumed capacity by operation.",
            runbook=RUNBOOK_MODEL_ROLLBACK,
        )
        # FILL each operation: a plain sum (what metric_system_errors_for_operations builds) has no datapoint
        # in a minute when any one operation published none, so it could never breach. BatchGetItem and
        # PutItem are the calls the score function's state store makes.
        self._throttle_alarm(
            "state-system-errors",
            metric=self._sum(
                {
                    op.lower(): cw.Metric(
                        namespace="AWS/DynamoDB",
                        metric_name="SystemErrors",
                        dimensions_map={"TableName": table.table_name, "Operation": op},
                        statistic="Sum",
                        period=ONE_MINUTE,
                    )
                    for op in STATE_STORE_OPERATIONS
                },
                "state table system errors",
                ONE_MINUTE,
            ),
            meaning="DynamoDB returned internal errors (HTTP 500) for the feature-state table in "
            f"{a.failing_minutes} of {a.failing_window_minutes} minutes.",
            first_step="check the AWS Health dashboard for DynamoDB in this region; score retries the batches.",
            runbook=RUNBOOK_MODEL_ROLLBACK,
        )

        stream = res.stream
        self._throttle_alarm(
            "kinesis-write-throttled",
            metric=self._sum(
                {
                    "exceeded": stream.metric_put_records_throttled_records(period=ONE_MINUTE, statistic="Sum"),
                    "failed": stream.metric_put_records_failed_records(period=ONE_MINUTE, statistic="Sum"),
                },
                "records refused to producers",
                ONE_MINUTE,
            ),
            meaning="The stream refused producers' records (throughput exceeded or failed PutRecords entries) in "
            f"{a.failing_minutes} of {a.failing_window_minutes} minutes: they must retry or lose them.",
            first_step="compare IncomingBytes with the shards' capacity; add shards or fix a hot partition key.",
            runbook=RUNBOOK_STUCK_ITERATOR,
        )
        self._throttle_alarm(
            "kinesis-read-throttled",
            metric=stream.metric_read_provisioned_throughput_exceeded(period=ONE_MINUTE, statistic="Sum"),
            meaning="Reads from the stream were throttled (parse and Firehose share 2 MB/s per shard) in "
            f"{a.failing_minutes} of {a.failing_window_minutes} minutes: the consumers fall behind.",
            first_step="check the iterator ages; lower the parse mapping's parallelisation or add shards.",
            runbook=RUNBOOK_STUCK_ITERATOR,
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

        budget = cfg.redshift.rpu_hours_per_day
        warn_at = int(budget * BUDGET_WARNING_SHARE)
        self._alarm(
            "redshift-rpu-hours",
            metric=self._redshift_metric("ComputeSeconds", "Sum", "RPU-seconds per day", Duration.days(1)),
            threshold=warn_at * 3600,
            comparison=gt,
            missing=not_breaching,
            meaning=f"The workgroup used more than {warn_at} RPU-hours in the last 24 h, "
            f"{int(BUDGET_WARNING_SHARE * 100)}% of its daily usage limit ({budget}, "
            f"breach action {cfg.redshift.usage_limit_breach_action}): the warehouse costs more than planned.",
            first_step="look at Query duration on Stage health and the load's batch size; long loads keep RPUs up.",
            runbook=RUNBOOK_WAREHOUSE,
        )

    def _add_composites(self) -> None:
        """Two pagers: critical children page once per incident; warnings are suppressed while critical is on."""
        critical = [i.alarm for i in self.alarms.values() if i.severity == CRITICAL]
        warning = [i.alarm for i in self.alarms.values() if i.severity == WARNING]
        self.pipeline_critical = cw.CompositeAlarm(
            self,
            "PipelineCritical",
            composite_alarm_name=f"{self._cfg.prefix}-pipeline-critical",
            alarm_description="Data is at risk in the risk-scoring pipeline: at least one critical alarm is on. "
            "First: open the Pipeline overview's alarm panel and follow that alarm's runbook "
            f"({', '.join(self._runbook_text(r) for r in RUNBOOKS)}).",
            alarm_rule=cw.AlarmRule.any_of(*(cw.AlarmRule.from_alarm(x, cw.AlarmState.ALARM) for x in critical)),
        )
        page = cw_actions.SnsAction(self._topics[CRITICAL])
        self.pipeline_critical.add_alarm_action(page)
        self.pipeline_critical.add_ok_action(page)
        self.pipeline_unhealthy = cw.CompositeAlarm(
            self,
            "PipelineUnhealthy",
            composite_alarm_name=f"{self._cfg.prefix}-pipeline-unhealthy",
            alarm_description="The risk-scoring pipeline is degraded: at least one warning alarm is on (silenced "
            "while pipeline-critical is on). First: open the Pipeline overview's alarm panel and follow that "
            f"alarm's runbook ({', '.join(self._runbook_text(r) for r in RUNBOOKS)}).",
            alarm_rule=cw.AlarmRule.any_of(*(cw.AlarmRule.from_alarm(x, cw.AlarmState.ALARM) for x in warning)),
            actions_suppressor=self.pipeline_critical,
            actions_suppressor_wait_period=Duration.minutes(2),
            actions_suppressor_extension_period=Duration.minutes(10),
        )
        notify = cw_actions.SnsAction(self._topics[WARNING])
        self.pipeline_unhealthy.add_alarm_action(notify)
        self.pipeline_unhealthy.add_ok_action(notify)

    # ------------------------------------------------------------------ dashboards

    def _alarm_status(self) -> cw.AlarmStatusWidget:
        return cw.AlarmStatusWidget(
            title=TITLE_ALARMS,
            alarms=[self.pipeline_critical, self.pipeline_unhealthy, *(info.alarm for info in self.alarms.values())],
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
                    "Does it flow (events by stage), where is it stuck (queue and iterator age), is anything lost "
                    "(dead-letter depth and age, failures, quarantine)? "
                    f"Runbooks: {', '.join(self._runbook(r) for r in RUNBOOKS)}. "
                    f"Per-service detail: [{self._cfg.prefix}-stage-health]({self._stage_health_url()})."
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
        # Five-minute bars aligned on the clock: stages compare over the same complete periods (only the
        # rightmost bar is still filling), where a "last minute" single value compared partial minutes.
        dashboard.add_widgets(
            cw.GraphWidget(
                title=TITLE_STAGE_PERIODS,
                left=[
                    self._res.stream.metric_incoming_records(
                        period=FIVE_MINUTES, statistic="Sum", label="Into Kinesis"
                    ),
                    *(
                        m(spec, period=FIVE_MINUTES, label=label)
                        for spec, label in (
                            (telemetry.RECORDS_RECEIVED, "Read by parse"),
                            (telemetry.EVENTS_PARSED, "Parsed"),
                            (telemetry.EVENTS_QUARANTINED, "Quarantined"),
                            (telemetry.EVENTS_SCORED, "Scored"),
                            (telemetry.EVENTS_LOADED, "Loaded"),
                        )
                    ),
                ],
                view=cw.GraphWidgetView.BAR,
                period=FIVE_MINUTES,
                width=24,
                height=6,
            ),
        )
        dashboard.add_widgets(*self._stuck_and_lost_widgets())

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
                    *(m(telemetry.ARRIVAL_TO_LOAD_LAG, statistic=p, label=f"from arrival {p}") for p in PERCENTILES),
                    *(
                        m(telemetry.EVENT_TIME_TO_LOAD_LAG, statistic=p, label=f"from event time {p}")
                        for p in PERCENTILES
                    ),
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
                right=[
                    m(telemetry.SCORER_FALLBACKS, label="scored by the fallback model (SageMaker failed)"),
                    m(telemetry.SHADOW_FAILURES, label="events a shadow failed to score"),
                ],
                left_y_axis=cw.YAxisProps(min=0, max=100),
                width=12,
                height=7,
            ),
        )
        self._add_shadow_section(dashboard)
        return dashboard

    # ------------------------------------------------------------------ champion vs shadows

    def band_pairs(self, shadow: str, period: Duration = FIVE_MINUTES) -> dict[str, cw.Metric]:
        """``ShadowBands`` of one shadow, by id ``<champion band initial><shadow band initial>`` (``lh``: the
        champion said low, the shadow high): the 3x3 matrix every comparison below is computed from."""
        return {
            f"{c[0]}{s[0]}": self.product_metric(
                telemetry.SHADOW_BANDS,
                period=period,
                label=f"{c} -> {s}",
                extra={"model_version": shadow, "champion_band": c, "shadow_band": s},
            )
            for c in RISK_BANDS
            for s in RISK_BANDS
        }

    def _share_pct(self, pairs: Mapping[str, cw.IMetric], part: Sequence[str], label: str) -> cw.MathExpression:
        """100 * (the ``part`` pairs) / (all nine pairs): a share of the events this shadow was compared on;
        no point in periods without any (IF without an else), so an idle period is not a 0 % agreement."""
        total = " + ".join(f"FILL({k}, 0)" for k in pairs)
        share = " + ".join(f"FILL({k}, 0)" for k in part)
        return cw.MathExpression(
            expression=f"IF(({total}) > 0, 100 * ({share}) / ({total}))",
            using_metrics=dict(pairs),
            label=label,
            period=FIVE_MINUTES,
        )

    def _champion_label(self) -> str:
        versions = self.champion_versions()
        if versions:
            return ", ".join(versions)
        return f"SageMaker endpoint {self._cfg.scoring.sagemaker_endpoint} (version known at run time)"

    def _add_shadow_section(self, dashboard: cw.Dashboard) -> None:
        """Per shadow: agreement, band flips by direction, high-band share side by side, score distribution."""
        shadows = self.shadow_versions()
        champion = self._champion_label()
        dashboard.add_widgets(
            cw.TextWidget(
                markdown=(
                    f"## {TITLE_SHADOWS}\n"
                    f"Champion **{champion}**; shadows (`scoring.shadows`): "
                    f"**{', '.join(shadows) or 'none configured'}**. A shadow scores the same events and decides "
                    "nothing; compared = the events it scored beside the champion (a batch whose shadow failed is "
                    "not compared). Flips *up*: the shadow bands the event higher than the champion. Before "
                    "promoting a shadow, read this section and `v_shadow_comparison_daily` in the warehouse "
                    f"({self._runbook(RUNBOOK_MODEL_ROLLBACK)})."
                ),
                width=24,
                height=2,
            )
        )
        for shadow in shadows:
            pairs = self.band_pairs(shadow)
            same = [f"{b[0]}{b[0]}" for b in RISK_BANDS]
            flips = [(c, s) for c in RISK_BANDS for s in RISK_BANDS if c != s]
            compared = cw.MathExpression(
                expression=" + ".join(f"FILL({k}, 0)" for k in pairs),
                using_metrics=dict(pairs),
                label="events compared (per 5 minutes)",
                period=FIVE_MINUTES,
            )
            dashboard.add_widgets(
                cw.GraphWidget(
                    title=TITLE_SHADOW_AGREEMENT.format(shadow=shadow),
                    left=[self._share_pct(pairs, same, f"same band as {champion} (%)")],
                    right=[compared],
                    left_y_axis=cw.YAxisProps(min=0, max=100, label="%", show_units=False),
                    right_y_axis=cw.YAxisProps(min=0, label="events", show_units=False),
                    width=6,
                    height=6,
                ),
                cw.GraphWidget(
                    title=TITLE_SHADOW_FLIPS.format(shadow=shadow),
                    left=[
                        pairs[f"{c[0]}{s[0]}"].with_(
                            label=f"{'up' if BAND_ORDER[s] > BAND_ORDER[c] else 'down'}: {c} -> {s}"
                        )
                        for c, s in flips
                    ],
                    stacked=True,
                    left_y_axis=cw.YAxisProps(min=0, label="events", show_units=False),
                    width=6,
                    height=6,
                ),
                cw.GraphWidget(
                    title=TITLE_SHADOW_HIGH_SHARE.format(shadow=shadow),
                    left=[
                        self._share_pct(pairs, [f"h{b[0]}" for b in RISK_BANDS], f"{champion} (champion)"),
                        self._share_pct(pairs, [f"{b[0]}h" for b in RISK_BANDS], f"{shadow} (shadow)"),
                    ],
                    left_y_axis=cw.YAxisProps(min=0, label="%", show_units=False),
                    width=6,
                    height=6,
                ),
                cw.GraphWidget(
                    title=TITLE_SHADOW_DISTRIBUTION.format(shadow=shadow),
                    left=self._distribution(shadow),
                    view=cw.GraphWidgetView.BAR,
                    set_period_to_time_range=True,
                    width=6,
                    height=6,
                ),
            )

    def _distribution(self, shadow: str) -> list[cw.IMetric]:
        """``ScoresByBucket`` of the champion and of one shadow, bucket by bucket side by side. A champion
        whose version is known only at run time (SageMaker) is found by SEARCH on ``role="champion"``."""
        spec = telemetry.SCORES_BY_BUCKET
        out: list[cw.IMetric] = []
        champions = self.champion_versions()
        for bucket in telemetry.SCORE_BUCKETS:
            for version, who, color in (
                *((v, telemetry.ROLE_CHAMPION, cw.Color.BLUE) for v in champions),
                (shadow, telemetry.ROLE_SHADOW, cw.Color.ORANGE),
            ):
                out.append(
                    self.product_metric(
                        spec,
                        period=FIVE_MINUTES,
                        label=f"{bucket} {version} ({who})",
                        extra={"model_version": version, "role": who, "score_bucket": bucket},
                    ).with_(color=color)
                )
        if not champions:
            out.append(self._search(spec, "Sum", FIVE_MINUTES, "", extra={"role": telemetry.ROLE_CHAMPION}))
        return out

    def _stage_health_url(self) -> str:
        region = self._cfg.region
        return f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#dashboards:name={self._cfg.prefix}-stage-health"

    def _stuck_and_lost_widgets(self) -> list[cw.IWidget]:
        """Where events are stuck (queues, stream consumers) and whether any are being lost (DLQs, failures)."""
        res, cfg = self._res, self._cfg
        dlqs = [(key, res.dead_letter_queues[key]) for key in (*(q.dlq_key for q in WORK_QUEUES), PARSE_FAILURES_QUEUE)]
        failures = [
            self.product_metric(
                telemetry.PROCESSING_FAILURES, label=f"{stage}: {cause}", extra={"stage": stage, "cause": cause}
            )
            for stage, causes in telemetry.FAILURE_CAUSES.items()
            for cause in causes
        ]
        return [
            cw.GraphWidget(
                title=TITLE_QUEUE_AGE,
                left=[
                    res.queues[q.key].metric_approximate_age_of_oldest_message(
                        period=ONE_MINUTE, statistic="Maximum", label=q.key
                    )
                    for q in WORK_QUEUES
                ],
                left_annotations=[cw.HorizontalAnnotation(value=cfg.alarms.queue_oldest_message_s, label="alarm")],
                left_y_axis=cw.YAxisProps(min=0, show_units=False),
                width=12,
                height=6,
            ),
            cw.GraphWidget(
                title=TITLE_ITERATOR_AGE,
                left=[
                    res.stream.metric_get_records_iterator_age_milliseconds(
                        period=ONE_MINUTE, statistic="Maximum", label="stream (slowest consumer)"
                    ),
                    res.functions["parse"].metric("IteratorAge", period=ONE_MINUTE, statistic="Maximum", label="parse"),
                    self._firehose_metric("KinesisMillisBehindLatest", "Maximum", "Firehose", ONE_MINUTE),
                ],
                left_annotations=[
                    cw.HorizontalAnnotation(value=parse_iterator_threshold_ms(cfg), label="parse horizon alarm")
                ],
                left_y_axis=cw.YAxisProps(min=0, show_units=False),
                width=12,
                height=6,
            ),
            cw.GraphWidget(
                title=TITLE_DLQ_DEPTH,
                left=[
                    q.metric_approximate_number_of_messages_visible(period=ONE_MINUTE, statistic="Maximum", label=key)
                    for key, q in dlqs
                ],
                left_y_axis=cw.YAxisProps(min=0, show_units=False),
                width=8,
                height=6,
            ),
            cw.GraphWidget(
                title=TITLE_DLQ_AGE,
                left=[
                    q.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum", label=key)
                    for key, q in dlqs
                ],
                left_annotations=[cw.HorizontalAnnotation(value=dlq_age_threshold_s(cfg), label="age alarm")],
                left_y_axis=cw.YAxisProps(min=0, show_units=False),
                width=8,
                height=6,
            ),
            cw.GraphWidget(
                title=TITLE_FAILURES,
                left=failures,
                stacked=True,
                left_y_axis=cw.YAxisProps(min=0),
                width=8,
                height=6,
            ),
        ]

    def _dead_letter_groups(self, dlq: sqs.IQueue) -> list[cmc.CustomMetricGroup]:
        """A DLQ's depth, what moved into it, and its oldest message.

        Not ``NumberOfMessagesSent`` (the library's "incoming"): SQS moves a message to the DLQ of its own
        redrive policy after maxReceiveCount failed receives, and that move is no SendMessage, so the
        metric stays 0 while the DLQ fills. The depth counts them; its rise per minute is what came in
        (a redrive or an expiry shows as a fall, clipped here: the depth line shows it).
        """
        visible = dlq.metric_approximate_number_of_messages_visible(
            period=ONE_MINUTE, statistic="Maximum", label="visible"
        )
        return [
            cmc.CustomMetricGroup(
                title="Dead letters: depth and moved in per minute",
                metrics=[
                    visible,
                    cw.MathExpression(
                        expression="IF(DIFF(visible) > 0, DIFF(visible), 0)",
                        using_metrics={"visible": visible},
                        label="moved in (rise of the depth)",
                        period=ONE_MINUTE,
                    ),
                ],
            ),
            cmc.CustomMetricGroup(
                title="Dead letters: oldest message (s)",
                metrics=[dlq.metric_approximate_age_of_oldest_message(period=FIVE_MINUTES, statistic="Maximum")],
                horizontal_annotations=[
                    cw.HorizontalAnnotation(value=dlq_age_threshold_s(self._cfg), label="age alarm")
                ],
            ),
        ]

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
            facade.monitor_sqs_queue(
                queue=res.queues[spec.key],
                human_readable_name=f"{spec.key} queue ({spec.producer} -> {spec.consumer})",
                alarm_friendly_name=f"{prefix}-{spec.key}",
            )
            facade.monitor_custom(
                human_readable_name=f"{spec.dlq_key} (dead letters of {spec.key})",
                alarm_friendly_name=f"{prefix}-{spec.dlq_key}",
                metric_groups=self._dead_letter_groups(res.dead_letter_queues[spec.dlq_key]),
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
                cmc.CustomMetricGroup(
                    title="Delivered / read (%), as firehose-read-not-delivered reads it",
                    metrics=[self.firehose_delivered_pct()],
                    horizontal_annotations=[
                        cw.HorizontalAnnotation(value=FIREHOSE_DELIVERED_MIN_PCT, label="alarm threshold")
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
                        self.failures("load", FIVE_MINUTES),
                    ],
                ),
            ],
        )

        dashboard = factory.dashboard
        assert dashboard is not None  # create_dashboard=True
        return dashboard
