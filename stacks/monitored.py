"""What the monitoring construct watches: handed over by the stacks through props."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs


@dataclass(frozen=True)
class MonitoredResources:
    functions: Mapping[str, lambda_.IFunction]  # "parse", "score", "load"
    queues: Mapping[str, sqs.IQueue]  # "parsed", "scored" (keys of stacks.config.WORK_QUEUES)
    dead_letter_queues: Mapping[str, sqs.IQueue]  # "parsed-dlq", "scored-dlq", "parse-failures"
    stream: kinesis.IStream
    delivery_stream_name: str
    state_table: dynamodb.ITable
    redshift_namespace_name: str
    redshift_workgroup_name: str
    # Where Lambda puts an asynchronous invocation's event after its retries (the scheduled jobs, CDK's handlers).
    async_failures: sqs.IQueue | None = None
