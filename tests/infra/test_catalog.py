"""The Glue Data Catalog over the archive and the Athena workgroup: tables whose projected partitions
are the archive's own key layout, columns that are what the objects carry, encrypted results."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from risk.common.archive import enriched_key, quarantine_key, raw_prefix
from risk.events.reasons import Reason
from risk.ingest.service import _quarantine_line
from risk.parse import quarantine
from risk.parse.parser import Quarantined
from risk.warehouse.columns import COLUMN_NAMES
from stacks.catalog import QUARANTINE_COLUMNS, projections
from tests.infra.conftest import Synth

AT = datetime(2026, 3, 7, 4, 5, tzinfo=UTC)


def _fill(template: str, **values: str) -> str:
    for key, value in values.items():
        template = template.replace("${" + key + "}", value)
    return template


def test_projected_locations_are_the_archive_key_layout() -> None:
    tables = projections("bucket")
    raw = _fill(tables["raw"]["storage.location.template"], year="2026", month="03", day="07", hour="04")
    assert raw == f"s3://bucket/{raw_prefix(AT)}"
    enriched = _fill(tables["enriched"]["storage.location.template"], event_date="2026-03-07")
    assert f"s3://bucket/{enriched_key(date(2026, 3, 7), 'b1')}".startswith(enriched)
    quarantined = _fill(tables["quarantine"]["storage.location.template"], date="2026-03-07")
    assert f"s3://bucket/{quarantine_key(AT, 'x')}".startswith(quarantined)
    assert tables["raw"]["projection.month.digits"] == tables["raw"]["projection.hour.digits"] == "2"


def test_the_quarantine_table_has_a_column_for_every_field_any_stage_writes() -> None:
    item = Quarantined(Reason.NOT_JSON, "x", b"{", "1", AT, None, 2)
    lines = [
        quarantine.to_line(item, partition_key="k", shard_id="s", quarantined_at=AT),
        quarantine.event_line(
            stage="score", reason=Reason.SCORE_ERROR, detail="d", item={}, message_id="m", quarantined_at=AT
        ),
        _quarantine_line(item, "inbox/a.jsonl", 3, AT),
    ]
    columns = {name for name, _ in QUARANTINE_COLUMNS}
    assert {key for line in lines for key in line} == columns


@pytest.mark.synth
def test_the_catalog_has_the_three_archive_tables_with_projection(each_env: Synth) -> None:
    (database,) = each_env.resources("Catalog", "AWS::Glue::Database").values()
    name = database["Properties"]["DatabaseInput"]["Name"]
    assert name == each_env.cfg.prefix.replace("-", "_")
    tables = {
        t["Properties"]["TableInput"]["Name"]: t["Properties"]["TableInput"]
        for t in each_env.resources("Catalog", "AWS::Glue::Table").values()
    }
    assert set(tables) == {"raw", "enriched", "quarantine"}
    for table in tables.values():
        assert table["Parameters"]["projection.enabled"] == "true"
        assert "storage.location.template" in table["Parameters"]
    enriched_columns = [c["Name"] for c in tables["enriched"]["StorageDescriptor"]["Columns"]]
    assert enriched_columns == list(COLUMN_NAMES)  # what the loader writes to enriched/, column for column
    assert [p["Name"] for p in tables["raw"]["PartitionKeys"]] == ["year", "month", "day", "hour"]


@pytest.mark.synth
def test_athena_results_are_encrypted_with_the_archive_key_enforced_and_expire(each_env: Synth) -> None:
    (workgroup,) = each_env.resources("Catalog", "AWS::Athena::WorkGroup").values()
    config = workgroup["Properties"]["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    encryption = config["ResultConfiguration"]["EncryptionConfiguration"]
    assert encryption["EncryptionOption"] == "SSE_KMS" and "Fn::ImportValue" in encryption["KmsKey"]
    assert config["BytesScannedCutoffPerQuery"] > 0
    (bucket,) = each_env.resources("Catalog", "AWS::S3::Bucket").values()
    props = bucket["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert props["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    assert props["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 7


@pytest.mark.synth
def test_the_raw_table_reads_what_firehose_writes_one_gzip_record_a_line_under_its_hour_prefix(
    each_env: Synth,
) -> None:
    (stream,) = each_env.resources("Ingest", "AWS::KinesisFirehose::DeliveryStream").values()
    s3 = stream["Properties"]["ExtendedS3DestinationConfiguration"]
    (raw,) = [
        t["Properties"]["TableInput"]
        for t in each_env.resources("Catalog", "AWS::Glue::Table").values()
        if t["Properties"]["TableInput"]["Name"] == "raw"
    ]
    # Firehose's prefix, its timestamp fields swapped for the projected partitions: the same key layout
    firehose_layout = s3["Prefix"]
    for unit, key in (("yyyy", "year"), ("MM", "month"), ("dd", "day"), ("HH", "hour")):
        firehose_layout = firehose_layout.replace(f"!{{timestamp:{unit}}}", f"${{{key}}}")
    template = json.dumps(raw["Parameters"]["storage.location.template"])
    assert firehose_layout in template and template.endswith(f'{firehose_layout}"]]}}')
    for key in ("month", "day", "hour"):  # MM, dd, HH are zero-padded
        assert raw["Parameters"][f"projection.{key}.digits"] == "2"
    # each record is followed by a newline: a row is a record, its whole line in the one column
    assert s3["ProcessingConfiguration"]["Enabled"] is True
    assert [p["Type"] for p in s3["ProcessingConfiguration"]["Processors"]] == ["AppendDelimiterToRecord"]
    assert all(p.get("Parameters") is None for p in s3["ProcessingConfiguration"]["Processors"])  # default "\n"
    storage = raw["StorageDescriptor"]
    assert [c["Name"] for c in storage["Columns"]] == ["data"]
    assert storage["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"
    assert storage["SerdeInfo"]["SerializationLibrary"] == "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
    assert storage["SerdeInfo"]["Parameters"]["line.delim"] == "\n"
    # GZIP objects (Firehose adds .gz, by which Athena decompresses)
    assert s3["CompressionFormat"] == "GZIP" and storage["Compressed"] is True
    assert raw["Parameters"]["classification"] == "text"
