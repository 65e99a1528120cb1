"""The ways in besides PutRecords, run locally: the same records through the Entry stack's paths
(``--via s3``: :class:`InboxPath`; ``--via eventbridge``: :class:`EventBusPath`; ``--via http``:
:class:`WebhookPath`).

``--via s3`` (:class:`InboxPath`): the records go into a gzip JSON Lines file under ``inbox/`` of a
local inbox bucket; moto's S3 sends its notification to the ingest queue (as the stack wires it);
the **real** ingest handler reads each message, puts the file's valid lines on the stream and
quarantines the rest; the Kinesis poller and the other stages then run as for ``--via kinesis``.

A file is lines, so a record that cannot be one line of text (empty, or holding a line break, e.g. a
binary Avro record) cannot travel this way: such records are left out and counted
(``left_out``), never silently lost.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3

from risk.common import settings
from stacks.config import runtime_environment
from stacks.ingestion_config import (
    EVENT_BUS_SUFFIX,
    EVENT_DETAIL_TYPE,
    EVENT_INPUT_PATHS,
    EVENT_INPUT_TEMPLATE,
    EVENT_PARTITION_KEY_PATH,
    EVENT_PATTERN,
    EVENT_SOURCE,
    INGEST_QUEUE,
    WEBHOOK_STAGE,
    ingestion_config,
)
from tools.local.context import FakeLambdaContext
from tools.local.pipeline import LocalPipeline, SentRecord

PATHS = ("kinesis", "s3", "eventbridge", "http")


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


@dataclass
class EventBusPath:
    """``--via eventbridge``: PutEvents on a local bus with the stack's rule (pattern and input
    transformer from ``stacks.ingestion_config``). moto's EventBridge cannot deliver to Kinesis, so the
    rule's target here is a queue, and this stand-in does what the Kinesis target does: each
    transformed event onto the stream, with the partition key the target's path selects.

    A detail must be a JSON object: a record that is not one cannot be sent as an event and is left
    out (``left_out``).
    """

    pipeline: LocalPipeline
    left_out: int = 0
    events: int = 0

    def __post_init__(self) -> None:
        resources = self.pipeline.resources
        cfg, region = resources.cfg, resources.region
        self.events_client = boto3.client("events", region_name=region)
        self.sqs = boto3.client("sqs", region_name=region)
        self.bus = f"{cfg.prefix}-{EVENT_BUS_SUFFIX}"
        self.events_client.create_event_bus(Name=self.bus)
        self.queue_url = self.sqs.create_queue(QueueName=f"{cfg.prefix}-events-target-local")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]
        rule = f"{cfg.prefix}-events-to-stream"
        self.events_client.put_rule(Name=rule, EventBusName=self.bus, EventPattern=json.dumps(EVENT_PATTERN))
        self.events_client.put_targets(
            Rule=rule,
            EventBusName=self.bus,
            Targets=[
                {
                    "Id": "stream",
                    "Arn": arn["QueueArn"],
                    "InputTransformer": {"InputPathsMap": EVENT_INPUT_PATHS, "InputTemplate": EVENT_INPUT_TEMPLATE},
                }
            ],
        )

    def put(self, records: Sequence[Any]) -> None:
        """PutEvents (10 a call) of the records that are JSON objects, then deliver what the rule sends."""
        details: list[Any] = []
        for r in records:
            doc = _json_object(r.data)
            if doc is None:
                self.left_out += 1
            else:
                details.append((r, r.data.decode("utf-8")))
        for start in range(0, len(details), 10):
            part = details[start : start + 10]
            response = self.events_client.put_events(
                Entries=[
                    {"Source": EVENT_SOURCE, "DetailType": EVENT_DETAIL_TYPE, "Detail": text, "EventBusName": self.bus}
                    for _, text in part
                ]
            )
            if response["FailedEntryCount"]:
                raise RuntimeError(f"PutEvents refused {response['FailedEntryCount']} events")
            self.events += len(part)
        self._deliver([r for r, _ in details])

    def _deliver(self, sent: Sequence[Any]) -> None:
        """The Kinesis target's part: each transformed event, in order, onto the stream."""
        bodies: list[bytes] = []
        while messages := self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get("Messages"):
            bodies += [m["Body"].encode("utf-8") for m in messages]
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        if len(bodies) != len(sent):
            raise RuntimeError(f"the rule delivered {len(bodies)} of {len(sent)} events")
        keys = [partition_key(body) for body in bodies]
        placed = self.pipeline.put(bodies, keys, [None] * len(bodies))  # the event ids are read back below
        self.pipeline.sent[-len(placed) :] = [
            SentRecord(p.generation, p.shard_id, p.sequence_number, p.data, r.event_id, r.expected_reason)
            for p, r in zip(placed, sent, strict=True)
        ]


def partition_key(transformed: bytes) -> str:
    """What ``EVENT_PARTITION_KEY_PATH`` selects, evaluated as EventBridge does: on the event whose detail
    the transformer forwarded (a missing or empty user id: EventBridge fails the event to the DLQ)."""
    from jsonpath_ng.ext import parse  # noqa: PLC0415 - a moto dependency: local runs only

    matches = parse(EVENT_PARTITION_KEY_PATH).find({"detail": json.loads(transformed)})
    value = matches[0].value if matches else None
    return str(value) if value not in (None, "") else "missing-user-id"


def _json_object(data: bytes) -> dict[str, Any] | None:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


@dataclass
class WebhookPath:
    """``--via http``: each record is one signed webhook request (``POST /webhooks/{sender}``), handed
    to the **real** webhook handler as the API Gateway REST proxy event the stack's integration sends
    (moto cannot run API Gateway integrations). The senders' secret is a local Secrets Manager secret.

    A request with a bad event is refused whole (a 400 naming parse's reason), so such a record never
    reaches the stream: it is counted in ``refused`` by reason, never silently lost.
    """

    pipeline: LocalPipeline
    sender: str = "demo-sender"
    secret: str = "demo-secret"
    requests: int = 0
    refused: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        resources = self.pipeline.resources
        cfg, region = resources.cfg, resources.region
        secrets = boto3.client("secretsmanager", region_name=region)
        arn = secrets.create_secret(
            Name=f"{cfg.prefix}/webhook-senders", SecretString=json.dumps({self.sender: self.secret})
        )["ARN"]
        os.environ.update(
            runtime_environment(
                cfg, WEBHOOK_STAGE, {settings.STREAM_NAME: resources.stream_name, settings.WEBHOOK_SECRETS_ARN: arn}
            )
        )
        with contextlib.redirect_stdout(self.pipeline.log):
            from risk.ingest import webhook_handler  # noqa: PLC0415 - after its environment is set

        webhook_handler._clients = None  # this run's clients (moto), not an earlier run's
        self.handler = webhook_handler
        hook = ingestion_config(cfg.name).webhook
        self.context = FakeLambdaContext(
            cfg.function_name(WEBHOOK_STAGE), hook.memory_mb, hook.timeout_s, region=region
        )

    def put(self, records: Sequence[Any]) -> None:
        """One signed request per record; the accepted ones are on the stream when the handler answers."""
        from risk.ingest.webhook import signature  # noqa: PLC0415

        for r in records:
            event = webhook_request(self.sender, r.data, signature(self.secret, int(time.time()), r.data))
            response = self.handler.lambda_handler(event, self.context.fresh())
            self.requests += 1
            if response["statusCode"] == 200:
                self.pipeline.sent.append(
                    SentRecord(self.pipeline.parse.generation, "", "", r.data, r.event_id, r.expected_reason)
                )
            elif response["statusCode"] in (400, 413):
                reason = json.loads(response["body"])["error"]
                key = reason.split(": ")[1] if reason.startswith("event ") else reason
                self.refused[key] = self.refused.get(key, 0) + 1
            else:
                raise RuntimeError(f"the webhook answered {response['statusCode']}: {response['body']}")


def webhook_request(sender: str, body: bytes, signature_header: str | None) -> dict[str, Any]:
    """The REST API's proxy event for ``POST /webhooks/{sender}`` (the body base64, as API Gateway passes binary)."""
    headers = {"Content-Type": "application/x-ndjson"}
    if signature_header is not None:
        headers["X-Risk-Signature"] = signature_header
    return {
        "resource": "/webhooks/{sender}",
        "path": f"/webhooks/{sender}",
        "httpMethod": "POST",
        "headers": headers,
        "pathParameters": {"sender": sender},
        "requestContext": {"identity": {"sourceIp": "127.0.0.1", "userArn": None}},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }
