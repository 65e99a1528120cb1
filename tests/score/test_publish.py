"""send_owned: failed bodies map back to the source messages that own them (Stubber: moto never fails one entry)."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.stub import Stubber

from risk.common.publish import calls, send_owned
from risk.events.limits import MAX_BATCH_BYTES

URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/risk-scoring-test-scored"


def client() -> Any:
    return boto3.client("sqs", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_groups_respect_entry_and_byte_limits() -> None:
    small = ["x"] * 23
    assert [len(g) for g in calls(small, range(23))] == [10, 10, 3]
    big = ["y" * (100 * 1024)] * 5
    groups = calls(big, range(5))
    assert [len(g) for g in groups] == [2, 2, 1]
    assert all(sum(len(big[i]) for i in g) <= MAX_BATCH_BYTES for g in groups)


def test_only_failed_entries_are_retried_and_sender_faults_are_not() -> None:
    sqs = client()
    sleeps: list[float] = []
    bodies = [("m-a", "A"), ("m-b", "B"), ("m-c", "C")]
    with Stubber(sqs) as stub:
        stub.add_response(
            "send_message_batch",
            {
                "Successful": [{"Id": "0", "MessageId": "1", "MD5OfMessageBody": "x"}],
                "Failed": [
                    {"Id": "1", "SenderFault": False, "Code": "InternalError"},
                    {"Id": "2", "SenderFault": True, "Code": "InvalidMessageContents"},
                ],
            },
            {
                "QueueUrl": URL,
                "Entries": [
                    {"Id": "0", "MessageBody": "A"},
                    {"Id": "1", "MessageBody": "B"},
                    {"Id": "2", "MessageBody": "C"},
                ],
            },
        )
        stub.add_response(
            "send_message_batch",
            {"Successful": [{"Id": "1", "MessageId": "2", "MD5OfMessageBody": "x"}], "Failed": []},
            {"QueueUrl": URL, "Entries": [{"Id": "1", "MessageBody": "B"}]},
        )
        assert send_owned(sqs, URL, bodies, sleep=sleeps.append) == {"m-c"}
        stub.assert_no_pending_responses()
    assert len(sleeps) == 1


def test_a_group_that_keeps_failing_reports_its_owners() -> None:
    sqs = client()
    with Stubber(sqs) as stub:
        for _ in range(3):
            stub.add_client_error("send_message_batch", "RequestThrottled", "slow down", 400)
        assert send_owned(sqs, URL, [("m-a", "A"), ("m-a", "A2"), ("m-b", "B")], attempts=3, sleep=lambda _: None) == {
            "m-a",
            "m-b",
        }
