"""Drill: the parse function fails part of a batch (SQS rejects one SendMessageBatch entry, transiently).

The partial batch response names only the records of the message that was not sent; Lambda's
Kinesis semantics resume from the lowest of them. The parsed queue is FIFO, packed per message
group, so the failed message (the last of its group) holds records interleaved with other groups':
the retry starts at its first record, re-sends what followed it (duplicates the score stage's state
recognises), and every event is still loaded once.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from tests.drills.conftest import events, put_events, warehouse_ids
from tools.local.pipeline import LocalPipeline


class RejectEntries:
    """A botocore before-call hook: SQS answers 'InternalError' for the entries carrying ``marker``.

    The other entries of the call are sent for real (through a client without the hook), so the
    function sees what SQS returns when it fails part of a batch.
    """

    def __init__(self, marker: str, queue_suffix: str, region: str) -> None:
        self.marker, self.queue_suffix = marker, queue_suffix
        self.clean = boto3.session.Session(region_name=region).client("sqs")
        self.armed = True
        self.rejected_bodies: list[str] = []

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]] | None:
        body = json.loads(params["body"])
        if not self.armed or not body.get("QueueUrl", "").endswith(self.queue_suffix):
            return None
        entries = body["Entries"]
        bad = [e for e in entries if self.marker in e["MessageBody"]]
        if not bad:
            return None
        good = [e for e in entries if e not in bad]
        response: dict[str, Any] = {"Successful": [], "Failed": []}
        if good:
            response = self.clean.send_message_batch(QueueUrl=body["QueueUrl"], Entries=good)
            response.setdefault("Failed", [])
        self.rejected_bodies += [e["MessageBody"] for e in bad]
        response["Failed"] += [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "injected by the drill"}
            for e in bad
        ]
        return AWSResponse(body["QueueUrl"], 200, {}, None), response


@pytest.fixture
def default_session_events() -> Iterator[Any]:
    """boto3's default session, fresh, whose event hooks the functions' clients inherit."""
    boto3.setup_default_session()
    yield boto3.DEFAULT_SESSION.events  # type: ignore[union-attr]
    boto3.DEFAULT_SESSION = None


def test_partial_failure_retries_only_what_was_not_done(
    make_pipeline: Callable[..., LocalPipeline], pg_dsn: str, default_session_events: Any
) -> None:
    batch = events(500, seed=12)
    for e in batch:  # ~1 KB each, so one Kinesis batch of 500 makes several SQS messages
        e["metadata"] = {**e.get("metadata", {}), "note": "x" * 600}
    pipeline = make_pipeline(pg_dsn, shards=1)
    hook = RejectEntries(batch[-1]["event_id"], "-parsed.fifo", pipeline.resources.region)
    default_session_events.register("before-call.sqs.SendMessageBatch", hook)

    seen: list[list[str]] = []
    real = pipeline.parse.handler

    def parse(event: dict[str, Any], context: Any) -> Any:
        seen.append([json.loads(base64.b64decode(r["kinesis"]["data"]))["event_id"] for r in event["Records"]])
        try:
            return real(event, context)
        finally:
            hook.armed = False  # the failure was transient: the retry goes through

    pipeline.parse.handler = parse
    put_events(pipeline, batch)
    pipeline.drain()

    assert len(hook.rejected_bodies) >= 1
    rejected = {item["event_id"] for body in hook.rejected_bodies for item in json.loads(body)["items"]}
    assert 0 < len(rejected) < len(batch)  # mid-batch: some messages went, one did not
    first, retry = seen
    assert first == [e["event_id"] for e in batch]
    assert set(retry) >= rejected  # the unsent message's records came back, from the lowest of them
    assert retry == first[-len(retry) :] and len(retry) < len(batch)
    resent = len(retry) - len(rejected)  # records after it, of other groups, sent twice
    assert pipeline.metrics.totals["EventsParsed"] == len(batch) + resent
    # Each copy is dropped by SQS (a body packed alike: same deduplication id) or recognised by the state.
    assert 0 < pipeline.metrics.totals.get("DuplicateEventsSkipped", 0) <= resent
    ids = warehouse_ids(pg_dsn)
    assert len(ids) == len(set(ids)) == len(batch)
