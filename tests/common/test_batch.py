"""Per-message decoding of an SQS batch: what fails is named by message id, the rest decode in order."""

from __future__ import annotations

import orjson
import pytest

from risk.common.batch import decode_each


def _record(message_id: str, body: str) -> dict[str, str]:
    return {"messageId": message_id, "receiptHandle": "rh", "body": body, "eventSource": "aws:sqs"}


def test_a_body_that_fails_to_decode_fails_its_message_only_and_the_rest_keep_their_order() -> None:
    records = [_record("m1", '{"a": 1}'), _record("m2", "not json"), _record("m3", "[2]"), _record("m4", "{")]
    decoded = decode_each(records, orjson.loads)
    assert decoded.ok == [("m1", {"a": 1}), ("m3", [2])]
    assert decoded.failed == ["m2", "m4"]


def test_an_empty_batch_decodes_to_nothing() -> None:
    decoded = decode_each([], orjson.loads)
    assert decoded.ok == [] and decoded.failed == []


def test_an_interrupt_is_not_taken_for_a_bad_message() -> None:
    def interrupted(body: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        decode_each([_record("m1", "{}")], interrupted)
