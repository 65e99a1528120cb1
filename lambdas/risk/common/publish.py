"""Send message bodies to an SQS queue with SendMessageBatch; retry only the entries that failed.

Calls hold at most 10 entries and at most ``MAX_BATCH_BYTES`` of bodies (SQS limits one call to
256 KiB). An entry SQS reports failed with ``SenderFault: false`` (throttling, an internal
error) is retried with exponential backoff and jitter; a sender fault (the request itself is
wrong) is not retried. A whole call that raises (botocore has already applied its own retries)
counts as every entry of the call failed, then retried like the rest; if SQS refused it for its
contents (``SENDER_FAULT_CODES``), each entry is retried in a call of its own, so only the body at
fault stays failed. What still fails is returned, so the caller can fail exactly the inputs of those
messages (or, with :func:`send_all_with_faults`, split a refused body to isolate the item at fault).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from risk.events.limits import MAX_BATCH_BYTES, MAX_BATCH_ENTRIES

Owner = TypeVar("Owner", bound=Hashable)
DEFAULT_ATTEMPTS = 4
DEFAULT_BASE_DELAY_S = 0.05
# Errors of a whole call that are about the request's contents: sending it again cannot help.
SENDER_FAULT_CODES = frozenset({"InvalidMessageContents", "InvalidParameterValue", "BatchRequestTooLong"})


def group_within_limits(weights: Iterable[tuple[int, int]], max_entries: int, max_bytes: int) -> list[list[int]]:
    """Group ``(index, bytes)`` pairs, in order, into calls of at most ``max_entries`` and ``max_bytes``.

    The shape of every batched AWS write: SendMessageBatch here, PutRecords in the producer.
    """
    groups: list[list[int]] = []
    current: list[int] = []
    size = 0
    for i, weight in weights:
        if current and (len(current) == max_entries or size + weight > max_bytes):
            groups.append(current)
            current, size = [], 0
        current.append(i)
        size += weight
    if current:
        groups.append(current)
    return groups


def calls(bodies: Sequence[str], indices: Iterable[int]) -> list[list[int]]:
    """Group body indices into SendMessageBatch calls within the entry and byte limits."""
    return group_within_limits(((i, len(bodies[i].encode())) for i in indices), MAX_BATCH_ENTRIES, MAX_BATCH_BYTES)


def send_all(
    sqs: Any,
    queue_url: str,
    bodies: Sequence[str],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay_s: float = DEFAULT_BASE_DELAY_S,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[int, str]:
    """Send every body; return ``{index: error code}`` for the bodies that could not be sent."""
    failed, _ = send_all_with_faults(sqs, queue_url, bodies, attempts=attempts, base_delay_s=base_delay_s, sleep=sleep)
    return failed


def send_all_with_faults(
    sqs: Any,
    queue_url: str,
    bodies: Sequence[str],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    base_delay_s: float = DEFAULT_BASE_DELAY_S,
    sleep: Callable[[float], None] = time.sleep,
    fifo: Sequence[tuple[str, str]] | None = None,
) -> tuple[dict[int, str], set[int]]:
    """:func:`send_all`, plus the indices SQS refused as a sender fault (the body itself is wrong:
    sending it again cannot help, but splitting it can isolate the item that is wrong).

    A whole call refused for its contents is retried one entry per call, so only the body at
    fault is reported, not the nine sent with it. ``fifo`` gives each body its
    ``(MessageGroupId, MessageDeduplicationId)``; the caller keeps order within a group by
    giving at most one body per group (retries could otherwise overtake).
    """
    pending = list(range(len(bodies)))
    failed: dict[int, str] = {}
    sender_faults: set[int] = set()
    solo: set[int] = set()  # entries of a call refused as a whole: sent one per call
    for attempt in range(attempts):
        if not pending:
            break
        if attempt:
            sleep(random.uniform(0, base_delay_s * 2**attempt))  # full jitter
        retry: list[int] = []
        groups = calls(bodies, [i for i in pending if i not in solo]) + [[i] for i in pending if i in solo]
        for group in groups:
            entries: list[dict[str, str]] = [{"Id": str(i), "MessageBody": bodies[i]} for i in group]
            if fifo is not None:
                for entry, i in zip(entries, group, strict=True):
                    entry["MessageGroupId"], entry["MessageDeduplicationId"] = fifo[i]
            try:
                response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                code = exc.response["Error"]["Code"] if isinstance(exc, ClientError) else type(exc).__name__
                for i in group:
                    failed[i] = code
                if code in SENDER_FAULT_CODES and len(group) == 1:
                    sender_faults.add(group[0])
                    continue
                if code in SENDER_FAULT_CODES:
                    solo.update(group)  # one entry is at fault: send each alone to find it
                retry.extend(group)
                continue
            answered: set[int] = set()
            for entry in response.get("Successful", []):
                answered.add(int(entry["Id"]))
                failed.pop(int(entry["Id"]), None)
            for entry in response.get("Failed", []):
                i = int(entry["Id"])
                answered.add(i)
                failed[i] = entry.get("Code", "Unknown")
                if entry.get("SenderFault", False):
                    sender_faults.add(i)
                else:
                    retry.append(i)
            for i in group:  # never assume success for an entry SQS did not answer for
                if i not in answered:
                    failed[i] = "NotAcknowledged"
                    retry.append(i)
        pending = sorted(retry)
    return failed, sender_faults & failed.keys()


def send_owned(
    sqs: Any,
    queue_url: str,
    bodies: Sequence[tuple[Owner, str]],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> set[Owner]:
    """:func:`send_all` for bodies that each belong to an owner (e.g. the source SQS message they
    were built from); return the owners with a body that could not be sent."""
    failed = send_all(sqs, queue_url, [body for _, body in bodies], attempts=attempts, sleep=sleep)
    return {bodies[i][0] for i in failed}
