"""Batched PutRecords with retry of the failed records only (shared by ``riskctl produce`` and the demo),
and the KPL's record aggregation for producers that send many small records (``--aggregate``)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from risk.ingest.stream import (
    DEFAULT_ATTEMPTS,
    MAX_BYTES_PER_CALL,
    MAX_RECORDS_PER_CALL,
    Entry,
    Placed,
    RecordsRejectedError,
    chunks,
    put_records,
)
from risk.parse import kpl
from tools.cli.errors import OperatorError

__all__ = ["MAX_BYTES_PER_CALL", "MAX_RECORDS_PER_CALL", "Entry", "Placed", "chunks", "put_batched"]

AGGREGATE_MAX_BYTES = 51_200  # the KPL's default AggregationMaxSize: larger records go alone


class PutRecordsError(OperatorError):
    """Some records were still rejected after every attempt (throttling that does not end)."""


def put_batched(
    kinesis: Any,
    stream_name: str,
    entries: Sequence[Entry],
    *,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Placed]:
    """:func:`risk.ingest.stream.put_records`, its refusal as one line for the operator."""
    try:
        return put_records(kinesis, stream_name, entries, attempts=attempts, sleep=sleep)
    except RecordsRejectedError as exc:
        raise PutRecordsError(f"{exc}: lower --rate or add shards, then rerun") from None


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
