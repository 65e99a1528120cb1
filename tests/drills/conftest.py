"""The failure drills' harness: moto + the real handlers through the local pollers + real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import boto3
import orjson
import pytest

from risk.score.state import UserState
from risk.score.store import DynamoStateStore
from risk.warehouse.connection import Warehouse, connect_dsn
from stacks.config import EnvironmentConfig
from tools.generator import generate
from tools.local.pipeline import LocalPipeline
from tools.local.provision import LocalResources, provision


@pytest.fixture
def make_pipeline(aws: None, cfg: EnvironmentConfig) -> Callable[..., LocalPipeline]:
    """A provisioned moto account and a pipeline of the real handlers writing to ``dsn``."""

    def make(dsn: str, shards: int = 2, **options: Any) -> LocalPipeline:
        return LocalPipeline(provision(cfg, shard_count=shards), dsn, **options)

    return make


def events(count: int, seed: int) -> list[dict[str, Any]]:
    return [g.event for g in generate(count, seed=seed)]


def put_events(pipeline: LocalPipeline, batch: list[dict[str, Any]]) -> None:
    pipeline.put(
        [orjson.dumps(e) for e in batch], [str(e["user_id"]) for e in batch], [str(e["event_id"]) for e in batch]
    )


def warehouse_ids(dsn: str) -> list[str]:
    """Every event_id row of risk_events (with repeats, if there were any)."""
    warehouse: Warehouse
    with connect_dsn(dsn) as warehouse, warehouse.transaction():
        return [str(r[0]) for r in warehouse.fetchall("SELECT event_id FROM risk_events")]


def stored_states(resources: LocalResources) -> dict[str, UserState]:
    """The per-user feature state the score function left in DynamoDB."""
    dynamodb = boto3.client("dynamodb", region_name=resources.region)
    heads = [
        item["user_id"]["S"]
        for page in dynamodb.get_paginator("scan").paginate(TableName=resources.state_table)
        for item in page["Items"]
        if "version" in item  # a head; chunks and id segments are read through it
    ]
    return DynamoStateStore(dynamodb, resources.state_table, ttl_days=30).load(heads)


def queue_depth(pipeline: LocalPipeline, key: str) -> int:
    return pipeline.queue_depth(key)
