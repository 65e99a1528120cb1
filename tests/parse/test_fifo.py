"""Parse onto the FIFO parsed queue: one group per message, each user's events in stream order,
deduplication ids deterministic from the events (moto's FIFO queue)."""

from __future__ import annotations

from typing import Any

from risk.common import fifo
from risk.common.envelope import unpack
from risk.events.codec import encode_json
from risk.parse import service
from risk.parse.service import ParseDependencies
from tests.parse.conftest import Aws, kinesis_event, valid_event

GROUPS = 4


def _fifo_deps(aws: Aws) -> ParseDependencies:
    url = aws.sqs.create_queue(
        QueueName="risk-scoring-test-parsed.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false", "DeduplicationScope": "messageGroup"},
    )["QueueUrl"]
    return ParseDependencies(s3=aws.s3, sqs=aws.sqs, bucket=aws.bucket, queue_url=url, message_groups=GROUPS)


def _drain(aws: Aws, url: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while True:
        got = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not got:
            return out
        out.extend(got)
        aws.sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        )


def test_events_travel_in_one_group_per_message_in_stream_order_and_a_retry_is_deduplicated(aws: Aws) -> None:
    deps = _fifo_deps(aws)
    users = [f"user-{k}" for k in range(10)]
    docs = [valid_event(event_id=f"evt-{i:03d}", user_id=users[i * 7 % 10]) for i in range(60)]
    records = kinesis_event([encode_json(d) for d in docs])["Records"]
    outcome = service.process_batch(records, deps, sleep=lambda _: None)
    assert outcome.failed == [] and outcome.published_events == 60
    assert outcome.messages == len({fifo.message_group(u, GROUPS) for u in users})  # one message per group here
    # Kinesis retries the batch (say the function timed out after sending): SQS drops the copies
    # (within its 5-minute window; moto checks the messages still queued).
    service.process_batch(records, deps, sleep=lambda _: None)
    messages = _drain(aws, deps.queue_url)
    assert len(messages) == outcome.messages
    seen: dict[str, list[str]] = {}
    for m in messages:
        items = unpack(m["Body"])
        group = m["Attributes"]["MessageGroupId"]
        assert {fifo.message_group(i["user_id"], GROUPS) for i in items} == {group}
        assert m["Attributes"]["MessageDeduplicationId"] == fifo.deduplication_id(i["event_id"] for i in items)
        for i in items:
            seen.setdefault(i["user_id"], []).append(i["event_id"])
    for user in users:  # each user's events in the stream's order
        assert seen[user] == [d["event_id"] for d in docs if d["user_id"] == user]


def test_a_failed_body_holds_the_rest_of_its_group_back(aws: Aws, monkeypatch: Any) -> None:
    deps = _fifo_deps(aws)
    monkeypatch.setattr(service, "pack_encoded", _one_event_per_body(service.pack_encoded))
    docs = [valid_event(event_id=f"evt-{i}", user_id="user-1") for i in range(3)]
    docs.append(valid_event(event_id="other", user_id="user-2"))
    original = service.publish.send_all_with_faults
    calls = {"n": 0}

    def fail_first_round(*args: Any, **kwargs: Any) -> tuple[dict[int, str], set[int]]:
        calls["n"] += 1
        if calls["n"] == 1:  # the first body of every group fails (after its retries)
            return {0: "Throttled"}, set()
        return original(*args, **kwargs)

    monkeypatch.setattr(service.publish, "send_all_with_faults", fail_first_round)
    records = kinesis_event([encode_json(d) for d in docs])["Records"]
    outcome = service.process_batch(records, deps, sleep=lambda _: None)
    sent = [i["event_id"] for m in _drain(aws, deps.queue_url) for i in unpack(m["Body"])]
    assert "evt-1" not in sent and "evt-2" not in sent  # never overtaking evt-0
    assert set(outcome.failed) >= {r["kinesis"]["sequenceNumber"] for r in records[:3]}


def _one_event_per_body(pack: Any) -> Any:
    def packed(items: Any) -> Any:
        for item in items:
            yield from pack([item])

    return packed
