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
def test_oldest_message_age_alarm_per_work_queue(obs: Synth, queue_key: str) -> None:
    props = obs.alarm(f"{queue_key}-oldest-message")
    metric = single_metric(props)
    queue = obs.stack.node.find_child(f"{queue_key}Queue")
    assert (metric["namespace"], metric["name"]) == ("AWS/SQS", "ApproximateAgeOfOldestMessage")
    assert metric["dimensions"] == {"QueueName": {"Fn::GetAtt": [obs.logical_id(queue), "QueueName"]}}
    assert props["Threshold"] == obs.cfg.alarms.queue_oldest_message_s
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


def test_end_to_end_lag_alarm_reads_the_loaders_metric_in_milliseconds(obs: Synth) -> None:
    props = obs.alarm("end-to-end-lag")
    metric = single_metric(props)
    assert (metric["namespace"], metric["name"], metric["statistic"]) == (telemetry.NAMESPACE, "EndToEndLag", "Maximum")
    assert metric["dimensions"] == {"service": telemetry.SERVICE, "environment": obs.cfg.name}
    assert props["Threshold"] == obs.cfg.alarms.end_to_end_lag_s * 1000
    assert (props["ComparisonOperator"], props["TreatMissingData"]) == (GT, "notBreaching")


def test_loader_failures_alarm_fires_on_any_failure(obs: Synth) -> None:
    props = obs.alarm("loader-failures")
    metric = single_metric(props)
    assert (metric["namespace"], metric["name"], metric["statistic"]) == (telemetry.NAMESPACE, "LoaderFailures", "Sum")
    assert metric["dimensions"] == {"service": telemetry.SERVICE, "environment": obs.cfg.name}
    assert (props["Threshold"], props["ComparisonOperator"], props["TreatMissingData"]) == (0, GT, "notBreaching")


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


def test_every_alarm_notifies_the_topic_on_alarm_and_recovery(obs: Synth) -> None:
    topic = [ref(obs.topic_id)]
    alarms = {**obs.resources("AWS::CloudWatch::Alarm"), **obs.resources("AWS::CloudWatch::CompositeAlarm")}
    assert len(alarms) >= 17
    for props in alarms.values():
        assert props["AlarmActions"] == topic
        assert props["OKActions"] == topic


def test_every_alarm_says_what_it_means_and_what_to_do_first(obs: Synth) -> None:
    alarms = {**obs.resources("AWS::CloudWatch::Alarm"), **obs.resources("AWS::CloudWatch::CompositeAlarm")}
    for props in alarms.values():
        description = props["AlarmDescription"]
        assert " First: " in description, props.get("AlarmName", props)
        named = re.findall(r"docs/runbooks/([\w-]+\.md)", description)
        assert named and set(named) <= set(RUNBOOKS), description
        assert len(description) <= 1024


def test_composite_alarm_fires_when_any_alarm_does(obs: Synth) -> None:
    (composite,) = obs.resources("AWS::CloudWatch::CompositeAlarm").values()
    assert composite["AlarmName"] == f"{obs.cfg.prefix}-pipeline-unhealthy"
    rule = composite["AlarmRule"]
    parts = rule["Fn::Join"][1] if isinstance(rule, dict) else [rule]
    rendered = "".join(p if isinstance(p, str) else f"<{p['Fn::GetAtt'][0]}>" for p in parts)
    alarm_ids = set(obs.resources("AWS::CloudWatch::Alarm"))
    referenced = set(re.findall(r'ALARM\("<(\w+)>"\)', rendered))
    assert referenced == alarm_ids
    assert set(re.findall(r"\)\s*(\w+)\s*ALARM", rendered)) == {"OR"}


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
    "Events in the last minute by stage",
    "Quarantined per minute by reason",
    "Quarantine rate (%)",
    "End-to-end lag (event time to load time)",
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
    assert all(a["AlarmActions"] in ([{"Ref": t}] for t in topic_ids) for a in alarms)
    assert [r for r in raw.values() if r["Type"] == "AWS::CloudWatch::CompositeAlarm"]
