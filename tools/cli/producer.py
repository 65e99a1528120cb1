"""Batched PutRecords with retry of the failed records only (shared by ``riskctl produce`` and the demo),
and the KPL's record aggregation for producers that send many small records (``--aggregate``)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from risk.common.publish import group_within_limits
from risk.parse import kpl
from tools.cli.errors import OperatorError

MAX_RECORDS_PER_CALL = 500
MAX_BYTES_PER_CALL = 5 * 1024 * 1024
DEFAULT_ATTEMPTS = 8
AGGREGATE_MAX_BYTES = 51_200  # the KPL's default AggregationMaxSize: larger records go alone


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


# -- KPL aggregation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShardMap:
    """Which open shard a partition key hashes to (MD5 of the key, as Kinesis maps it)."""

    ranges: tuple[tuple[int, int, str], ...]  # (starting hash key, ending hash key, shard id)

    @classmethod
    def of_stream(cls, kinesis: Any, stream_name: str) -> ShardMap:
        ranges: list[tuple[int, int, str]] = []
        kwargs: dict[str, Any] = {"StreamName": stream_name}
        while True:
            page = kinesis.list_shards(**kwargs)
            for shard in page["Shards"]:
                if shard.get("SequenceNumberRange", {}).get("EndingSequenceNumber"):
                    continue  # closed by a reshard: takes no new records
                keys = shard["HashKeyRange"]
                ranges.append((int(keys["StartingHashKey"]), int(keys["EndingHashKey"]), shard["ShardId"]))
            if not page.get("NextToken"):
                return cls(tuple(sorted(ranges)))
            kwargs = {"NextToken": page["NextToken"]}

    def shard_of(self, partition_key: str) -> str:
        point = int.from_bytes(hashlib.md5(partition_key.encode("utf-8"), usedforsecurity=False).digest(), "big")
        for start, end, shard_id in self.ranges:
            if start <= point <= end:
                return shard_id
        return self.ranges[-1][2] if self.ranges else ""


@dataclass(frozen=True)
class Aggregated:
    """One Kinesis record to put: an aggregate (or a record too large for one), and the inputs it carries."""

    entry: Entry
    members: tuple[int, ...]  # indexes into the entries given to :func:`aggregate_entries`


def aggregate_entries(
    entries: Sequence[Entry], shard_of: Callable[[str], str], *, max_bytes: int = AGGREGATE_MAX_BYTES
) -> list[Aggregated]:
    """Pack records bound for the same shard into KPL aggregates of at most ``max_bytes``, in order.

    As the KPL does: an aggregate holds records of one shard only, so each user record lands where
    its own partition key would have put it (a user's events stay on one shard, in order); the
    aggregate's partition key is its first record's. A record that alone exceeds ``max_bytes`` is
    put as it is.
    """
    out: list[Aggregated] = []
    open_: dict[str, list[int]] = {}

    def flush(shard: str) -> None:
        members = open_.pop(shard)
        records = [kpl.UserRecord(entries[i].partition_key, entries[i].data) for i in members]
        out.append(Aggregated(Entry(kpl.aggregate(records), records[0].partition_key), tuple(members)))

    for i, entry in enumerate(entries):
        if kpl.aggregated_size([kpl.UserRecord(entry.partition_key, entry.data)]) > max_bytes:
            out.append(Aggregated(entry, (i,)))
            continue
        shard = shard_of(entry.partition_key)
        members = open_.get(shard, [])
        candidate = [kpl.UserRecord(entries[k].partition_key, entries[k].data) for k in [*members, i]]
        if members and kpl.aggregated_size(candidate) > max_bytes:
            flush(shard)
        open_.setdefault(shard, []).append(i)
    for shard in list(open_):
        flush(shard)
    return out


def put_aggregated(
    kinesis: Any,
    stream_name: str,
    entries: Sequence[Entry],
    *,
    shards: ShardMap | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Placed]:
    """:func:`put_batched` of KPL aggregates; returns where each input entry landed, in input order."""
    shard_map = shards or ShardMap.of_stream(kinesis, stream_name)
    aggregated = aggregate_entries(entries, shard_map.shard_of)
    placed = put_batched(kinesis, stream_name, [a.entry for a in aggregated], sleep=sleep)
    where: list[Placed | None] = [None] * len(entries)
    for record, spot in zip(aggregated, placed, strict=True):
        for i in record.members:
            where[i] = spot
    return [p for p in where if p is not None]
