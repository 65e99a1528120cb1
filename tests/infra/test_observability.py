"""Assertion tests for the dashboards and alarms (stacks/observability.py), for dev and prod.

A small stack creates real constructs (a stream, queues, inline-code functions, a table, a topic) and
hands them to ``PipelineMonitoring`` exactly as the monitoring stack does. Each environment is
synthesized once per session. The expected values below are written out independently of the
construct: the thresholds come from the committed ``cdk.json`` through ``load_environment``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Template
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from risk.common import telemetry
from risk.events.reasons import Reason
from stacks.config import EnvironmentConfig, load_environment
from stacks.ingest import FIREHOSE_BUFFER_INTERVAL_S
from stacks.monitored import MonitoredResources
from stacks.observability import PipelineMonitoring
from tests.infra.monitoring import monitor_imported

pytestmark = pytest.mark.synth

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ("dlq-full.md", "stuck-iterator.md", "warehouse-outage.md", "model-rollback.md")
STAGES = ("parse", "score", "load")


@dataclass
class Synth:
    cfg: EnvironmentConfig
    stack: cdk.Stack
    monitoring: PipelineMonitoring
    template: dict[str, Any]
    topic_id: str

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return {k: r["Properties"] for k, r in self.template["Resources"].items() if r["Type"] == type_}

    def logical_id(self, construct: Any) -> str:
        return self.stack.get_logical_id(construct.node.default_child)

    def alarm(self, key: str) -> dict[str, Any]:
        name = f"{self.cfg.prefix}-{key}"
        found = [p for p in self.resources("AWS::CloudWatch::Alarm").values() if p["AlarmName"] == name]
        assert len(found) == 1, f"expected one alarm named {name}"
        return found[0]

    def dashboard(self, suffix: str) -> dict[str, Any]:
        name = f"{self.cfg.prefix}-{suffix}"
        found = [p for p in self.resources("AWS::CloudWatch::Dashboard").values() if p["DashboardName"] == name]
        assert len(found) == 1, f"expected one dashboard named {name}"
        return render_body(found[0]["DashboardBody"])


def render_body(body: Any) -> dict[str, Any]:
    """A DashboardBody (a string or an Fn::Join of strings and tokens) as JSON, tokens as '<token>'."""
    if isinstance(body, dict) and "Fn::Join" in body:
        separator, parts = body["Fn::Join"]
        body = separator.join(p if isinstance(p, str) else "<token>" for p in parts)
    return json.loads(body)  # type: ignore[no-any-return]


def _build(env: str) -> Synth:
    cfg = load_environment(env)
    app = cdk.App()
    stack = cdk.Stack(app, f"ObservabilityTest-{env}", env=cdk.Environment(region=cfg.region))
    code = lambda_.Code.from_inline("def handler(event, context):\n    return None\n")
    functions = {
        stage: lambda_.Function(
            stack, f"{stage}Fn", runtime=lambda_.Runtime.PYTHON_3_13, handler="index.handler", code=code
        )
        for stage in STAGES
    }
    queues = {key: sqs.Queue(stack, f"{key}Queue") for key in ("parsed", "scored")}
    dlqs = {key: sqs.Queue(stack, f"{key}Queue") for key in ("parsed-dlq", "scored-dlq", "parse-failures")}
    resources = MonitoredResources(
        functions=functions,
        queues=queues,
        dead_letter_queues=dlqs,
        stream=kinesis.Stream(stack, "Stream"),
        delivery_stream_name="raw-archive",
        state_table=dynamodb.Table(
            stack,
            "State",
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        ),
        redshift_namespace_name="risk-ns",
        redshift_workgroup_name="risk-wg",
    )
    topic = sns.Topic(stack, "AlarmTopic")
    monitoring = PipelineMonitoring(stack, "Monitoring", cfg=cfg, resources=resources, alarm_topic=topic)
    topic_id = stack.get_logical_id(topic.node.default_child)
    return Synth(cfg, stack, monitoring, Template.from_stack(stack).to_json(), topic_id)


_CACHE: dict[str, Synth] = {}


def _synths(env: str) -> Synth:
    """Each environment is synthesized once per session, whichever fixture asks first."""
    if env not in _CACHE:
        _CACHE[env] = _build(env)
    return _CACHE[env]


@pytest.fixture(scope="session", params=["dev", "prod"])
def obs(request: pytest.FixtureRequest) -> Synth:
    return _synths(request.param)


@pytest.fixture(scope="session")
def obs_prod() -> Synth:
    return _synths("prod")


@pytest.fixture(scope="session")
def obs_dev() -> Synth:
    return _synths("dev")


def single_metric(props: dict[str, Any]) -> dict[str, Any]:
    """An alarm's one metric as {namespace, name, dimensions, statistic, period}, whichever form CDK chose."""
    if "MetricName" in props:
        return {
            "namespace": props["Namespace"],
            "name": props["MetricName"],
            "dimensions": {d["Name"]: d["Value"] for d in props.get("Dimensions", [])},
            "statistic": props["Statistic"],
            "period": props["Period"],
        }
    (query,) = props["Metrics"]
    stat = query["MetricStat"]
    return {
        "namespace": stat["Metric"]["Namespace"],
        "name": stat["Metric"]["MetricName"],
        "dimensions": {d["Name"]: d["Value"] for d in stat["Metric"].get("Dimensions", [])},
        "statistic": stat["Stat"],
        "period": stat["Period"],
    }


def math_alarm(props: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """A math alarm's expression and its inputs by id."""
    queries = props["Metrics"]
    (expr,) = [q for q in queries if "Expression" in q]
    assert expr["ReturnData"] is True
    inputs = {}
    for q in queries:
        if "MetricStat" in q:
            assert q["ReturnData"] is False
            metric = q["MetricStat"]["Metric"]
            inputs[q["Id"]] = {
                "namespace": metric["Namespace"],
                "name": metric["MetricName"],
                "dimensions": {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
                "statistic": q["MetricStat"]["Stat"],
                "period": q["MetricStat"]["Period"],
            }
    return expr["Expression"], inputs


def ref(logical_id: str) -> dict[str, Any]:
    return {"Ref": logical_id}


# ----------------------------------------------------------------------------------------------- alarms

GT = "GreaterThanThreshold"
PRODUCT_DIMS = ("service", "environment")


def _dlq_keys() -> list[tuple[str, str]]:
    return [
        ("parsed-dlq-not-empty", "parsed-dlq"),
        ("scored-dlq-not-empty", "scored-dlq"),
        ("parse-failures-dlq-not-empty", "parse-failures"),
    ]


@pytest.mark.parametrize(("alarm_key", "queue_key"), _dlq_keys())
def test_any_message_in_any_dlq_alarms(obs: Synth, alarm_key: str, queue_key: str) -> None:
    props = obs.alarm(alarm_key)
    metric = single_metric(props)
    queue = obs.stack.node.find_child(f"{queue_key}Queue")
    assert metric["namespace"] == "AWS/SQS"
    assert metric["name"] == "ApproximateNumberOfMessagesVisible"
    assert metric["dimensions"] == {"QueueName": {"Fn::GetAtt": [obs.logical_id(queue), "QueueName"]}}
    assert metric["statistic"] == "Maximum"
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, GT)
    assert props["TreatMissingData"] == "ignore"  # an idle, full DLQ keeps alarming until drained


def test_kinesis_iterator_age_alarm(obs: Synth) -> None:
    props = obs.alarm("kinesis-iterator-age")
    metric = single_metric(props)
    assert (metric["namespace"], metric["name"], metric["statistic"]) == (
        "AWS/Kinesis",
        "GetRecords.IteratorAgeMilliseconds",
        "Maximum",
    )
    assert metric["dimensions"] == {"StreamName": ref(obs.logical_id(obs.stack.node.find_child("Stream")))}
    assert props["Threshold"] == obs.cfg.alarms.iterator_age_ms
    assert props["ComparisonOperator"] == GT
    assert props["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("queue_key", ["parsed", "scored"])
def test_oldest_message_alarm_fires_only_when_the_queue_is_old_and_nothing_is_deleted(
    obs: Synth, queue_key: str
) -> None:
    props = obs.alarm(f"{queue_key}-oldest-message")
    expression, inputs = math_alarm(props)
    queue = obs.stack.node.find_child(f"{queue_key}Queue")
    queue_name = {"QueueName": {"Fn::GetAtt": [obs.logical_id(queue), "QueueName"]}}
    assert expression == "IF(FILL(deleted, 0) > 0, 0, age)"
    age, deleted = inputs["age"], inputs["deleted"]
    assert (age["namespace"], age["name"], age["statistic"], age["period"]) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "Maximum",
        60,
    )
    assert (deleted["namespace"], deleted["name"], deleted["statistic"], deleted["period"]) == (
        "AWS/SQS",
        "NumberOfMessagesDeleted",
        "Sum",
        60,
    )
    assert age["dimensions"] == deleted["dimensions"] == queue_name
    assert props["Threshold"] == obs.cfg.alarms.queue_oldest_message_s
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (3, 3)
    assert props["ComparisonOperator"] == GT
    assert props["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("stage", STAGES)
def test_function_error_rate_alarm_is_errors_over_invocations_in_percent(obs: Synth, stage: str) -> None:
    props = obs.alarm(f"{stage}-error-rate")
    expression, inputs = math_alarm(props)
    assert expression == "IF(whole > 0, 100 * part / whole, 0)"
    fn_ref = ref(obs.logical_id(obs.stack.node.find_child(f"{stage}Fn")))
    assert inputs["part"]["name"] == "Errors"
    assert inputs["whole"]["name"] == "Invocations"
    for metric in inputs.values():
        assert metric["namespace"] == "AWS/Lambda"
        assert metric["dimensions"] == {"FunctionName": fn_ref}
        assert metric["statistic"] == "Sum"
    assert props["Threshold"] == obs.cfg.alarms.function_error_rate_pct
    assert props["ComparisonOperator"] == GT
    assert props["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("stage", STAGES)
def test_function_throttles_alarm(obs: Synth, stage: str) -> None:
    props = obs.alarm(f"{stage}-throttles")
    metric = single_metric(props)
    fn_ref = ref(obs.logical_id(obs.stack.node.find_child(f"{stage}Fn")))
    assert (metric["namespace"], metric["name"], metric["statistic"]) == ("AWS/Lambda", "Throttles", "Sum")
    assert metric["dimensions"] == {"FunctionName": fn_ref}
    assert (props["Threshold"], props["ComparisonOperator"], props["TreatMissingData"]) == (0, GT, "notBreaching")


def test_firehose_freshness_alarm(obs: Synth) -> None:
    props = obs.alarm("firehose-freshness")
    metric = single_metric(props)
    assert (metric["namespace"], metric["name"], metric["statistic"]) == (
        "AWS/Firehose",
        "DeliveryToS3.DataFreshness",
        "Maximum",
    )
    assert metric["dimensions"] == {"DeliveryStreamName": "raw-archive"}
    assert props["Threshold"] == obs.cfg.alarms.firehose_freshness_s
    assert (props["ComparisonOperator"], props["TreatMissingData"]) == (GT, "notBreaching")


def test_quarantine_rate_alarm_is_quarantined_over_received(obs: Synth) -> None:
    props = obs.alarm("quarantine-rate")
    expression, inputs = math_alarm(props)
    assert expression == "IF(whole > 0, 100 * part / whole, 0)"
    assert inputs["part"]["name"] == telemetry.EVENTS_QUARANTINED.name
    assert inputs["whole"]["name"] == telemetry.RECORDS_RECEIVED.name
    for metric in inputs.values():
        assert metric["namespace"] == telemetry.NAMESPACE
        assert metric["dimensions"] == {"service": telemetry.SERVICE, "environment": obs.cfg.name}
        assert metric["statistic"] == "Sum"
    assert props["Threshold"] == obs.cfg.alarms.quarantine_rate_pct
    assert (props["ComparisonOperator"], props["TreatMissingData"]) == (GT, "notBreaching")


def _alarm_inputs(props: dict[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    return math_alarm(props)


@pytest.mark.parametrize("stage", STAGES)
def test_stage_failing_alarm_sums_every_cause_of_the_stage_m_of_n(obs: Synth, stage: str) -> None:
    props = obs.alarm(f"{stage}-failing")
    expression, inputs = math_alarm(props)
    causes = telemetry.FAILURE_CAUSES[stage]
    assert expression == " + ".join(f"FILL(c{i}, 0)" for i in range(len(causes)))
    for i, cause in enumerate(causes):
        metric = inputs[f"c{i}"]
        assert (metric["namespace"], metric["name"], metric["statistic"], metric["period"]) == (
            telemetry.NAMESPACE,
            "ProcessingFailures",
            "Sum",
            60,
        )
        assert metric["dimensions"] == {
            "service": telemetry.SERVICE,
            "environment": obs.cfg.name,
            "stage": stage,
            "cause": cause,
        }
    a = obs.cfg.alarms
    assert (props["DatapointsToAlarm"], props["EvaluationPeriods"]) == (a.failing_minutes, a.failing_window_minutes)
    assert 1 < props["DatapointsToAlarm"] <= props["EvaluationPeriods"]  # one failed minute (a retry) never pages
    # one message's retry comes back after the visibility timeout: outside the window
    assert props["EvaluationPeriods"] * 60 < obs.cfg.queues.visibility_timeout_s(obs.cfg.function("score"))
    assert (props["Threshold"], props["ComparisonOperator"], props["TreatMissingData"]) == (0, GT, "notBreaching")


def test_load_lag_alarm_breaches_when_nothing_loads_while_messages_wait(obs: Synth) -> None:
    props = obs.alarm("load-lag")
    expression, inputs = math_alarm(props)
    threshold = obs.cfg.alarms.end_to_end_lag_s * 1000
    assert expression == f"IF(FILL(waiting, 0) > 0, FILL(lag, {threshold + 1}), FILL(lag, 0))"
    assert (inputs["lag"]["name"], inputs["lag"]["statistic"]) == ("ArrivalToLoadLag", "p90")
    assert inputs["lag"]["dimensions"] == {"service": telemetry.SERVICE, "environment": obs.cfg.name}
    scored = obs.stack.node.find_child("scoredQueue")
    assert (inputs["waiting"]["name"], inputs["waiting"]["statistic"]) == (
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert inputs["waiting"]["dimensions"] == {"QueueName": {"Fn::GetAtt": [obs.logical_id(scored), "QueueName"]}}
    assert props["Threshold"] == threshold
    assert (props["DatapointsToAlarm"], props["EvaluationPeriods"]) == (3, 5)


def test_waiting_but_nothing_loaded_alarm(obs: Synth) -> None:
    props = obs.alarm("scored-waiting-nothing-loaded")
    expression, inputs = math_alarm(props)
    assert expression == "IF(FILL(waiting, 0) > 0, IF(FILL(loaded, 0) > 0, 0, 1), 0)"
    assert (inputs["loaded"]["name"], inputs["loaded"]["statistic"]) == ("EventsLoaded", "Sum")
    assert inputs["waiting"]["name"] == "ApproximateNumberOfMessagesVisible"
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, GT)


def test_parse_iterator_is_paged_well_before_the_mapping_skips_records(obs: Synth) -> None:
    props = obs.alarm("parse-iterator-near-expiry")
    metric = single_metric(props)
    fn_ref = ref(obs.logical_id(obs.stack.node.find_child("parseFn")))
    assert (metric["namespace"], metric["name"], metric["statistic"]) == ("AWS/Lambda", "IteratorAge", "Maximum")
    assert metric["dimensions"] == {"FunctionName": fn_ref}
    horizon_ms = min(obs.cfg.kinesis_source.max_record_age_s, obs.cfg.kinesis.retention_hours * 3600) * 1000
    assert props["Threshold"] == horizon_ms // 4
    assert props["Threshold"] > obs.cfg.alarms.iterator_age_ms  # the slowness warning comes first


def test_firehose_is_paged_well_before_the_stream_drops_its_records(obs: Synth) -> None:
    props = obs.alarm("firehose-behind")
    metric = single_metric(props)
    assert (metric["namespace"], metric["name"]) == ("AWS/Firehose", "KinesisMillisBehindLatest")
    assert props["Threshold"] == obs.cfg.kinesis.retention_hours * 3600 * 1000 // 4
    delivery = single_metric(obs.alarm("firehose-delivery-failing"))
    assert (delivery["name"], delivery["statistic"]) == ("DeliveryToS3.Success", "Minimum")
    assert obs.alarm("firehose-delivery-failing")["ComparisonOperator"] == "LessThanThreshold"


def test_firehose_reading_but_not_delivering_alarms_over_periods_of_many_buffers(obs: Synth) -> None:
    props = obs.alarm("firehose-read-not-delivered")
    expression, inputs = math_alarm(props)
    assert expression == "IF(FILL(read, 0) > 0, 100 * FILL(delivered, 0) / read, 100)"
    assert (inputs["read"]["name"], inputs["delivered"]["name"]) == (
        "DataReadFromKinesisStream.Records",
        "DeliveryToS3.Records",
    )
    for metric in inputs.values():
        assert (metric["namespace"], metric["statistic"]) == ("AWS/Firehose", "Sum")
        assert metric["dimensions"] == {"DeliveryStreamName": "raw-archive"}
        assert metric["period"] >= 10 * FIREHOSE_BUFFER_INTERVAL_S  # buffering at the edges is a small share
    assert (props["Threshold"], props["ComparisonOperator"]) == (50, "LessThanThreshold")
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"], props["TreatMissingData"]) == (2, 2, "notBreaching")


def test_firehose_undelivered_records_page_well_before_firehose_drops_them(obs: Synth) -> None:
    props = obs.alarm("firehose-undelivered-near-expiry")
    metric = single_metric(props)
    assert (metric["namespace"], metric["name"], metric["statistic"]) == (
        "AWS/Firehose",
        "DeliveryToS3.DataFreshness",
        "Maximum",
    )
    assert props["Threshold"] == 24 * 3600 // 4  # Firehose retries S3 delivery for 24 h
    assert props["Threshold"] > obs.cfg.alarms.firehose_freshness_s  # the lateness warning comes first
    assert obs.monitoring.alarms["firehose-undelivered-near-expiry"].severity == "critical"


@pytest.mark.parametrize("queue_key", ["parsed-dlq", "scored-dlq", "parse-failures"])
def test_dlq_age_alarm_escalates_well_before_the_messages_expire(obs: Synth, queue_key: str) -> None:
    name = queue_key if queue_key.endswith("-dlq") else f"{queue_key}-dlq"
    props = obs.alarm(f"{name}-age")
    metric = single_metric(props)
    assert (metric["namespace"], metric["name"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    q = obs.cfg.queues
    # a dead-lettered message may already have spent retention_days in its work queue
    assert props["Threshold"] <= (q.dlq_retention_days - q.retention_days) * 86400 / 2
    assert props["TreatMissingData"] == "ignore"
    assert props["AlarmActions"] == [ref(obs.topic_id)]  # its own page: the composite is already on


@pytest.mark.parametrize("queue_key", ["parsed", "scored"])
def test_a_stalled_work_queue_pages_again_well_before_its_messages_expire(obs: Synth, queue_key: str) -> None:
    props = obs.alarm(f"{queue_key}-near-expiry")
    metric = single_metric(props)
    queue = obs.stack.node.find_child(f"{queue_key}Queue")
    assert (metric["namespace"], metric["name"], metric["statistic"]) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "Maximum",
    )
    assert metric["dimensions"] == {"QueueName": {"Fn::GetAtt": [obs.logical_id(queue), "QueueName"]}}
    assert props["Threshold"] == obs.cfg.queues.retention_days * 86400 // 4
    assert props["AlarmActions"] == [ref(obs.topic_id)]  # its own page: the composite is on since the stall
    assert obs.monitoring.alarms[f"{queue_key}-near-expiry"].severity == "critical"


@pytest.mark.parametrize("stage", STAGES)
def test_duration_near_timeout_alarm(obs: Synth, stage: str) -> None:
    props = obs.alarm(f"{stage}-near-timeout")
    metric = single_metric(props)
    assert (metric["name"], metric["statistic"]) == ("Duration", "Maximum")
    assert props["Threshold"] == obs.cfg.function(stage).timeout_s * 1000 * 0.8


@pytest.mark.parametrize("stage", ["score", "load"])
def test_concurrency_ceiling_alarm_reads_the_configured_maximum(obs: Synth, stage: str) -> None:
    props = obs.alarm(f"{stage}-at-max-concurrency")
    metric = single_metric(props)
    assert (metric["name"], metric["statistic"]) == ("ConcurrentExecutions", "Maximum")
    assert props["Threshold"] == obs.cfg.function(stage).max_concurrency
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"


def test_state_table_throttles_and_system_errors(obs: Synth) -> None:
    expression, inputs = math_alarm(obs.alarm("state-throttles"))
    assert {m["name"] for m in inputs.values()} == {"ReadThrottleEvents", "WriteThrottleEvents"}
    assert expression == "FILL(r, 0) + FILL(w, 0)"
    expression, inputs = math_alarm(obs.alarm("state-system-errors"))
    assert {m["name"] for m in inputs.values()} == {"SystemErrors"}
    # one per operation the score function's store calls, each FILLed: a plain sum of four operations had no
    # datapoint in any minute one of them was not called (GetItem never is), so it could never fire
    assert {m["dimensions"]["Operation"] for m in inputs.values()} == {"BatchGetItem", "PutItem"}
    assert expression == " + ".join(f"FILL({k}, 0)" for k in inputs)


def test_kinesis_throughput_and_failed_puts(obs: Synth) -> None:
    _, inputs = math_alarm(obs.alarm("kinesis-write-throttled"))
    assert {m["name"] for m in inputs.values()} == {"PutRecords.ThrottledRecords", "PutRecords.FailedRecords"}
    read = single_metric(obs.alarm("kinesis-read-throttled"))
    assert read["name"] == "ReadProvisionedThroughputExceeded"


def test_redshift_rpu_hours_alarm_is_the_configured_daily_budget(obs: Synth) -> None:
    props = obs.alarm("redshift-rpu-hours")
    metric = single_metric(props)
    assert (metric["namespace"], metric["name"], metric["statistic"]) == (
        "AWS/Redshift-Serverless",
        "ComputeSeconds",
        "Sum",
    )
    assert metric["period"] == 86400
    assert props["Threshold"] == int(obs.cfg.redshift.rpu_hours_per_day * 0.8) * 3600  # before the limit acts


EXPECTED_ALARMS = {
    *(f"{d}-{kind}" for d in ("parsed-dlq", "scored-dlq", "parse-failures-dlq") for kind in ("not-empty", "age")),
    "kinesis-iterator-age",
    "parse-iterator-near-expiry",
    "firehose-behind",
    "firehose-delivery-failing",
    "firehose-freshness",
    "firehose-read-not-delivered",
    "firehose-undelivered-near-expiry",
    *(f"{s}-{kind}" for s in STAGES for kind in ("failing", "error-rate", "throttles", "near-timeout")),
    "score-at-max-concurrency",
    "load-at-max-concurrency",
    "quarantine-rate",
    "parsed-oldest-message",
    "scored-oldest-message",
    "parsed-near-expiry",
    "scored-near-expiry",
    "load-lag",
    "scored-waiting-nothing-loaded",
    "state-throttles",
    "state-system-errors",
    "kinesis-write-throttled",
    "kinesis-read-throttled",
    "redshift-rpu-hours",
}


def test_every_alarm_is_tested_and_documented(obs: Synth) -> None:
    keys = set(obs.monitoring.alarms)
    optional = {"silent-producer"} if obs.cfg.alarms.silent_producer_minutes else set()
    optional |= {"scorer-fallback"} if obs.cfg.scoring.sagemaker_endpoint else set()
    optional |= {"shadow-failures"} if obs.cfg.scoring.shadows or obs.cfg.scoring.shadow_endpoint else set()
    optional |= {"high-band-rate"} if obs.cfg.alarms.high_band_rate and obs.monitoring.champion_versions() else set()
    assert keys == EXPECTED_ALARMS | optional
    doc = (REPO_ROOT / "docs" / "observability.md").read_text()
    for key in keys | {"pipeline-critical", "pipeline-unhealthy"}:
        assert f"`{key}`" in doc, f"docs/observability.md does not document {key}"


def test_every_alarm_of_the_prod_templates_has_a_row_in_the_docs_naming_its_runbook(prod: Any) -> None:
    """The real app's prod templates (every stack), not only this construct: retention alarms and composites too."""
    doc = (REPO_ROOT / "docs" / "observability.md").read_text()
    rows = [line for line in doc.splitlines() if line.startswith("| ")]
    prefix = f"{prod.cfg.prefix}-"
    names = [
        r["Properties"].get("AlarmName") or r["Properties"]["CompositeAlarmName"]
        for template in prod.raw.values()
        for r in template["Resources"].values()
        if r["Type"] in ("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm")
    ]
    assert len(names) >= len(EXPECTED_ALARMS) + 2
    for name in names:
        key = name.removeprefix(prefix)
        documented = [row for row in rows if f"`{key}`" in row]
        assert documented, f"docs/observability.md has no table row for {key}"
        # a row of the alarm table: six cells, the last one naming the runbook
        alarm_rows = [row for row in documented if row.count(" | ") >= 5]
        assert any(".md" in row.rstrip(" |").rsplit("|", 1)[-1] for row in alarm_rows), f"{key}: no runbook"


def test_every_runbook_the_observability_docs_name_exists() -> None:
    doc = (REPO_ROOT / "docs" / "observability.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+\.md)(?:#[^)]*)?\)", doc)
    named = re.findall(r"`([\w-]+\.md)`", doc)
    assert links and named
    for link in links:
        assert (REPO_ROOT / "docs" / link).is_file(), link
    for runbook in named:
        assert (REPO_ROOT / "docs" / "runbooks" / runbook).is_file(), runbook


def test_silent_producer_alarm_in_prod_treats_missing_data_as_breaching(obs_prod: Synth) -> None:
    minutes = obs_prod.cfg.alarms.silent_producer_minutes
    assert minutes is not None
    props = obs_prod.alarm("silent-producer")
    metric = single_metric(props)
    assert (metric["namespace"], metric["name"], metric["statistic"]) == ("AWS/Kinesis", "IncomingRecords", "Sum")
    assert metric["period"] * props["EvaluationPeriods"] == minutes * 60
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert props["TreatMissingData"] == "breaching"


def test_no_silent_producer_alarm_where_no_traffic_is_expected(obs_dev: Synth) -> None:
    assert obs_dev.cfg.alarms.silent_producer_minutes is None
    names = [p["AlarmName"] for p in obs_dev.resources("AWS::CloudWatch::Alarm").values()]
    assert f"{obs_dev.cfg.prefix}-silent-producer" not in names
    assert names  # the others are there


def test_children_notify_only_through_their_composite_except_escalations(obs: Synth) -> None:
    topic = [ref(obs.topic_id)]
    for key, info in obs.monitoring.alarms.items():
        props = obs.alarm(key)
        if info.direct_action:
            assert props["AlarmActions"] == topic and "OKActions" not in props, key
        else:
            assert "AlarmActions" not in props and "OKActions" not in props, key
    assert {k for k, i in obs.monitoring.alarms.items() if i.direct_action} == {
        "parsed-dlq-age",
        "scored-dlq-age",
        "parse-failures-dlq-age",
        "parsed-near-expiry",
        "scored-near-expiry",
    }
    for props in obs.resources("AWS::CloudWatch::CompositeAlarm").values():
        assert props["AlarmActions"] == topic and props["OKActions"] == topic


def test_every_alarm_says_what_it_means_and_what_to_do_first(obs: Synth) -> None:
    alarms = {**obs.resources("AWS::CloudWatch::Alarm"), **obs.resources("AWS::CloudWatch::CompositeAlarm")}
    for props in alarms.values():
        description = props["AlarmDescription"]
        assert " First: " in description, props.get("AlarmName", props)
        named = re.findall(r"docs/runbooks/([\w-]+\.md)", description)
        assert named and set(named) <= set(RUNBOOKS), description
        assert len(description) <= 1024
        for runbook in named:
            assert (REPO_ROOT / "docs" / "runbooks" / runbook).is_file()


def _rule(props: dict[str, Any]) -> str:
    rule = props["AlarmRule"]
    parts = rule["Fn::Join"][1] if isinstance(rule, dict) else [rule]
    return "".join(p if isinstance(p, str) else f"<{p['Fn::GetAtt'][0]}>" for p in parts)


def test_critical_composite_pages_and_suppresses_the_warning_one(obs: Synth) -> None:
    composites = {p["AlarmName"]: p for p in obs.resources("AWS::CloudWatch::CompositeAlarm").values()}
    critical = composites[f"{obs.cfg.prefix}-pipeline-critical"]
    warning = composites[f"{obs.cfg.prefix}-pipeline-unhealthy"]
    by_severity: dict[str, set[str]] = {"critical": set(), "warning": set()}
    for info in obs.monitoring.alarms.values():
        by_severity[info.severity].add(obs.logical_id(info.alarm))
    for props, severity in ((critical, "critical"), (warning, "warning")):
        rendered = _rule(props)
        assert set(re.findall(r'ALARM\("<(\w+)>"\)', rendered)) == by_severity[severity]
        assert set(re.findall(r"\)\s*(\w+)\s*ALARM", rendered)) == {"OR"}
    suppressor = warning["ActionsSuppressor"]
    critical_id = next(k for k, p in obs.resources("AWS::CloudWatch::CompositeAlarm").items() if p is critical)
    assert suppressor == {"Fn::GetAtt": [critical_id, "Arn"]}
    assert "ActionsSuppressor" not in critical


def test_product_metrics_refuse_dimensions_outside_the_contract(obs_dev: Synth) -> None:
    with pytest.raises(ValueError, match="user_id"):
        obs_dev.monitoring.product_metric(telemetry.EVENTS_PARSED, extra={"user_id": "u-1"})


# ----------------------------------------------------------------------------------------------- dashboards


def widget_titles(body: dict[str, Any]) -> list[str]:
    return [w["properties"].get("title", "") for w in body["widgets"]]


def widget(body: dict[str, Any], title: str) -> dict[str, Any]:
    (found,) = [w for w in body["widgets"] if w["properties"].get("title") == title]
    return found


def text(body: dict[str, Any]) -> str:
    return "\n".join(w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text")


def metric_names(w: dict[str, Any]) -> list[str]:
    return [m[1] for m in w["properties"]["metrics"] if isinstance(m[0], str)]


OVERVIEW_TITLES = (
    "Alarms",
    "Events per minute by stage",
    "Events per 5 minutes by stage (aligned periods)",
    "Failures by stage and cause (handed back for retry)",
    "Stuck? Age of the oldest message per queue (s)",
    "Stuck? Stream consumers behind (ms)",
    "Lost? Dead-letter and parse-failures depth",
    "Lost? Oldest dead-lettered message (s)",
    "Quarantined per minute by reason",
    "Quarantine rate (%)",
    "Lag per event to the warehouse: from arrival and from event time (ms)",
    "Duplicates skipped and suppressed",
    "Scored per minute by risk band and model version",
    "Flagged rate (%)",
)


@pytest.mark.parametrize("title", OVERVIEW_TITLES)
def test_pipeline_overview_has_section(obs: Synth, title: str) -> None:
    assert title in widget_titles(obs.dashboard("pipeline-overview"))


def test_overview_shows_every_stage_side_by_side_per_minute(obs: Synth) -> None:
    w = widget(obs.dashboard("pipeline-overview"), "Events per minute by stage")
    assert metric_names(w) == [
        "IncomingRecords",
        "RecordsReceived",
        "EventsParsed",
        "EventsQuarantined",
        "EventsScored",
        "ScoreEventsQuarantined",
        "EventsFlagged",
        "EventsLoaded",
    ]
    assert {m[-1]["period"] for m in w["properties"]["metrics"]} == {60}


def test_overview_lag_is_percentiles_over_events_from_arrival_and_from_event_time(obs: Synth) -> None:
    w = widget(
        obs.dashboard("pipeline-overview"), "Lag per event to the warehouse: from arrival and from event time (ms)"
    )
    lines = {(m[1], m[-1]["stat"]) for m in w["properties"]["metrics"]}
    assert lines == {(name, p) for name in ("ArrivalToLoadLag", "EventTimeToLoadLag") for p in ("p50", "p90", "p99")}


def test_overview_says_where_events_are_stuck_and_whether_any_are_lost(obs: Synth) -> None:
    body = obs.dashboard("pipeline-overview")
    assert (
        metric_names(widget(body, "Stuck? Age of the oldest message per queue (s)"))
        == ["ApproximateAgeOfOldestMessage"] * 2
    )
    assert metric_names(widget(body, "Stuck? Stream consumers behind (ms)")) == [
        "GetRecords.IteratorAgeMilliseconds",
        "IteratorAge",
        "KinesisMillisBehindLatest",
    ]
    assert (
        metric_names(widget(body, "Lost? Dead-letter and parse-failures depth"))
        == ["ApproximateNumberOfMessagesVisible"] * 3
    )
    assert metric_names(widget(body, "Lost? Oldest dead-lettered message (s)")) == ["ApproximateAgeOfOldestMessage"] * 3
    failures = widget(body, "Failures by stage and cause (handed back for retry)")["properties"]["metrics"]
    pairs = {(m[m.index("stage") + 1], m[m.index("cause") + 1]) for m in failures}
    assert pairs == {(s, c) for s, causes in telemetry.FAILURE_CAUSES.items() for c in causes}
    periods = widget(body, "Events per 5 minutes by stage (aligned periods)")["properties"]
    assert periods["period"] == 300 and periods["view"] == "bar"
    assert f"#dashboards:name={obs.cfg.prefix}-stage-health" in text(body)  # one click away


def test_overview_has_one_quarantine_line_per_reason(obs: Synth) -> None:
    w = widget(obs.dashboard("pipeline-overview"), "Quarantined per minute by reason")
    metrics = w["properties"]["metrics"]
    assert {m[1] for m in metrics} == {"QuarantinedByReason"}
    reasons = [m[m.index("reason") + 1] for m in metrics]
    assert sorted(reasons) == sorted(r.value for r in Reason)
    for m in metrics:
        assert m[m.index("environment") + 1] == obs.cfg.name


def test_score_distribution_searches_every_model_version_of_this_environment(obs: Synth) -> None:
    w = widget(obs.dashboard("pipeline-overview"), "Scored per minute by risk band and model version")
    (expression,) = [m[0]["expression"] for m in w["properties"]["metrics"]]
    assert expression.startswith("SEARCH('{RiskScoring,service,environment,risk_band,model_version}")
    assert 'MetricName="ScoredByBand"' in expression
    assert f'environment="{obs.cfg.name}"' in expression


STAGE_HEALTH_TEXT = (
    # cdk-monitoring-constructs sections (their header widgets carry the human-readable names)
    "parse function",
    "score function",
    "load function",
    "Kinesis stream",
    "parsed queue",
    "scored queue",
    "parse-failures queue",
    "Feature state table",
    # custom sections
    "Firehose delivery to the archive",
    "Redshift Serverless",
    "Loader",
)


def test_stage_health_has_a_section_per_service(obs: Synth) -> None:
    body = json.dumps(obs.dashboard("stage-health"))
    for name in STAGE_HEALTH_TEXT:
        assert name in body, name


def test_stage_health_graphs_what_ops_need(obs: Synth) -> None:
    body = obs.dashboard("stage-health")
    graphed = {m[1] for w in body["widgets"] for m in w["properties"].get("metrics", []) if isinstance(m[0], str)}
    expected = {
        "Invocations",
        "Errors",
        "Throttles",
        "Duration",
        "ConcurrentExecutions",  # Lambda
        "IncomingRecords",
        "GetRecords.IteratorAgeMilliseconds",
        "PutRecords.ThrottledRecords",  # Kinesis
        "ApproximateNumberOfMessagesVisible",
        "ApproximateAgeOfOldestMessage",  # SQS + DLQ
        "DeliveryToS3.Success",
        "DeliveryToS3.DataFreshness",  # Firehose
        "ReadThrottleEvents",
        "WriteThrottleEvents",  # DynamoDB (latency: a SEARCH, below)
        "ComputeCapacity",  # Redshift Serverless
        "LoadBatchSize",
        "RowsMerged",  # loader
    }
    assert expected <= graphed, expected - graphed
    expressions = [
        m[0]["expression"]
        for w in body["widgets"]
        for m in w["properties"].get("metrics", [])
        if isinstance(m[0], dict) and "expression" in m[0]
    ]
    assert any("QueryDuration" in e and 'Workgroup="risk-wg"' in e for e in expressions)
    assert any('MetricName="SuccessfulRequestLatency"' in e for e in expressions)
    latency = {
        m[-1].get("stat")
        for w in body["widgets"]
        for m in w["properties"].get("metrics", [])
        if isinstance(m[0], str) and m[1] == "Duration"
    }
    assert {"p50", "p99"} <= latency


def named_tokens_body(body: Any) -> dict[str, Any]:
    """A DashboardBody as JSON, each ``Fn::GetAtt``/``Ref`` token written as ``<logical id>``."""
    if isinstance(body, dict) and "Fn::Join" in body:
        separator, parts = body["Fn::Join"]

        def name(part: Any) -> str:
            if isinstance(part, str):
                return part
            target = part.get("Fn::GetAtt", [part.get("Ref")])[0]
            return f"<{target}>"

        body = separator.join(name(p) for p in parts)
    return json.loads(body)  # type: ignore[no-any-return]


def test_stage_health_counts_dead_letters_by_depth_not_by_messages_sent(obs: Synth) -> None:
    (props,) = [
        p
        for p in obs.resources("AWS::CloudWatch::Dashboard").values()
        if p["DashboardName"] == f"{obs.cfg.prefix}-stage-health"
    ]
    body = named_tokens_body(props["DashboardBody"])
    for key in ("parsed-dlq", "scored-dlq"):
        dlq = f"<{obs.logical_id(obs.stack.node.find_child(f'{key}Queue'))}>"
        metrics = [m for w in body["widgets"] for m in w["properties"].get("metrics", [])]
        on_dlq = [m for m in metrics if isinstance(m[0], str) and dlq in m]
        # a redrive policy's move is no SendMessage: NumberOfMessagesSent stays 0 while the DLQ fills
        assert "NumberOfMessagesSent" not in {m[1] for m in on_dlq}, key
        assert {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"} <= {m[1] for m in on_dlq}
        visible_ids = {m[-1].get("id") for m in on_dlq if m[1] == "ApproximateNumberOfMessagesVisible"}
        moved_in = [
            m[0]["expression"]
            for m in metrics
            if isinstance(m[0], dict) and m[0].get("expression", "").startswith("IF(DIFF(")
        ]
        assert any(f"IF(DIFF({v}) > 0, DIFF({v}), 0)" == e for v in visible_ids for e in moved_in), key


def test_each_dashboard_links_every_runbook(obs: Synth) -> None:
    for suffix in ("pipeline-overview", "stage-health"):
        markdown = text(obs.dashboard(suffix))
        for runbook in RUNBOOKS:
            assert f"docs/runbooks/{runbook}" in markdown, (suffix, runbook)


def test_runbook_links_become_urls_when_the_repository_is_known() -> None:
    cfg = load_environment("dev")
    stack = cdk.Stack(cdk.App(), "Links", env=cdk.Environment(region=cfg.region))
    monitor_imported(stack, cfg, "https://git.example.com/risk/blob/main/")
    dashboards = Template.from_stack(stack).find_resources("AWS::CloudWatch::Dashboard").values()
    for dashboard in dashboards:
        markdown = text(render_body(dashboard["Properties"]["DashboardBody"]))
        for runbook in RUNBOOKS:
            assert f"[docs/runbooks/{runbook}](https://git.example.com/risk/blob/main/docs/runbooks/{runbook})" in (
                markdown
            )
    for alarm in Template.from_stack(stack).find_resources("AWS::CloudWatch::Alarm").values():
        assert (
            "Runbook: https://git.example.com/risk/blob/main/docs/runbooks/" in alarm["Properties"]["AlarmDescription"]
        )


def test_the_construct_adds_no_cdk_nag_findings(tmp_path: Path) -> None:
    cfg = load_environment("prod")
    app = cdk.App(outdir=str(tmp_path))
    monitor_imported(cdk.Stack(app, "Nag", env=cdk.Environment(region=cfg.region)), cfg)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    cdk.Validations.of(app).add_plugins(ServerlessChecks(app))
    app.synth()  # raises ValidationFailed on any error-level finding
    report = tmp_path / "validation-report.json"
    if report.exists():
        violations = [v for plugin in json.loads(report.read_text())["pluginReports"] for v in plugin["violations"]]
        assert violations == []


def test_dashboards_are_named_per_environment(obs: Synth) -> None:
    names = sorted(p["DashboardName"] for p in obs.resources("AWS::CloudWatch::Dashboard").values())
    assert names == [f"risk-scoring-{obs.cfg.name}-pipeline-overview", f"risk-scoring-{obs.cfg.name}-stage-health"]


def test_the_apps_monitoring_stack_holds_these_dashboards_and_alarms(dev: Any) -> None:
    """The real app (tests/infra/conftest.py's ``dev``): MonitoringStack wires PipelineMonitoring to its topics
    (which alarm goes to which: test_schema_and_monitoring.py)."""
    raw = dev.raw["Monitoring"]["Resources"]
    names = sorted(r["Properties"]["DashboardName"] for r in raw.values() if r["Type"] == "AWS::CloudWatch::Dashboard")
    assert names == ["risk-scoring-dev-pipeline-overview", "risk-scoring-dev-stage-health"]
    alarms = [r["Properties"] for r in raw.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert {a["AlarmName"] for a in alarms} >= {
        "risk-scoring-dev-parsed-dlq-not-empty",
        "risk-scoring-dev-load-error-rate",
    }
    topic_ids = [k for k, r in raw.items() if r["Type"] == "AWS::SNS::Topic"]
    assert len(topic_ids) == 2
    composites = [r["Properties"] for r in raw.values() if r["Type"] == "AWS::CloudWatch::CompositeAlarm"]
    assert sorted(c["AlarmActions"][0]["Ref"] for c in composites) == sorted(topic_ids)
