"""Producers that aggregate as the KPL does: ``riskctl produce --aggregate`` (and the demo's
``--aggregate``, in test_paths.py) put fewer Kinesis records, each user record on its own key's shard."""

from __future__ import annotations

import io
import json
from pathlib import Path

import boto3

from risk.parse import kpl
from tools.cli.producer import AGGREGATE_MAX_BYTES, Entry, ShardMap, aggregate_entries
from tools.local.provision import LocalResources
from tools.riskctl import main as riskctl_main


def _stream(resources: LocalResources) -> list[tuple[str, str, bytes]]:
    """(shard id, partition key, data) of every record on the stream."""
    kinesis = boto3.client("kinesis", region_name=resources.region)
    out: list[tuple[str, str, bytes]] = []
    for shard in kinesis.list_shards(StreamName=resources.stream_name)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=resources.stream_name, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        records = kinesis.get_records(ShardIterator=iterator, Limit=10_000)["Records"]
        out += [(shard["ShardId"], r["PartitionKey"], r["Data"]) for r in records]
    return out


def test_aggregates_hold_one_shard_each_in_order_within_the_size_limit() -> None:
    entries = [Entry(b"x" * (100 + i), f"user-{i % 5}") for i in range(400)]
    entries.insert(7, Entry(b"y" * (AGGREGATE_MAX_BYTES + 1), "user-big"))
    shard_of = {f"user-{k}": f"shard-{k % 2}" for k in range(5)} | {"user-big": "shard-0"}

    out = aggregate_entries(entries, shard_of.__getitem__)

    assert sorted(i for a in out for i in a.members) == list(range(len(entries)))  # each record exactly once
    (alone,) = [a for a in out if a.members == (7,)]
    assert alone.entry == entries[7] and not kpl.is_aggregated(alone.entry.data)  # too large: put as it is
    per_shard: dict[str, list[int]] = {}
    for a in out:
        if a.members == (7,):
            continue
        assert len(a.entry.data) <= AGGREGATE_MAX_BYTES
        users = kpl.deaggregate(a.entry.data)
        assert [u.data for u in users] == [entries[i].data for i in a.members]
        assert [u.partition_key for u in users] == [entries[i].partition_key for i in a.members]
        assert a.entry.partition_key == users[0].partition_key
        (shard,) = {shard_of[u.partition_key] for u in users}
        per_shard.setdefault(shard, []).extend(a.members)
    for members in per_shard.values():
        assert members == sorted(members)  # a shard's records keep the input order across aggregates
    assert len(out) < 30  # ~40 kB of records per shard: a few aggregates, not 401 records


def test_the_shard_map_agrees_with_where_the_stream_puts_a_key(resources: LocalResources) -> None:
    kinesis = boto3.client("kinesis", region_name=resources.region)
    shards = ShardMap.of_stream(kinesis, resources.stream_name)
    assert len(shards.ranges) == 4
    for k in range(40):
        key = f"u-{k:06d}"
        placed = kinesis.put_record(StreamName=resources.stream_name, Data=b"{}", PartitionKey=key)
        assert shards.shard_of(key) == placed["ShardId"]


def test_riskctl_produce_aggregate_puts_every_line_once_each_on_its_keys_shard(
    resources: LocalResources, tmp_path: Path
) -> None:
    lines = [json.dumps({"event_id": f"e{i}", "user_id": f"u{i % 9}"}).encode() for i in range(300)]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    out = io.StringIO()
    args = ["--region", resources.region, "produce", "--stream", resources.stream_name, "--file", str(path)]

    assert riskctl_main([*args, "--aggregate"], out=out) == 0

    stream = _stream(resources)
    assert "put 300 records" in out.getvalue()
    assert all(kpl.is_aggregated(data) for _, _, data in stream) and len(stream) <= 8
    shards = ShardMap.of_stream(boto3.client("kinesis", region_name=resources.region), resources.stream_name)
    users = [(shard, u) for shard, _, data in stream for u in kpl.deaggregate(data)]
    assert sorted(u.data for _, u in users) == sorted(lines)
    assert all(shards.shard_of(u.partition_key) == shard for shard, u in users)
    for user in {u.partition_key for _, u in users}:  # each user's lines in file order
        mine = [u.data for _, u in users if u.partition_key == user]
        assert mine == [line for line in lines if json.loads(line)["user_id"] == user]
