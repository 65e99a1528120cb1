"""Catalog: a Glue Data Catalog database over the archive (raw/, enriched/, quarantine/) and an Athena
workgroup whose results are encrypted with the archive key and expire.

Tables use partition projection (no crawler, no MSCK REPAIR): the partition values are computed from
the key layout that ``risk.common.archive`` owns, so a new hour or day is queryable the moment its
first object lands. Columns of ``enriched`` come from ``risk.warehouse.columns`` (the loader's
columns, which the enriched objects carry one for one).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_athena as athena
from aws_cdk import aws_glue as glue
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct

from risk.common.archive import ENRICHED_PREFIX, QUARANTINE_PREFIX, RAW_PREFIX
from risk.warehouse.columns import RISK_EVENTS_COLUMNS
from stacks.config import EnvironmentConfig
from stacks.guards import removal_policy

PROJECTION_START_YEAR = 2024  # the first year of any archive
RESULTS_EXPIRY_DAYS = 7
JSON_SERDE = "org.openx.data.jsonserde.JsonSerDe"
TEXT_SERDE = "org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe"
TEXT_INPUT = "org.apache.hadoop.mapred.TextInputFormat"
TEXT_OUTPUT = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
# Loader column kinds -> Glue/Athena types (timestamps stay RFC 3339 text: from_iso8601_timestamp()).
GLUE_TYPES = {
    "text": "string",
    "int": "int",
    "decimal": "double",
    "double": "double",
    "bool": "boolean",
    "timestamp": "string",
    "super": "string",
}
QUARANTINE_COLUMNS = (
    ("stage", "string"),
    ("reason", "string"),
    ("detail", "string"),
    ("raw_b64", "string"),
    ("sequence_number", "string"),
    ("sub_sequence_number", "int"),
    ("partition_key", "string"),
    ("shard_id", "string"),
    ("source_key", "string"),
    ("record_index", "bigint"),
    ("message_id", "string"),
    ("event_id", "string"),
    ("arrival_time", "string"),
    ("quarantined_at", "string"),
    ("parser_version", "string"),
)


def database_name(cfg: EnvironmentConfig) -> str:
    """Glue names take no hyphens: ``risk_scoring_dev``."""
    return cfg.prefix.replace("-", "_")


def projections(bucket_name: str) -> dict[str, dict[str, str]]:
    """Table -> its partition projection parameters, the location template following the key layout."""
    hour = {
        "projection.year.type": "integer",
        "projection.year.range": f"{PROJECTION_START_YEAR},2099",
        "projection.month.type": "integer",
        "projection.month.range": "1,12",
        "projection.month.digits": "2",
        "projection.day.type": "integer",
        "projection.day.range": "1,31",
        "projection.day.digits": "2",
        "projection.hour.type": "integer",
        "projection.hour.range": "0,23",
        "projection.hour.digits": "2",
        "storage.location.template": f"s3://{bucket_name}/{RAW_PREFIX}year=${{year}}/month=${{month}}/day=${{day}}/hour=${{hour}}/",
    }

    def by_date(key: str, prefix: str) -> dict[str, str]:
        return {
            f"projection.{key}.type": "date",
            f"projection.{key}.format": "yyyy-MM-dd",
            f"projection.{key}.range": f"{PROJECTION_START_YEAR}-01-01,NOW",
            f"projection.{key}.interval": "1",
            f"projection.{key}.interval.unit": "DAYS",
            "storage.location.template": f"s3://{bucket_name}/{prefix}{key}=${{{key}}}/",
        }

    return {
        "raw": hour,
        "enriched": by_date("event_date", ENRICHED_PREFIX),
        "quarantine": by_date("date", QUARANTINE_PREFIX),
    }


class CatalogStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        cfg: EnvironmentConfig,
        archive_bucket: s3.IBucket,
        archive_key: kms.IKey,
        access_logs: s3.IBucket,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.database_name = database_name(cfg)
        database = glue.CfnDatabase(
            self,
            "Database",
            catalog_id=Aws.ACCOUNT_ID,
            database_input=glue.CfnDatabase.DatabaseInputProperty(
                name=self.database_name, description=f"{cfg.prefix}: the S3 archive (raw, enriched, quarantine)"
            ),
        )
        projected = projections(archive_bucket.bucket_name)
        enriched_columns = [(name, GLUE_TYPES[kind]) for name, kind in RISK_EVENTS_COLUMNS]
        self.tables = {
            "raw": self._table(
                "RawTable",
                name="raw",
                # Firehose appends a newline to every record (AppendDelimiterToRecord, stacks/ingest.py) and
                # GZIPs each object (.gz: Athena decompresses by the suffix): a row is one record, its text
                # as sent (a JSON event; read fields with json_extract_scalar). Binary records (Avro, KPL
                # aggregates) are rows too, but unreadable as text; per event, query enriched.
                columns=[("data", "string")],
                partitions=[("year", "int"), ("month", "int"), ("day", "int"), ("hour", "int")],
                location=f"s3://{archive_bucket.bucket_name}/{RAW_PREFIX}",
                serde=TEXT_SERDE,
                projection=projected["raw"],
                description="Raw records as Firehose archived them, one a line (GZIP), by arrival hour",
            ),
            "enriched": self._table(
                "EnrichedTable",
                name="enriched",
                columns=enriched_columns,
                partitions=[("event_date", "string")],
                location=f"s3://{archive_bucket.bucket_name}/{ENRICHED_PREFIX}",
                serde=JSON_SERDE,
                projection=projected["enriched"],
                description="Scored events as loaded (pseudonymised), one JSON object a line, by event date",
            ),
            "quarantine": self._table(
                "QuarantineTable",
                name="quarantine",
                columns=list(QUARANTINE_COLUMNS),
                partitions=[("date", "string")],
                location=f"s3://{archive_bucket.bucket_name}/{QUARANTINE_PREFIX}",
                serde=JSON_SERDE,
                projection=projected["quarantine"],
                description="Records set aside with their reason (parse, ingest, score), by quarantine date",
            ),
        }
        for table in self.tables.values():
            table.node.add_dependency(database)

        self.results = s3.Bucket(
            self,
            "QueryResults",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=archive_key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            server_access_logs_bucket=access_logs,
            server_access_logs_prefix="athena-results/",
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-results",
                    expiration=Duration.days(RESULTS_EXPIRY_DAYS),
                    noncurrent_version_expiration=Duration.days(1),
                )
            ],
            removal_policy=removal_policy(cfg),
            auto_delete_objects=False,
        )
        self.workgroup = athena.CfnWorkGroup(
            self,
            "WorkGroup",
            name=cfg.prefix,
            description=f"{cfg.prefix}: queries over the archive; results SSE-KMS, workgroup settings enforced",
            state="ENABLED",
            recursive_delete_option=not cfg.is_production,
            work_group_configuration=athena.CfnWorkGroup.WorkGroupConfigurationProperty(
                enforce_work_group_configuration=True,
                publish_cloud_watch_metrics_enabled=True,
                bytes_scanned_cutoff_per_query=100 * 1024**3,  # 100 GB: a runaway query stops
                result_configuration=athena.CfnWorkGroup.ResultConfigurationProperty(
                    output_location=f"s3://{self.results.bucket_name}/",
                    encryption_configuration=athena.CfnWorkGroup.EncryptionConfigurationProperty(
                        encryption_option="SSE_KMS", kms_key=archive_key.key_arn
                    ),
                ),
            ),
        )

    def _table(
        self,
        id: str,
        *,
        name: str,
        columns: list[tuple[str, str]],
        partitions: list[tuple[str, str]],
        location: str,
        serde: str,
        projection: dict[str, str],
        description: str,
    ) -> glue.CfnTable:
        return glue.CfnTable(
            self,
            id,
            catalog_id=Aws.ACCOUNT_ID,
            database_name=self.database_name,
            table_input=glue.CfnTable.TableInputProperty(
                name=name,
                description=description,
                table_type="EXTERNAL_TABLE",
                parameters={
                    "classification": "json" if serde == JSON_SERDE else "text",
                    "projection.enabled": "true",
                    **projection,
                },
                partition_keys=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in partitions],
                storage_descriptor=glue.CfnTable.StorageDescriptorProperty(
                    columns=[glue.CfnTable.ColumnProperty(name=n, type=t) for n, t in columns],
                    location=location,
                    input_format=TEXT_INPUT,
                    output_format=TEXT_OUTPUT,
                    compressed=name == "raw",
                    serde_info=glue.CfnTable.SerdeInfoProperty(
                        serialization_library=serde,
                        # text: the whole line is the one column (JSON text has no raw control characters,
                        # so the SerDe's default field delimiter \x01 never splits a JSON record)
                        parameters={"ignore.malformed.json": "true"}
                        if serde == JSON_SERDE
                        else {"serialization.format": "1", "line.delim": "\n"},
                    ),
                ),
            ),
        )
