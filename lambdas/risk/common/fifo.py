"""FIFO message groups and deduplication ids of the parsed queue.

Why: the score stage must see each user's events in stream order. A FIFO queue keeps order per
message group and holds a group while its messages are in flight; a group per hash bucket of
``user_id`` (not per user) lets one message still pack many events. The deduplication id is a
hash of the message's event ids, so a parse retry that packs the same events again is dropped
by SQS within its 5-minute deduplication window (beyond it, the score stage's state dedupes).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any


def is_fifo_queue(queue_url: str) -> bool:
    return queue_url.endswith(".fifo")


def message_group(user_id: str, groups: int) -> str:
    """The message group of a user: a stable hash bucket, the same in every process and run."""
    bucket = int.from_bytes(hashlib.blake2b(user_id.encode(), digest_size=8).digest(), "big") % groups
    return f"users-{bucket:05d}"


def deduplication_id(event_ids: Iterable[str]) -> str:
    """Deterministic from the events a message carries, in order (64 hex digits, within SQS's 128)."""
    h = hashlib.blake2b(digest_size=32)
    for event_id in event_ids:
        h.update(event_id.encode())
        h.update(b"\x00")
    return h.hexdigest()


def with_rest_of_groups(records: Iterable[dict[str, Any]], failed: Iterable[str]) -> list[str]:
    """``failed`` message ids plus every later message of the same FIFO group in the batch.

    What Powertools' ``SqsFifoPartialProcessor(skip_group_on_error=True)`` does: a later message
    of a group must not be taken before an earlier one, so it goes back with it. Messages without
    a group (a standard queue) fail alone. Returned in batch order.
    """
    failed_set = set(failed)
    stopped: set[str] = set()
    out: list[str] = []
    for record in records:
        mid = str(record["messageId"])
        group = (record.get("attributes") or {}).get("MessageGroupId")
        if mid in failed_set or (group is not None and group in stopped):
            out.append(mid)
            if group is not None:
                stopped.add(group)
    return out
