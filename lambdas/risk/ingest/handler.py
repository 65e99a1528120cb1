"""Lambda entry point of the file ingest (SQS: S3 notifications of inbox/ and continuations -> Kinesis).

Thin on purpose: the flow is :func:`risk.ingest.service.ingest_file`. The queue's mapping hands over
one message at a time; a file not finished in this invocation is continued by a message this
function puts back on its own queue (``INGEST_QUEUE_URL``), so each invocation resumes from the
checkpoint instead of starting over. A message whose file fails with an AWS error is reported in
``batchItemFailures``: SQS redelivers it (then its DLQ), and it too resumes from the checkpoint.
"""

from __future__ import annotations

import os
from typing import Any

import orjson
from aws_lambda_powertools import Logger, Tracer

from risk.common import aws, telemetry
from risk.common.settings import ENVIRONMENT, INGEST_QUEUE_URL, env
from risk.ingest.service import IngestDependencies, continuation, files_of_message, ingest_file

logger = Logger(service=telemetry.SERVICE)
tracer = Tracer(service=telemetry.SERVICE, patch_modules=telemetry.TRACED_MODULES)

_clients: tuple[IngestDependencies, Any] | None = None  # once per container


def clients() -> tuple[IngestDependencies, Any]:
    global _clients  # noqa: PLW0603 - the container-wide cache is the point
    if _clients is None:
        _clients = (IngestDependencies.from_environment(), aws.client("sqs"))
    return _clients


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    logger.append_keys(environment=os.environ.get(ENVIRONMENT, "local"))
    deps, sqs = clients()
    failures: list[dict[str, str]] = []
    for message in event.get("Records", []):
        try:
            refs = files_of_message(message["body"])
        except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            logger.error("message names no file: dropped", message_id=message.get("messageId"))
            continue
        for ref in refs:
            try:
                outcome = ingest_file(
                    deps, ref.bucket, ref.key, time_left_s=lambda: context.get_remaining_time_in_millis() / 1000
                )
                if outcome.status == "continue":
                    sqs.send_message(QueueUrl=env(INGEST_QUEUE_URL), MessageBody=continuation(ref))
            except Exception:  # an AWS failure: redelivered, resumed from the checkpoint
                logger.exception("file ingest interrupted: the message is retried", key=ref.key)
                failures.append({"itemIdentifier": message["messageId"]})
                break
            logger.info(
                "file ingest",
                key=ref.key,
                status=outcome.status,
                detail=outcome.detail,
                events_sent=outcome.sent_now,
                quarantined=dict(outcome.quarantined_now),
                report=outcome.report_key,
            )
    return {"batchItemFailures": failures}
