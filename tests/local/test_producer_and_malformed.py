"""Batched PutRecords retries only what was rejected; the malformed generator covers every kind it claims."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber

from risk.events.reasons import Reason
from tools.cli.producer import MAX_RECORDS_PER_CALL, Entry, chunks, put_batched
from tools.local.malformed import kinds, malformed_records


def test_chunks_respect_the_record_and_byte_limits() -> None:
    small = [Entry(b"x", "k")] * (MAX_RECORDS_PER_CALL + 1)
    assert [len(c) for c in chunks(small)] == [MAX_RECORDS_PER_CALL, 1]
    big = [Entry(b"x" * (2 * 1024 * 1024), "k")] * 3  # 5 MiB per call: two fit, not three
    assert [len(c) for c in chunks(big)] == [2, 1]


def test_put_batched_retries_only_the_rejected_records() -> None:
    kinesis = boto3.client("kinesis", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    entries = [Entry(b"a", "1"), Entry(b"b", "2"), Entry(b"c", "3")]
    sleeps: list[float] = []
    with Stubber(kinesis) as stub:
        stub.add_response(
            "put_records",
            {
                "FailedRecordCount": 1,
                "Records": [
                    {"SequenceNumber": "1", "ShardId": "shardId-000000000000"},
                    {"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"},
                    {"SequenceNumber": "2", "ShardId": "shardId-000000000001"},
                ],
            },
            {"StreamName": "s", "Records": [{"Data": e.data, "PartitionKey": e.partition_key} for e in entries]},
        )
        stub.add_response(
            "put_records",
            {"Records": [{"SequenceNumber": "3", "ShardId": "shardId-000000000001"}]},
            {"StreamName": "s", "Records": [{"Data": b"b", "PartitionKey": "2"}]},
        )
        placed = put_batched(kinesis, "s", entries, sleep=sleeps.append)
        stub.assert_no_pending_responses()
    assert [p.sequence_number for p in placed] == ["1", "3", "2"]  # input order, not call order
    assert len(sleeps) == 1


def test_malformed_records_cycle_through_at_least_twelve_reasons() -> None:
    available = kinds()
    assert len(available) >= 12
    assert Reason.BAD_BASE64 not in available  # PutRecords cannot produce it
    records = malformed_records(3 * len(available), seed=1)
    assert {r.reason for r in records} == set(available)
    assert all(isinstance(r.data, bytes) for r in records)
    assert malformed_records(50, seed=3) == malformed_records(50, seed=3)  # deterministic
