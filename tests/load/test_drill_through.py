"""Drill-through: a warehouse row leads to its raw record (shard, sequence number) and its enriched copy.

The real parse, score and load handlers through the local pollers: the source travels in the
envelope parse -> score -> load, and the loader names the enriched object it wrote each row to.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Callable

import orjson

from risk.events.codec import encode_avro
from risk.warehouse.connection import connect_dsn
from stacks.config import EnvironmentConfig
from tests.drills.conftest import events, make_pipeline, put_events
from tools.cli.replay import parse_lines
from tools.local.pipeline import LocalPipeline

__all__ = ["make_pipeline"]  # the drills' fixture, used here too

ALERT_QUERY = """
SELECT event_id, kinesis_shard_id, kinesis_sequence_number, enriched_key
FROM risk_events
WHERE risk_band IN ('medium', 'high')
ORDER BY score DESC, event_id
"""


def _raw_records(pipeline: LocalPipeline) -> dict[tuple[str, str], bytes]:
    """(shard id, sequence number) -> the record's bytes, from every raw/ object."""
    s3, bucket = pipeline.s3, pipeline.resources.bucket
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="raw/"):
        for obj in page.get("Contents", []):
            body = gzip.decompress(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
            for line in body.splitlines():
                doc = orjson.loads(line)
                found[doc["shard_id"], doc["sequence_number"]] = base64.b64decode(doc["data_b64"])
    return found


def test_every_alert_leads_to_its_raw_record_and_its_enriched_copy_and_keeps_its_thresholds(
    make_pipeline: Callable[..., LocalPipeline], pg_dsn: str, cfg: EnvironmentConfig
) -> None:
    pipeline = make_pipeline(pg_dsn, shards=2)
    put_events(pipeline, events(300, seed=11))
    pipeline.drain()
    with connect_dsn(pg_dsn) as warehouse, warehouse.transaction():
        alerts = warehouse.fetchall(ALERT_QUERY)
        unlocated = warehouse.scalar(
            "SELECT COUNT(*) FROM risk_events WHERE kinesis_shard_id IS NULL OR kinesis_sequence_number IS NULL "
            "OR enriched_key IS NULL"
        )
        thresholds = warehouse.fetchall(
            "SELECT DISTINCT band_medium_threshold, band_high_threshold, "
            "MIN(CASE WHEN risk_band = 'high' THEN score END) >= band_high_threshold "
            "FROM risk_events GROUP BY band_medium_threshold, band_high_threshold"
        )
    assert alerts and unlocated == 0
    # Each row keeps the thresholds the scorer applied: the configured ones, and its band agrees.
    assert [tuple(t) for t in thresholds] == [(cfg.scoring.medium_threshold, cfg.scoring.high_threshold, True)]
    raw = _raw_records(pipeline)
    assert {shard for _, shard, _, _ in alerts} <= {shard for shard, _ in raw}
    for event_id, shard, sequence, key in alerts:
        assert orjson.loads(raw[shard, sequence])["event_id"] == event_id
        body = pipeline.s3.get_object(Bucket=pipeline.resources.bucket, Key=key)["Body"].read()
        copies = [doc for doc in map(orjson.loads, body.splitlines()) if doc["event_id"] == event_id]
        assert [(c["kinesis_shard_id"], c["kinesis_sequence_number"], c["enriched_key"]) for c in copies] == [
            (shard, sequence, key)
        ]


def test_newline_delimited_firehose_objects_split_back_into_their_records() -> None:
    event = {"event_id": "e1", "user_id": "u1", "event_type": "login", "occurred_at": "2026-11-24T10:00:00Z"}
    records = [orjson.dumps(event), encode_avro({**event, "event_id": "e\n2"}), orjson.dumps({**event, "x": "a\nb"})]
    blob = gzip.compress(b"".join(record + b"\n" for record in records))  # AppendDelimiterToRecord's layout
    assert [r.data for r in parse_lines(blob)] == records
