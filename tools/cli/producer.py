"""Batched PutRecords with retry of the failed records only (shared by ``riskctl produce`` and the demo)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from risk.common.publish import group_within_limits
from tools.cli.errors import OperatorError

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
DEFAULT_ATTEMPTS = 8


class PutRecordsError(OperatorError):
    """Some records were still rejected after every attempt (throttling that does not end)."""


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


def put_batched(
    kinesis: Any,
    stream_name: str,
    entries: Sequence[Entry],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Placed]:
    """Put every entry; retry only the records a call rejected (throttled), with exponential backoff.

    Returns where each entry landed, in input order. Order within a partition key is kept only
    between calls, as with any PutRecords producer; use one key per user to keep a user's events
    on one shard.
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
            raise PutRecordsError(
                f"{len(todo)} records still rejected after {attempts} attempts: lower --rate or add shards, then rerun"
            )
    return [p for p in placed if p is not None]
