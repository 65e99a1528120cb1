"""The pollers keep Lambda's event-source semantics (checked with small handlers written for the test)."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import random
from typing import Any

import boto3
import pytest

from stacks.config import EnvironmentConfig
from tools.local.context import FakeLambdaContext
from tools.local.kinesis import KinesisPoller, RawArchiver
from tools.local.provision import LocalResources
from tools.local.sqs import SqsPoller, _vary_order


class Recorder:
    """A handler that records what it saw and fails as told."""

    def __init__(self, fail: Any = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self.fail = fail

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        self.calls.append(event["Records"])
        assert context.get_remaining_time_in_millis() > 0
        return self.fail(event["Records"], len(self.calls)) if self.fail else {"batchItemFailures": []}


def _put(resources: LocalResources, payloads: list[bytes], key: str = "one-shard") -> list[str]:
    kinesis = boto3.client("kinesis", region_name=resources.region)
    response = kinesis.put_records(
        StreamName=resources.stream_name, Records=[{"Data": p, "PartitionKey": key} for p in payloads]
    )
    return [r["SequenceNumber"] for r in response["Records"]]


def _kinesis_poller(resources: LocalResources, cfg: EnvironmentConfig, handler: Any, **source: Any) -> KinesisPoller:
    return KinesisPoller(
        boto3.client("kinesis", region_name=resources.region),
        boto3.client("sqs", region_name=resources.region),
        stream_name=resources.stream_name,
        stream_arn=resources.stream_arn,
        source=dataclasses.replace(cfg.kinesis_source, **source),
        handler=handler,
        context=FakeLambdaContext("parse", 512, 60),
        on_failure_queue_url=resources.queue_urls["parse-failures"],
    )


def _drain(poller: Any) -> None:
    while poller.poll_once():
        pass


def _failure_records(resources: LocalResources) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=resources.region)
    messages = sqs.receive_message(QueueUrl=resources.queue_urls["parse-failures"], MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in messages.get("Messages", [])]


def _data(records: list[dict[str, Any]]) -> list[bytes]:
    return [base64.b64decode(r["kinesis"]["data"]) for r in records]


def test_kinesis_event_has_lambdas_shape(resources: LocalResources, cfg: EnvironmentConfig) -> None:
    _put(resources, [b"a"])
    handler = Recorder()
    _drain(_kinesis_poller(resources, cfg, handler))
    (record,) = handler.calls[0]
    assert record["eventSource"] == "aws:kinesis"
    assert record["eventSourceARN"] == resources.stream_arn
    assert record["eventID"].startswith("shardId-")
    assert record["kinesis"]["partitionKey"] == "one-shard"
    assert isinstance(record["kinesis"]["approximateArrivalTimestamp"], float)
    assert _data([record]) == [b"a"]


def test_kinesis_partial_failure_resumes_from_lowest_failed_sequence(
    resources: LocalResources, cfg: EnvironmentConfig
) -> None:
    payloads = [f"r{i}".encode() for i in range(10)]
    sequence = _put(resources, payloads)

    def fail_6_then_3_once(records: list[dict[str, Any]], call: int) -> dict[str, Any]:
        if call == 1:  # report two failures: the retry must start at the lower one (r3)
            return {"batchItemFailures": [{"itemIdentifier": sequence[6]}, {"itemIdentifier": sequence[3]}]}
        return {"batchItemFailures": []}

    handler = Recorder(fail_6_then_3_once)
    _drain(_kinesis_poller(resources, cfg, handler))
    assert [_data(c) for c in handler.calls] == [payloads, payloads[3:]]
    assert _failure_records(resources) == []


def test_kinesis_bisects_on_error_and_sends_the_poison_record_to_the_on_failure_queue(
    resources: LocalResources, cfg: EnvironmentConfig
) -> None:
    payloads = [f"r{i}".encode() for i in range(8)]
    sequence = _put(resources, payloads)

    def crash_on_poison(records: list[dict[str, Any]], call: int) -> dict[str, Any]:
        if b"r5" in _data(records):
            raise RuntimeError("poison")
        return {"batchItemFailures": []}

    handler = Recorder(crash_on_poison)
    poller = _kinesis_poller(resources, cfg, handler, retry_attempts=3, bisect_on_error=True)
    _drain(poller)
    succeeded = [d for c in handler.calls if b"r5" not in _data(c) for d in _data(c)]
    assert sorted(succeeded) == sorted(p for p in payloads if p != b"r5")  # each neighbour exactly once
    (failure,) = _failure_records(resources)
    info = failure["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"], info["batchSize"]) == (sequence[5], sequence[5], 1)
    assert info["streamArn"] == resources.stream_arn
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert poller.stats.records_abandoned == 1


def test_kinesis_without_bisect_retries_the_whole_batch_then_gives_it_up(
    resources: LocalResources, cfg: EnvironmentConfig
) -> None:
    _put(resources, [b"a", b"b", b"c"])

    def always(records: list[dict[str, Any]], call: int) -> dict[str, Any]:
        raise RuntimeError("down")

    handler = Recorder(always)
    _drain(_kinesis_poller(resources, cfg, handler, retry_attempts=2, bisect_on_error=False))
    assert [len(c) for c in handler.calls] == [3, 3, 3]  # the first attempt and two retries
    (failure,) = _failure_records(resources)
    assert failure["KinesisBatchInfo"]["batchSize"] == 3
    assert failure["requestContext"]["approximateInvokeCount"] == 3


def test_kinesis_records_older_than_max_age_skip_the_function(
    resources: LocalResources, cfg: EnvironmentConfig
) -> None:
    _put(resources, [b"old"])
    handler = Recorder()
    poller = _kinesis_poller(resources, cfg, handler)
    poller.clock = lambda: 4_000_000_000.0  # far beyond max_record_age_s after the arrival
    _drain(poller)
    assert handler.calls == []
    (failure,) = _failure_records(resources)
    assert failure["requestContext"]["condition"] == "RecordAgeExceeded"


def test_kinesis_batches_follow_the_configured_batch_size(resources: LocalResources, cfg: EnvironmentConfig) -> None:
    _put(resources, [f"r{i}".encode() for i in range(7)])
    handler = Recorder()
    _drain(_kinesis_poller(resources, cfg, handler, batch_size=3))
    assert [len(c) for c in handler.calls] == [3, 3, 1]


def test_raw_archiver_writes_gzip_json_lines_under_the_arrival_hour(
    resources: LocalResources, cfg: EnvironmentConfig
) -> None:
    _put(resources, [b"\xc3\x01binary", b'{"a":1}'])
    poller = _kinesis_poller(resources, cfg, Recorder())
    s3 = boto3.client("s3", region_name=resources.region)
    poller.archiver = RawArchiver(s3, resources.bucket, resources.stream_name)
    _drain(poller)
    (obj,) = s3.list_objects_v2(Bucket=resources.bucket, Prefix="raw/")["Contents"]
    assert obj["Key"].startswith("raw/year=") and "/hour=" in obj["Key"]
    head = s3.head_object(Bucket=resources.bucket, Key=obj["Key"])
    assert head["ServerSideEncryption"] == "aws:kms"
    lines = gzip.decompress(s3.get_object(Bucket=resources.bucket, Key=obj["Key"])["Body"].read()).splitlines()
    assert [base64.b64decode(json.loads(line)["data_b64"]) for line in lines] == [b"\xc3\x01binary", b'{"a":1}']


def _sqs_poller(resources: LocalResources, handler: Any) -> SqsPoller:
    """A poller on the standard queue "scored" (the FIFO "parsed" queue has its own tests)."""
    return SqsPoller(
        boto3.client("sqs", region_name=resources.region),
        queue_url=resources.queue_urls["scored"],
        queue_arn=resources.queue_arns["scored"],
        batch_size=10,
        handler=handler,
        context=FakeLambdaContext("score", 1024, 60),
    )


def _send(resources: LocalResources, bodies: list[str]) -> None:
    sqs = boto3.client("sqs", region_name=resources.region)
    sqs.send_message_batch(
        QueueUrl=resources.queue_urls["scored"],
        Entries=[
            {"Id": str(i), "MessageBody": b, "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}
            for i, b in enumerate(bodies)
        ],
    )


def _count(resources: LocalResources, key: str) -> int:
    sqs = boto3.client("sqs", region_name=resources.region)
    attributes = sqs.get_queue_attributes(QueueUrl=resources.queue_urls[key], AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_sqs_event_has_lambdas_shape(resources: LocalResources) -> None:
    _send(resources, ["hello"])
    handler = Recorder()
    _drain(_sqs_poller(resources, handler))
    (record,) = handler.calls[0]
    assert record["body"] == "hello"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["k"]["stringValue"] == "v"
    assert record["messageAttributes"]["k"]["dataType"] == "String"
    assert record["md5OfBody"] == "5d41402abc4b2a76b9719d911017c592"
    assert (record["eventSource"], record["eventSourceARN"], record["awsRegion"]) == (
        "aws:sqs",
        resources.queue_arns["scored"],
        resources.region,
    )
    assert _count(resources, "scored") == 0  # deleted after success


def test_sqs_partial_failure_retries_only_the_failed_messages_then_the_dlq_takes_them(
    resources: LocalResources, cfg: EnvironmentConfig
) -> None:
    _send(resources, ["good-1", "bad", "good-2"])

    def fail_bad(records: list[dict[str, Any]], call: int) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if r["body"] == "bad"]}

    handler = Recorder(fail_bad)
    _drain(_sqs_poller(resources, handler))
    bodies = [[r["body"] for r in c] for c in handler.calls]
    assert sorted(bodies[0]) == ["bad", "good-1", "good-2"]
    assert bodies[1:] == [["bad"]] * (cfg.queues.max_receive_count - 1)  # then redrive moves it
    assert [c[0]["attributes"]["ApproximateReceiveCount"] for c in handler.calls[1:]] == [
        str(n) for n in range(2, cfg.queues.max_receive_count + 1)
    ]
    assert (_count(resources, "scored"), _count(resources, "scored-dlq")) == (0, 1)


def test_sqs_exception_fails_the_whole_batch(resources: LocalResources, cfg: EnvironmentConfig) -> None:
    _send(resources, ["a", "b"])

    def crash(records: list[dict[str, Any]], call: int) -> dict[str, Any]:
        raise RuntimeError("warehouse down")

    poller = _sqs_poller(resources, Recorder(crash))
    _drain(poller)
    assert poller.stats.function_errors == cfg.queues.max_receive_count
    assert _count(resources, "scored-dlq") == 2


@pytest.mark.parametrize("identifier", ["not-a-message-id", ""])
def test_sqs_unknown_item_identifier_fails_the_batch(resources: LocalResources, identifier: str) -> None:
    _send(resources, ["a"])
    poller = _sqs_poller(
        resources,
        Recorder(
            lambda records, call: (
                {"batchItemFailures": [{"itemIdentifier": identifier}]} if call == 1 else {"batchItemFailures": []}
            )
        ),
    )
    _drain(poller)
    assert (poller.stats.failed, poller.stats.deleted) == (1, 1)


# ------------------------------------------------------------------ the FIFO parsed queue
def _send_fifo(resources: LocalResources, messages: list[tuple[str, str]]) -> None:
    sqs = boto3.client("sqs", region_name=resources.region)
    for body, group in messages:
        sqs.send_message(
            QueueUrl=resources.queue_urls["parsed"], MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body
        )


def _fifo_poller(resources: LocalResources, handler: Any, delivery: random.Random | None = None) -> SqsPoller:
    return SqsPoller(
        boto3.client("sqs", region_name=resources.region),
        queue_url=resources.queue_urls["parsed"],
        queue_arn=resources.queue_arns["parsed"],
        batch_size=10,
        handler=handler,
        context=FakeLambdaContext("score", 1024, 60),
        delivery=delivery,
    )


def test_parsed_queue_is_fifo_and_holds_a_group_while_its_messages_are_in_flight(resources: LocalResources) -> None:
    assert resources.queue_urls["parsed"].endswith(".fifo") and resources.queue_urls["parsed-dlq"].endswith(".fifo")
    _send_fifo(resources, [("a1", "A"), ("a2", "A"), ("b1", "B"), ("a1", "A")])  # the 2nd a1: deduplicated
    sqs = boto3.client("sqs", region_name=resources.region)
    url = resources.queue_urls["parsed"]
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    second = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in first] == ["a1"]
    assert [m["Body"] for m in second] == ["b1"]  # a2 waits until a1 is deleted or visible again


def test_fifo_records_carry_the_group_and_keep_its_order(resources: LocalResources) -> None:
    _send_fifo(resources, [(f"{g}{k}", g) for k in range(4) for g in "AB"])
    handler = Recorder()
    _drain(_fifo_poller(resources, handler))
    records = [r for call in handler.calls for r in call]
    assert {r["attributes"]["MessageGroupId"] for r in records} == {"A", "B"}
    assert all("SequenceNumber" in r["attributes"] for r in records)
    for g in "AB":
        assert [r["body"] for r in records if r["attributes"]["MessageGroupId"] == g] == [f"{g}{k}" for k in range(4)]


def test_a_delivery_seed_varies_batches_and_redelivers_but_keeps_each_group_in_order(
    resources: LocalResources,
) -> None:
    _send_fifo(resources, [(f"{g}{k:02d}", g) for k in range(30) for g in "ABC"])
    handler = Recorder()
    poller = _fifo_poller(resources, handler, random.Random(5))
    _drain(poller)
    records = [r["body"] for call in handler.calls for r in call]
    assert len({len(call) for call in handler.calls}) > 1  # batch shapes vary
    assert poller.stats.redelivered > 0 and len(records) == 90 + poller.stats.redelivered
    for g in "ABC":  # first deliveries in each group's order; a redelivery is a lost delete, later
        assert list(dict.fromkeys(b for b in records if b.startswith(g))) == [f"{g}{k:02d}" for k in range(30)]
    interleaved = [b[0] for call in handler.calls for b in (r["body"] for r in call)]
    assert len(set(interleaved)) > 1 and interleaved != sorted(interleaved)  # groups interleave


def test_without_a_delivery_seed_order_is_the_queues_and_with_one_it_is_reproducible() -> None:
    messages = [{"MessageId": str(k), "Attributes": {"MessageGroupId": "AB"[k % 2]}} for k in range(10)]
    assert _vary_order(messages, random.Random(1)) == _vary_order(messages, random.Random(1))
    varied = _vary_order(messages, random.Random(1))
    assert [m["MessageId"] for m in varied if m["Attributes"]["MessageGroupId"] == "A"] == ["0", "2", "4", "6", "8"]
    standard = [{"MessageId": str(k), "Attributes": {}} for k in range(10)]
    assert sorted(m["MessageId"] for m in _vary_order(standard, random.Random(2))) == sorted(str(k) for k in range(10))
    assert _vary_order(standard, random.Random(2)) != standard  # standard queues: any order
