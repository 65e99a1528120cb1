"""An SQS event-source poller with Lambda's semantics.

ReceiveMessage up to the function's batch size, invoke the handler with a real SQS event (attributes
with ``ApproximateReceiveCount``, ``messageAttributes``, ``md5OfBody``, ``eventSourceARN``,
``awsRegion``), delete what succeeded, and leave what failed (every message on an exception, the
listed ones with ``ReportBatchItemFailures``) on the queue. After ``maxReceiveCount`` receives the
queue's redrive policy moves a message to its DLQ (moto implements that on receive).

FIFO queues are delivered as SQS delivers them (moto implements it): in order within a message
group, a group held while any of its messages is in flight, and the records carry
``MessageGroupId``, ``MessageDeduplicationId`` and ``SequenceNumber``.

With a ``delivery`` random generator (``make demo --delivery-seed N``) the poller varies what SQS
and Lambda may vary, reproducibly: batch sizes, the order of a batch (standard queues: shuffled;
FIFO queues: groups interleaved, each group's order kept) and a fraction of processed messages
redelivered once (as if their delete was lost). Without it, delivery is deterministic.

One local shortcut, documented in docs/local-run.md: instead of waiting for the visibility timeout
(minutes, from the config) a failed message is made visible again at once with
ChangeMessageVisibility(0). The number of attempts, and so the path to the DLQ, is unchanged.
"""

from __future__ import annotations

import random
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
    redelivered: int = 0  # processed, then delivered again on purpose (delivery seed)


REDELIVERY_FRACTION = 0.05  # of the messages processed, with a delivery seed
FIFO_ATTRIBUTES = ("MessageGroupId", "MessageDeduplicationId", "SequenceNumber")


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
    record_attributes = {
        "ApproximateReceiveCount": attributes.get("ApproximateReceiveCount", "1"),
        "SentTimestamp": attributes.get("SentTimestamp", "0"),
        "SenderId": attributes.get("SenderId", "AIDAIENQZJOLO23YVJ4VO"),
        "ApproximateFirstReceiveTimestamp": attributes.get("ApproximateFirstReceiveTimestamp", "0"),
    }
    record_attributes.update({k: attributes[k] for k in FIFO_ATTRIBUTES if k in attributes})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": record_attributes,
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
        delivery: random.Random | None = None,
    ) -> None:
        self.sqs, self.queue_url, self.queue_arn = sqs, queue_url, queue_arn
        self.batch_size = min(batch_size, 10)  # one ReceiveMessage returns at most 10
        self.handler, self.context = handler, context
        self.invoke_wrapper = invoke_wrapper or (lambda call: call())
        self.fast_retry = fast_retry
        self.delivery = delivery
        self.redelivered_ids: set[str] = set()  # each message is redelivered on purpose at most once
        self.stats = SqsStats()
        self.last_error: str | None = None

    def poll_once(self) -> int:
        """Receive one batch and invoke the function with it; returns the number of messages received."""
        rng = self.delivery
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size if rng is None else rng.randint(1, self.batch_size),
            WaitTimeSeconds=0,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        if rng is not None:
            messages = _vary_order(messages, rng)
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
        if rng is not None:  # a lost delete: processed, then delivered again
            again = [
                m for m in done if m["MessageId"] not in self.redelivered_ids and rng.random() < REDELIVERY_FRACTION
            ]
            self.redelivered_ids.update(m["MessageId"] for m in again)
            self.stats.redelivered += len(again)
            done = [m for m in done if m not in again]
        else:
            again = []
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
            self.stats.deleted += len(done)
        self.stats.failed += len(failed)
        visible_now = (failed if self.fast_retry else []) + again
        if visible_now:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(visible_now)
                ],
            )
        return len(messages)


def _vary_order(messages: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """A batch's order as SQS may give it: shuffled, except that each FIFO group keeps its order."""
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for m in messages:
        group = m.get("Attributes", {}).get("MessageGroupId")
        groups.setdefault(group if group is not None else m["MessageId"], []).append(m)
    lanes = list(groups.values())
    out: list[dict[str, Any]] = []
    while lanes:
        lane = rng.choice(lanes)
        out.append(lane.pop(0))
        if not lane:
            lanes.remove(lane)
    return out
