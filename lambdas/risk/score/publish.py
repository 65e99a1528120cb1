"""SendMessageBatch of ready message bodies, retrying only the entries that failed.

Each body belongs to an *owner* (the source SQS message it was built from); the result
is the set of owners with a body that could not be sent, which the handler reports as
batch item failures so SQS redelivers exactly those source messages.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable, Iterator, Sequence
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from risk.common.envelope import MAX_BATCH_BYTES, MAX_BATCH_ENTRIES

MAX_ATTEMPTS = 4
log = logging.getLogger(__name__)
Owner = TypeVar("Owner", bound=Hashable)


def chunks(bodies: Sequence[tuple[Owner, str]]) -> Iterator[list[tuple[Owner, str]]]:
    """Groups of at most 10 entries and at most ``MAX_BATCH_BYTES`` together (SQS's per-call limits)."""
    group: list[tuple[Owner, str]] = []
    size = 0
    for owner, body in bodies:
        n = len(body.encode())
        if group and (len(group) == MAX_BATCH_ENTRIES or size + n > MAX_BATCH_BYTES):
            yield group
            group, size = [], 0
        group.append((owner, body))
        size += n
    if group:
        yield group


def send_bodies(
    client: Any,
    queue_url: str,
    bodies: Sequence[tuple[Owner, str]],
    *,
    attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] | None = None,
) -> set[Owner]:
    """Send every body; return the owners of bodies still unsent after ``attempts`` tries."""
    sleep = sleep or time.sleep
    failed: set[Owner] = set()
    for group in chunks(bodies):
        pending = dict(enumerate(group))
        for attempt in range(attempts):
            if attempt:
                sleep(min(0.1 * 2 ** (attempt - 1), 1.0))
            try:
                resp = client.send_message_batch(
                    QueueUrl=queue_url,
                    Entries=[{"Id": str(i), "MessageBody": body} for i, (_, body) in pending.items()],
                )
            except (ClientError, BotoCoreError) as exc:  # throttled or unreachable: retry the whole group
                log.warning("SendMessageBatch failed (attempt %d): %s", attempt + 1, exc)
                continue
            retry = {}
            for entry in resp.get("Failed", []):
                i = int(entry["Id"])
                if entry.get("SenderFault"):  # our fault (e.g. too large): retrying cannot help
                    log.error("SendMessageBatch rejected an entry: %s %s", entry.get("Code"), entry.get("Message"))
                    failed.add(pending[i][0])
                else:
                    retry[i] = pending[i]
            pending = retry
            if not pending:
                break
        failed.update(owner for owner, _ in pending.values())
    return failed
