"""The ways in besides PutRecords, run locally: the same records through the Entry stack's paths.

``--via s3`` (:class:`InboxPath`): the records go into a gzip JSON Lines file under ``inbox/`` of a
local inbox bucket; moto's S3 sends its notification to the ingest queue (as the stack wires it);
the **real** ingest handler reads each message, puts the file's valid lines on the stream and
quarantines the rest; the Kinesis poller and the other stages then run as for ``--via kinesis``.

A file is lines, so a record that cannot be one line of text (empty, or holding a line break, e.g. a
binary Avro record) cannot travel this way: such records are left out and counted
(``left_out``), never silently lost.
"""

from __future__ import annotations

import contextlib
import gzip
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from risk.common import settings
from stacks.config import runtime_environment
from stacks.ingestion_config import INGEST_QUEUE, ingestion_config
from tools.local.context import FakeLambdaContext
from tools.local.pipeline import LocalPipeline, SentRecord

PATHS = ("kinesis", "s3")


@dataclass
class InboxPath:
    pipeline: LocalPipeline
    bucket: str = ""
    queue_url: str = ""
    files: int = 0
    left_out: int = 0
    reports: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        resources = self.pipeline.resources
        cfg, region = resources.cfg, resources.region
        self.s3 = boto3.client("s3", region_name=region)
        self.sqs = boto3.client("sqs", region_name=region)
        self.bucket = f"{cfg.prefix}-inbox-local"
        self.s3.create_bucket(Bucket=self.bucket, CreateBucketConfiguration={"LocationConstraint": region})
        self.queue_url = self.sqs.create_queue(QueueName=cfg.queue_name(INGEST_QUEUE))["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]
        self.s3.put_bucket_notification_configuration(
            Bucket=self.bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": arn["QueueArn"],
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "inbox/"}]}},
                    }
                ]
            },
        )
        os.environ.update(
            runtime_environment(
                cfg,
                "ingest",
                {
                    settings.STREAM_NAME: resources.stream_name,
                    settings.ARCHIVE_BUCKET: resources.bucket,
                    settings.INGEST_QUEUE_URL: self.queue_url,
                },
            )
        )
        with contextlib.redirect_stdout(self.pipeline.log):  # its logger writes where the other handlers' do
            from risk.ingest import handler  # noqa: PLC0415 - after its environment is set

        handler._clients = None  # this run's clients (moto), not an earlier run's
        self.handler = handler
        files = ingestion_config(cfg.name).file_ingest
        self.context = FakeLambdaContext(cfg.function_name("ingest"), files.memory_mb, files.timeout_s, region=region)

    def put(self, records: Sequence[Any]) -> None:
        """One file of ``records`` (each with ``data``, ``event_id``, ``expected_reason``), then ingest it."""
        lines = [r for r in records if r.data.strip() and b"\n" not in r.data and b"\r" not in r.data]
        self.left_out += len(records) - len(lines)
        if not lines:
            return
        key = f"inbox/demo-{self.files:05d}.jsonl.gz"
        self.files += 1
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=gzip.compress(b"\n".join(r.data for r in lines) + b"\n"))
        self.pipeline.sent.extend(
            SentRecord(self.pipeline.parse.generation, "", "", r.data, r.event_id, r.expected_reason) for r in lines
        )
        self.drain()

    def drain(self) -> None:
        """Invoke the ingest function for every message on its queue (notifications, continuations)."""
        while messages := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=1).get("Messages"):
            (message,) = messages
            event = {
                "Records": [
                    {
                        "messageId": message["MessageId"],
                        "receiptHandle": message["ReceiptHandle"],
                        "body": message["Body"],
                        "eventSource": "aws:sqs",
                    }
                ]
            }
            response = self.handler.lambda_handler(event, self.context.fresh())
            if response.get("batchItemFailures"):
                raise RuntimeError(f"the file ingest failed on {message['Body'][:200]}: see the handler log")
            self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        done = self.s3.list_objects_v2(Bucket=self.bucket, Prefix="inbox/done/").get("Contents", [])
        self.reports = [o["Key"] for o in done if o["Key"].endswith(".report.json")]
