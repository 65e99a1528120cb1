"""Move a DLQ's messages back to their source queue.

In AWS: SQS ``StartMessageMoveTask`` (the service moves the messages, at a bounded rate, and the
task can be watched with ``ListMessageMoveTasks``). Where that API is unavailable (moto in process
raises NotImplementedError, a moto server answers 500, other stand-ins say UnsupportedOperation or
the like: see :func:`move_task_unavailable`), fall back to receive, re-send (body and message
attributes unchanged) and delete, ten at a time; a message is
deleted from the DLQ only after its copy was accepted, so a crash re-sends at most a batch, which
the idempotent score state and MERGE load absorb.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from tools.cli.errors import OperatorError

_UNSUPPORTED = {"NotImplemented", "UnknownOperation", "UnsupportedOperation", "InvalidAction", "501", "404", "500"}
SAMPLE_CHARS = 160


@dataclass
class RedriveResult:
    source_url: str
    destination_url: str | None
    method: str  # "move-task", "resend" or "dry-run"
    messages: int = 0
    task_handle: str | None = None
    samples: list[str] = field(default_factory=list)


def queue_url(sqs: Any, name_or_url: str) -> str:
    if name_or_url.startswith("https://") or name_or_url.startswith("http://"):
        return name_or_url
    return str(sqs.get_queue_url(QueueName=name_or_url)["QueueUrl"])


def queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def source_queue_of(sqs: Any, dlq_url: str) -> str:
    """The queue whose redrive policy points at this DLQ (exactly one, or the caller must say)."""
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    if len(sources) != 1:
        raise OperatorError(f"{dlq_url} is the DLQ of {len(sources)} queues: pass --to QUEUE")
    return str(sources[0])


def depth(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def _peek(sqs: Any, url: str, limit: int) -> list[str]:
    """A few message bodies for the dry run; they become visible again at once."""
    response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(limit, 10), VisibilityTimeout=30)
    messages = response.get("Messages", [])
    if messages:
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages)
            ],
        )
    return [m["Body"][:SAMPLE_CHARS] for m in messages]


def redrive(
    sqs: Any,
    dlq: str,
    destination: str | None = None,
    *,
    dry_run: bool = False,
    max_per_second: int | None = None,
) -> RedriveResult:
    source = queue_url(sqs, dlq)
    target = queue_url(sqs, destination) if destination else source_queue_of(sqs, source)
    if dry_run:
        return RedriveResult(source, target, "dry-run", depth(sqs, source), samples=_peek(sqs, source, 3))
    count = depth(sqs, source)
    try:
        options: dict[str, Any] = {"SourceArn": queue_arn(sqs, source), "DestinationArn": queue_arn(sqs, target)}
        if max_per_second:
            options["MaxNumberOfMessagesPerSecond"] = max_per_second
        handle = sqs.start_message_move_task(**options)["TaskHandle"]
        return RedriveResult(source, target, "move-task", count, task_handle=handle)
    except ClientError as exc:
        if not move_task_unavailable(exc):
            raise
    except NotImplementedError:
        pass
    return RedriveResult(source, target, "resend", resend(sqs, source, target))


def move_task_unavailable(exc: ClientError) -> bool:
    """The endpoint does not offer StartMessageMoveTask (or fails on it every retry): re-send instead.

    A server error is taken as "unavailable" too: re-sending is always correct (deletion follows
    an accepted copy), only slower, and the idempotent score state and MERGE load absorb a copy.
    """
    code = str(exc.response.get("Error", {}).get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
    return code in _UNSUPPORTED or status >= 500


_FIFO_ATTRIBUTES = ("MessageGroupId", "MessageDeduplicationId")


def resend(sqs: Any, source: str, target: str) -> int:
    """Receive from ``source``, send the same body and attributes to ``target``, then delete."""
    moved = 0
    while True:
        messages = sqs.receive_message(
            QueueUrl=source,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
            AttributeNames=list(_FIFO_ATTRIBUTES),
        ).get("Messages", [])
        if not messages:
            return moved
        entries = []
        for i, m in enumerate(messages):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": m["Body"]}
            if m.get("MessageAttributes"):
                entry["MessageAttributes"] = m["MessageAttributes"]
            # From a FIFO DLQ (parsed-dlq.fifo): the same group, so the events keep their user's order.
            entry.update({k: v for k, v in m.get("Attributes", {}).items() if k in _FIFO_ATTRIBUTES})
            entries.append(entry)
        response = sqs.send_message_batch(QueueUrl=target, Entries=entries)
        sent = {e["Id"] for e in response.get("Successful", [])}
        done = [m for i, m in enumerate(messages) if str(i) in sent]
        if done:
            sqs.delete_message_batch(
                QueueUrl=source,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        moved += len(done)
        if len(done) < len(messages):
            failed = response.get("Failed", [])
            raise OperatorError(f"SendMessageBatch rejected {len(failed)} messages: {failed[:3]}; rerun to continue")
