"""Build the whole CDK app for one environment: the one path for ``app.py`` and the tests.

Stacks are named ``RiskScoring-<Env>-<Part>`` and wired through constructor props (no
exports typed by hand, no names or ARNs besides the config-derived queue names). cdk-nag's
AwsSolutions and Serverless packs validate every stack at synth time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_cdk import App, Environment, Stack, Tags, Validations
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from stacks.archive import ArchiveStack
from stacks.bundling import Packaging
from stacks.catalog import CatalogStack
from stacks.checkov import apply_checkov_skips
from stacks.config import CDK_JSON, EnvironmentConfig, load_environment
from stacks.entry import EntryStack
from stacks.entry_monitoring import entry_monitoring
from stacks.ingest import IngestStack
from stacks.keys import KeysStack
from stacks.monitored import MonitoredResources
from stacks.monitoring import MonitoringStack
from stacks.processing import ProcessingStack, WarehouseAccess
from stacks.retention_alarms import retention_alarms
from stacks.sagemaker import SageMakerStack
from stacks.schema import SchemaStack
from stacks.warehouse import WarehouseStack

STACK_PREFIX = "RiskScoring"
PARTS = ("Keys", "Archive", "Ingest", "Entry", "Catalog", "Warehouse", "Schema", "Processing", "Monitoring")
SAGEMAKER_PART = "SageMaker"  # only where cdk.json's scoring.sagemaker is set (stacks/sagemaker.py)


def parts(cfg: EnvironmentConfig) -> tuple[str, ...]:
    """The stacks of one environment."""
    return PARTS + ((SAGEMAKER_PART,) if cfg.scoring.sagemaker else ())


def stack_name(env_name: str, part: str) -> str:
    """``RiskScoring-Dev-Processing``: the stack id and CloudFormation stack name."""
    return f"{STACK_PREFIX}-{env_name.capitalize()}-{part}"


def committed_context() -> dict[str, Any]:
    """cdk.json's context (feature flags included), so a test App behaves as the CLI's does."""
    context = json.loads(CDK_JSON.read_text())["context"]
    return {key: value for key, value in context.items() if key != "environments"}


@dataclass(frozen=True)
class RiskApp:
    app: App
    cfg: EnvironmentConfig
    stacks: dict[str, Stack]  # by part name


def build_app(
    env_name: str, *, bundle: bool, app: App | None = None, environments: Mapping[str, Any] | None = None
) -> RiskApp:
    """Every stack of one environment in ``app`` (a new App unless given), cdk-nag enabled.

    ``environments`` replaces cdk.json's ``context.environments`` (tests build invalid configs).
    Raises :class:`stacks.config.ConfigError` naming the bad key before any construct exists.
    """
    cfg = load_environment(env_name, environments)
    app = app or App(context=committed_context())
    env = Environment(account=cfg.account, region=cfg.region)

    def props(part: str) -> dict[str, object]:
        return {
            "stack_name": stack_name(cfg.name, part),
            "env": env,
            "description": f"Risk scoring pipeline ({cfg.name}): {part.lower()}",
            "termination_protection": cfg.is_production,
        }

    packaging = Packaging(bundle=bundle)
    keys = KeysStack(app, stack_name(cfg.name, "Keys"), cfg=cfg, **props("Keys"))
    archive = ArchiveStack(
        app, stack_name(cfg.name, "Archive"), cfg=cfg, archive_key=keys.archive_key, **props("Archive")
    )
    ingest = IngestStack(
        app,
        stack_name(cfg.name, "Ingest"),
        cfg=cfg,
        stream_key=keys.pipeline_key,
        archive_bucket=archive.bucket,
        archive_key=keys.archive_key,
        **props("Ingest"),
    )
    catalog = CatalogStack(  # Glue Data Catalog + Athena over the archive (issue 17)
        app,
        stack_name(cfg.name, "Catalog"),
        cfg=cfg,
        archive_bucket=archive.bucket,
        archive_key=keys.archive_key,
        access_logs=archive.access_logs,
        **props("Catalog"),
    )
    warehouse = WarehouseStack(
        app,
        stack_name(cfg.name, "Warehouse"),
        cfg=cfg,
        warehouse_key=keys.warehouse_key,
        log_key=keys.pipeline_key,
        archive_bucket=archive.bucket,
        archive_key=keys.archive_key,
        **props("Warehouse"),
    )
    entry = EntryStack(  # the other ways in: the S3 inbox (issue 17)
        app,
        stack_name(cfg.name, "Entry"),
        cfg=cfg,
        packaging=packaging,
        pipeline_key=keys.pipeline_key,
        stream=ingest.stream,
        archive_bucket=archive.bucket,
        archive_key=keys.archive_key,
        access_logs=archive.access_logs,
        async_failures=warehouse.async_failures,
        **props("Entry"),
    )
    schema = SchemaStack(
        app,
        stack_name(cfg.name, "Schema"),
        cfg=cfg,
        packaging=packaging,
        log_key=keys.pipeline_key,
        vpc=warehouse.vpc,
        security_group=warehouse.migrator_sg,
        workgroup_name=warehouse.workgroup_name,
        workgroup_host=warehouse.workgroup_host,
        admin_secret_arn=warehouse.admin_secret_arn,
        warehouse_key=keys.warehouse_key,
        retention_security_group=warehouse.retention_sg,
        workgroup_arn=warehouse.workgroup_arn,
        async_failures=warehouse.async_failures,
        **props("Schema"),
    )
    processing = ProcessingStack(
        app,
        stack_name(cfg.name, "Processing"),
        cfg=cfg,
        packaging=packaging,
        pipeline_key=keys.pipeline_key,
        stream=ingest.stream,
        archive_bucket=archive.bucket,
        archive_key=keys.archive_key,
        warehouse=WarehouseAccess(
            vpc=warehouse.vpc,
            security_group=warehouse.loader_sg,
            workgroup_name=warehouse.workgroup_name,
            workgroup_arn=warehouse.workgroup_arn,
            workgroup_host=warehouse.workgroup_host,
            secret_key=keys.warehouse_key,
        ),
        async_failures=warehouse.async_failures,
        **props("Processing"),
    )
    # The loader writes risk_events: the schema must be in place before it can consume.
    processing.add_stack_dependency(schema, "the load function needs the warehouse schema")
    monitoring = MonitoringStack(
        app,
        stack_name(cfg.name, "Monitoring"),
        cfg=cfg,
        topic_key=keys.pipeline_key,
        resources=MonitoredResources(
            functions=processing.functions,
            queues=dict(processing.queues),
            dead_letter_queues=dict(processing.dead_letter_queues),
            stream=ingest.stream,
            delivery_stream_name=ingest.delivery_stream_name,
            state_table=processing.state_table,
            redshift_namespace_name=warehouse.namespace.namespace_name,
            redshift_workgroup_name=warehouse.workgroup.workgroup_name,
            async_failures=warehouse.async_failures,
        ),
        **props("Monitoring"),
    )

    retention_alarms(monitoring, cfg, schema.retention.function, monitoring.warning_topic)
    entry_monitoring(entry, cfg, monitoring.alarm_topic, monitoring.warning_topic)  # the ways in (issue 17)

    stacks: dict[str, Stack] = {
        "Keys": keys,
        "Archive": archive,
        "Ingest": ingest,
        "Entry": entry,
        "Catalog": catalog,
        "Warehouse": warehouse,
        "Schema": schema,
        "Processing": processing,
        "Monitoring": monitoring,
    }
    if cfg.scoring.sagemaker:  # the endpoint the score function calls (issue 15)
        endpoint = SageMakerStack(
            app, stack_name(cfg.name, SAGEMAKER_PART), cfg=cfg, log_key=keys.pipeline_key, **props(SAGEMAKER_PART)
        )
        processing.add_stack_dependency(endpoint, "the score function calls the endpoint")
        stacks[SAGEMAKER_PART] = endpoint
    for stack in stacks.values():
        Tags.of(stack).add("project", "risk-scoring")
        Tags.of(stack).add("environment", cfg.name)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app), ServerlessChecks(app))
    apply_checkov_skips(app)
    return RiskApp(app=app, cfg=cfg, stacks=stacks)
