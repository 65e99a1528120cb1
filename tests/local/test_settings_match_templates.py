"""The local run and the synthesized dev stacks agree: one source of truth, checked.

The local resources are provisioned in moto and read back through the SQS API; the pollers'
settings are read off a LocalPipeline. Both are compared with the Processing stack's template
(queue names, maxReceiveCount, visibility timeouts, event source mappings, function environments).
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_cdk.assertions import Template

from stacks.app_factory import build_app
from stacks.config import EnvironmentConfig
from tools.local.pipeline import STAGES, LocalPipeline
from tools.local.provision import LocalResources

pytestmark = pytest.mark.synth


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    app = build_app("dev", bundle=False)
    return Template.from_stack(app.stacks["Processing"]).to_json()  # type: ignore[no-any-return]


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v["Properties"] for k, v in template["Resources"].items() if v["Type"] == kind}


def _queue_names(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> QueueName of every queue in the template."""
    return {k: p["QueueName"] for k, p in _of_type(template, "AWS::SQS::Queue").items()}


def _target_queue(ref: Any, names: dict[str, str]) -> str:
    """The queue name behind a {"Fn::GetAtt": [logical id, "Arn"]} reference."""
    return names[ref["Fn::GetAtt"][0]]


@pytest.fixture
def local(resources: LocalResources) -> tuple[LocalResources, LocalPipeline]:
    ignore = {stage: (lambda event, context: None) for stage in STAGES}
    return resources, LocalPipeline(resources, None, handlers=ignore, archive_raw=False)


def test_queues_match(template: dict[str, Any], local: tuple[LocalResources, LocalPipeline]) -> None:
    resources, _ = local
    sqs = boto3.client("sqs", region_name=resources.region)
    names = _queue_names(template)
    deployed = {p["QueueName"]: p for p in _of_type(template, "AWS::SQS::Queue").values()}
    assert set(deployed) == {url.rsplit("/", 1)[1] for url in resources.queue_urls.values()}
    for url in resources.queue_urls.values():
        name = url.rsplit("/", 1)[1]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        props = deployed[name]
        assert int(attributes["VisibilityTimeout"]) == props.get("VisibilityTimeout", 30), name
        if "RedrivePolicy" in props:
            local_policy = json.loads(attributes["RedrivePolicy"])
            assert int(local_policy["maxReceiveCount"]) == props["RedrivePolicy"]["maxReceiveCount"], name
            dlq_name = _target_queue(props["RedrivePolicy"]["deadLetterTargetArn"], names)
            assert local_policy["deadLetterTargetArn"].rsplit(":", 1)[1] == dlq_name, name
        else:
            assert "RedrivePolicy" not in attributes, name


def test_event_source_mappings_match(
    template: dict[str, Any], local: tuple[LocalResources, LocalPipeline], cfg: EnvironmentConfig
) -> None:
    resources, pipeline = local
    names = _queue_names(template)
    mappings = list(_of_type(template, "AWS::Lambda::EventSourceMapping").values())
    (kinesis,) = [m for m in mappings if "StartingPosition" in m]
    source = pipeline.parse.source
    assert kinesis["BatchSize"] == source.batch_size
    assert kinesis["MaximumRetryAttempts"] == source.retry_attempts
    assert kinesis["BisectBatchOnFunctionError"] is source.bisect_on_error
    assert kinesis["MaximumRecordAgeInSeconds"] == source.max_record_age_s
    assert kinesis["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    on_failure = _target_queue(kinesis["DestinationConfig"]["OnFailure"]["Destination"], names)
    assert on_failure == resources.queue_urls["parse-failures"].rsplit("/", 1)[1]

    by_queue = {_target_queue(m["EventSourceArn"], names): m for m in mappings if "StartingPosition" not in m}
    for poller in (pipeline.score, pipeline.load):
        mapping = by_queue[poller.queue_url.rsplit("/", 1)[1]]
        assert mapping["BatchSize"] == poller.batch_size
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert {pipeline.score.batch_size, pipeline.load.batch_size} == {cfg.score.batch_size, cfg.load.batch_size}


def test_function_environments_match(template: dict[str, Any], local: tuple[LocalResources, LocalPipeline]) -> None:
    _, pipeline = local
    functions = [
        p for p in _of_type(template, "AWS::Lambda::Function").values() if str(p.get("Handler", "")).startswith("risk.")
    ]
    by_handler = {p["Handler"]: p["Environment"]["Variables"] for p in functions}
    for stage, handler in {
        "parse": "risk.parse.handler.lambda_handler",
        "score": "risk.score.handler.lambda_handler",
        "load": "risk.load.handler.lambda_handler",
    }.items():
        deployed = by_handler[handler]
        local_env = pipeline.environments[stage]
        for key, value in deployed.items():  # every variable the stack sets, the local run sets too
            assert key in local_env, (stage, key)
            if isinstance(value, str) and key.startswith(
                (
                    "RISK_",
                    "SCORER",
                    "MODEL_",
                    "MEDIUM_",
                    "HIGH_",
                    "STATE_TTL",
                    "REDSHIFT_DATABASE",
                    "WAREHOUSE_STATEMENT_TIMEOUT_S",
                    "BULK_LOAD_MIN_ROWS",
                    "POWERTOOLS_METRICS",
                    "POWERTOOLS_SERVICE",
                )
            ):
                assert local_env[key] == value, (stage, key)


def test_memory_and_timeouts_match(template: dict[str, Any], local: tuple[LocalResources, LocalPipeline]) -> None:
    _, pipeline = local
    functions = {p["Handler"]: p for p in _of_type(template, "AWS::Lambda::Function").values() if "Handler" in p}
    for stage, poller_context in (
        ("parse", pipeline.parse.context),
        ("score", pipeline.score.context),
        ("load", pipeline.load.context),
    ):
        props = functions[f"risk.{stage}.handler.lambda_handler"]
        assert (poller_context.memory_limit_in_mb, poller_context.timeout_s) == (props["MemorySize"], props["Timeout"])
