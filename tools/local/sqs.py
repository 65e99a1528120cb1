"""An SQS event-source poller with Lambda's semantics.

ReceiveMessage up to the function's batch size, invoke the handler with a real SQS event (attributes
with ``ApproximateReceiveCount``, ``messageAttributes``, ``md5OfBody``, ``eventSourceARN``,
``awsRegion``), delete what succeeded, and leave what failed (every message on an exception, the
listed ones with ``ReportBatchItemFailures``) on the queue. After ``maxReceiveCount`` receives the
queue's redrive policy moves a message to its DLQ (moto implements that on receive).

One local shortcut, documented in docs/local-run.md: instead of waiting for the visibility timeout
(minutes, from the config) a failed message is made visible again at once with
ChangeMessageVisibility(0). The number of attempts, and so the path to the DLQ, is unchanged.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tools.local.context import FakeLambdaContext

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass
class SqsStats:
    received: int = 0
    deleted: int = 0
    failed: int = 0
    invocations: int = 0
    function_errors: int = 0


def _message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS API shape -> Lambda event shape (lower-camel keys, list fields present)."""
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        item: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
        if "StringValue" in value:
            item["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            import base64  # noqa: PLC0415

            item["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        out[name] = item
    return out


def event_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One element of a Lambda SQS event's ``Records``."""
    attributes = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
            "SentTimestamp": attributes.get("SentTimestamp", "0"),
            "SenderId": attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
            "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
        },
        "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


class SqsPoller:
    def __init__(
        self,
        sqs: Any,
        *,
        queue_url: str,
        queue_arn: str,
        batch_size: int,
        handler: Handler,
        context: FakeLambdaContext,
        invoke_wrapper: Callable[[Callable[[], Any]], Any] | None = None,
        fast_retry: bool = True,
    ) -> None:
        self.sqs, self.queue_url, self.queue_arn = sqs, queue_url, queue_arn
        self.batch_size = min(batch_size, 10)  # one ReceiveMessage returns at most 10
        self.handler, self.context = handler, context
        self.invoke_wrapper = invoke_wrapper or (lambda call: call())
        self.fast_retry = fast_retry
        self.stats = SqsStats()
        self.last_error: str | None = None

    def poll_once(self) -> int:
        """Receive one batch and invoke the function with it; returns the number of messages received."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        self.stats.received += len(messages)
        context = self.context.fresh()
        event = {"Records": [event_record(m, self.queue_arn, context.region) for m in messages]}
        self.stats.invocations += 1
        try:
            response = self.invoke_wrapper(lambda: self.handler(event, context))
            failed_ids = {str(f.get("itemIdentifier")) for f in (response or {}).get("batchItemFailures") or []}
            known = {m["MessageId"] for m in messages}
            if not failed_ids <= known:  # Lambda treats an unknown identifier as a failed batch
                failed_ids = known
        except Exception:
            self.stats.function_errors += 1
            self.last_error = traceback.format_exc()
            failed_ids = {m["MessageId"] for m in messages}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        failed = [m for m in messages if m["MessageId"] in failed_ids]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
            self.stats.deleted += len(done)
        if failed:
            self.stats.failed += len(failed)
            if self.fast_retry:
                self.sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                        for i, m in enumerate(failed)
                    ],
                )
        return len(messages)
