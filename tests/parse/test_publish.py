"""SendMessageBatch with retries of only the failed entries, on a real (moto) SQS client."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from risk.common import publish
from risk.events.limits import MAX_BATCH_BYTES, MAX_BATCH_ENTRIES
from tests.parse.conftest import Aws


class FlakySqs:
    """The real client; ``fail`` maps a body to the failure SQS reports for it on its first ``times`` sends."""

    def __init__(self, sqs: Any, fail: dict[str, dict[str, Any]], times: int = 1) -> None:
        self.sqs, self.fail, self.times = sqs, fail, times
        self.calls: list[list[str]] = []
        self._seen: dict[str, int] = {}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
        self.calls.append([e["MessageBody"] for e in Entries])
        failed, passing = [], []
        for entry in Entries:
            body = entry["MessageBody"]
            self._seen[body] = self._seen.get(body, 0) + 1
            if body in self.fail and self._seen[body] <= self.times:
                failed.append({"Id": entry["Id"], **self.fail[body]})
            else:
                passing.append(entry)
        response = self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=passing) if passing else {}
        return {"Successful": response.get("Successful", []), "Failed": failed}


THROTTLED = {"SenderFault": False, "Code": "ThrottlingException", "Message": "slow down"}
SENDER_FAULT = {"SenderFault": True, "Code": "InvalidMessageContents", "Message": "no"}


def _bodies(n: int) -> list[str]:
    return [f'{{"v":1,"items":[{{"n":{i}}}]}}' for i in range(n)]


def test_calls_respect_the_entry_and_byte_limits() -> None:
    small = _bodies(25)
    assert [len(g) for g in publish.calls(small, range(25))] == [10, 10, 5]
    big = ["x" * (MAX_BATCH_BYTES // 3) for _ in range(7)]
    groups = publish.calls(big, range(7))
    assert [len(g) for g in groups] == [3, 3, 1]
    assert all(sum(len(big[i]) for i in g) <= MAX_BATCH_BYTES and len(g) <= MAX_BATCH_ENTRIES for g in groups)


def test_a_transient_failure_is_retried_for_that_entry_only(aws: Aws) -> None:
    bodies = _bodies(12)
    flaky = FlakySqs(aws.sqs, {bodies[4]: THROTTLED})
    delays: list[float] = []
    assert publish.send_all(flaky, aws.queue_url, bodies, sleep=delays.append) == {}
    assert flaky.calls[-1] == [bodies[4]] and len(flaky.calls) == 3
    assert len(delays) == 1
    assert sorted(m["Body"] for m in aws.messages()) == sorted(bodies)  # each exactly once


def test_a_persistent_failure_is_returned_after_the_attempts(aws: Aws) -> None:
    bodies = _bodies(3)
    flaky = FlakySqs(aws.sqs, {bodies[1]: THROTTLED}, times=99)
    failed = publish.send_all(flaky, aws.queue_url, bodies, attempts=3, sleep=lambda _: None)
    assert failed == {1: "ThrottlingException"}
    assert len(flaky.calls) == 3
    assert sorted(m["Body"] for m in aws.messages()) == [bodies[0], bodies[2]]


def test_a_sender_fault_is_not_retried(aws: Aws) -> None:
    bodies = _bodies(2)
    flaky = FlakySqs(aws.sqs, {bodies[0]: SENDER_FAULT})
    assert publish.send_all(flaky, aws.queue_url, bodies, sleep=lambda _: None) == {0: "InvalidMessageContents"}
    assert len(flaky.calls) == 1


def test_a_failed_call_fails_its_entries_then_they_are_retried(aws: Aws, monkeypatch: pytest.MonkeyPatch) -> None:
    real = aws.sqs.send_message_batch
    outcomes = iter([ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "x"}}, "SendMessageBatch")])

    def once_down(**kwargs: Any) -> Any:
        error = next(outcomes, None)
        if error is not None:
            raise error
        return real(**kwargs)

    monkeypatch.setattr(aws.sqs, "send_message_batch", once_down)
    bodies = _bodies(4)
    assert publish.send_all(aws.sqs, aws.queue_url, bodies, sleep=lambda _: None) == {}
    assert len(aws.messages()) == 4


def test_an_entry_sqs_does_not_answer_for_is_not_taken_as_sent(aws: Aws) -> None:
    class Silent:
        def send_message_batch(self, **_: Any) -> dict[str, Any]:
            return {"Successful": [], "Failed": []}

    assert publish.send_all(Silent(), aws.queue_url, _bodies(2), attempts=2, sleep=lambda _: None) == {
        0: "NotAcknowledged",
        1: "NotAcknowledged",
    }


def test_a_call_refused_as_a_whole_for_its_contents_is_resent_one_entry_per_call(aws: Aws) -> None:
    """SQS may refuse a whole SendMessageBatch for one bad body: only that body is reported, as a sender fault."""
    bodies = _bodies(5)
    calls: list[int] = []

    class RefusingSqs:
        def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:  # noqa: N803
            calls.append(len(Entries))
            if any(e["MessageBody"] == bodies[3] for e in Entries):
                error = {"Error": {"Code": "InvalidMessageContents", "Message": "Invalid binary character"}}
                raise ClientError(error, "SendMessageBatch")  # type: ignore[arg-type]
            return dict(aws.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=Entries))

    failed, faults = publish.send_all_with_faults(RefusingSqs(), aws.queue_url, bodies, sleep=lambda _: None)
    assert failed == {3: "InvalidMessageContents"} and faults == {3}
    assert calls == [5, 1, 1, 1, 1, 1]  # the whole call, then each entry alone; the bad one is not retried
    assert sorted(m["Body"] for m in aws.messages()) == sorted(bodies[:3] + bodies[4:])
