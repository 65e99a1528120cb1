"""PutRecords in batches within Kinesis' limits, retrying only the records a call rejected.

Shared by the file ingest and the producer tools (``riskctl produce``, the local demo), so the
limits are declared here once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from risk.common.publish import group_within_limits

MAX_RECORDS_PER_CALL = 500  # PutRecords: records per call
MAX_BYTES_PER_CALL = 5 * 1024 * 1024  # PutRecords: data + partition keys per call
DEFAULT_ATTEMPTS = 8


class RecordsRejectedError(RuntimeError):
    """Some records were still rejected after every attempt (throttling that does not end)."""

    def __init__(self, count: int, attempts: int) -> None:
        super().__init__(f"{count} records still rejected after {attempts} attempts")
        self.count = count
        self.attempts = attempts


@dataclass(frozen=True)
class Entry:
    data: bytes
    partition_key: str


@dataclass(frozen=True)
class Placed:
    shard_id: str
    sequence_number: str


def chunks(entries: Sequence[Entry]) -> list[list[int]]:
    """Indexes of ``entries`` grouped into PutRecords calls (500 records and 5 MiB at most)."""
    weights = ((i, len(e.data) + len(e.partition_key.encode())) for i, e in enumerate(entries))
    return group_within_limits(weights, MAX_RECORDS_PER_CALL, MAX_BYTES_PER_CALL)


def put_records(
    kinesis: Any,
    stream_name: str,
    entries: Sequence[Entry],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Placed]:
    """Put every entry; retry only the records a call rejected, with exponential backoff.

    Returns where each entry landed, in input order; raises :class:`RecordsRejectedError` when some are
    still rejected after ``attempts`` calls. Order within a partition key is kept between calls.
    """
    placed: list[Placed | None] = [None] * len(entries)
    for group in chunks(entries):
        todo = group
        for attempt in range(attempts):
            response = kinesis.put_records(
                StreamName=stream_name,
                Records=[{"Data": entries[i].data, "PartitionKey": entries[i].partition_key} for i in todo],
            )
            retry: list[int] = []
            for i, result in zip(todo, response["Records"], strict=True):
                if result.get("ErrorCode"):
                    retry.append(i)
                else:
                    placed[i] = Placed(result["ShardId"], result["SequenceNumber"])
            if not retry:
                break
            todo = retry
            sleep(min(0.1 * 2**attempt, 5.0))
        else:
            raise RecordsRejectedError(len(todo), attempts)
    return [p for p in placed if p is not None]
