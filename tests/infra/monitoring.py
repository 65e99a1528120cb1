"""The monitoring construct alone, on imported resources: shared by the observability and metric-contract tests."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs

from stacks.config import EnvironmentConfig
from stacks.monitored import MonitoredResources
from stacks.observability import PipelineMonitoring


def monitor_imported(stack: cdk.Stack, cfg: EnvironmentConfig, runbook_base_url: str | None = None) -> None:
    """The construct alone, on imported resources: the stack holds nothing but dashboards and alarms."""
    arn = f"arn:aws:{{}}:{cfg.region}:111111111111:{{}}"
    resources = MonitoredResources(
        functions={
            s: lambda_.Function.from_function_name(stack, f"{s}Fn", f"fn-{s}") for s in ("parse", "score", "load")
        },
        queues={k: sqs.Queue.from_queue_arn(stack, k, arn.format("sqs", k)) for k in ("parsed", "scored")},
        dead_letter_queues={
            k: sqs.Queue.from_queue_arn(stack, k, arn.format("sqs", k))
            for k in ("parsed-dlq", "scored-dlq", "parse-failures")
        },
        stream=kinesis.Stream.from_stream_arn(stack, "Stream", arn.format("kinesis", "stream/events")),
        delivery_stream_name="raw-archive",
        state_table=dynamodb.Table.from_table_name(stack, "State", "state"),
        redshift_namespace_name="risk-ns",
        redshift_workgroup_name="risk-wg",
    )
    topic = sns.Topic.from_topic_arn(stack, "Topic", arn.format("sns", "alarms"))
    PipelineMonitoring(
        stack, "Monitoring", cfg=cfg, resources=resources, alarm_topic=topic, runbook_base_url=runbook_base_url
    )
