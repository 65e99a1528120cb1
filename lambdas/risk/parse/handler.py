"""Lambda entry point of the parse stage (Kinesis -> S3 quarantine/ + SQS "parsed").

Thin on purpose: the flow is :func:`risk.parse.service.process_batch`; this module adds the
Powertools logger, tracer and metrics, and keeps the AWS clients for the container's lifetime.
Metrics are exactly the parse metrics of ``risk.common.telemetry``: records received, events
published to the parsed queue, records quarantined, quarantined records by reason, and records
handed back to Kinesis by cause (``ProcessingFailures``).
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer, single_metric
from aws_lambda_powertools.metrics import MetricUnit

from risk.common import telemetry
from risk.common.failures import emit_failures
from risk.common.redact import log_safe
from risk.common.settings import ENVIRONMENT
from risk.parse.service import BatchOutcome, ParseDependencies, process_batch

logger = Logger(service=telemetry.SERVICE)
metrics = Metrics(
    namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", telemetry.NAMESPACE), service=telemetry.SERVICE
)
tracer = Tracer(service=telemetry.SERVICE, patch_modules=telemetry.TRACED_MODULES)

_dependencies: ParseDependencies | None = None  # clients: once per container


def dependencies() -> ParseDependencies:
    global _dependencies  # noqa: PLW0603 - the container-wide cache is the point
    if _dependencies is None:
        _dependencies = ParseDependencies.from_environment()
    return _dependencies


def _emit(spec: telemetry.MetricSpec, value: float) -> None:
    metrics.add_metric(name=spec.name, unit=spec.unit, value=value)


def _emit_by_reason(outcome: BatchOutcome, environment: str) -> None:
    spec = telemetry.QUARANTINED_BY_REASON
    for reason, count in sorted(outcome.by_reason.items()):
        with single_metric(
            name=spec.name,
            unit=MetricUnit(spec.unit),
            value=count,
            namespace=metrics.namespace,
            default_dimensions={"service": telemetry.SERVICE, "environment": environment},
        ) as metric:
            metric.add_dimension(name="reason", value=reason.value)


def _failure_causes(outcome: BatchOutcome) -> dict[str, int]:
    """Records handed back to Kinesis by cause (a batch where both writes failed counts as archive)."""
    cause = telemetry.Cause.ARCHIVE if outcome.quarantine_error else telemetry.Cause.PUBLISH
    return {cause: len(outcome.failed)}


def _log(outcome: BatchOutcome) -> None:
    for q in outcome.quarantined:
        logger.set_correlation_id(q.item.event_id)
        logger.warning(
            "record quarantined",
            reason=q.item.reason.value,
            detail=log_safe(q.item.detail),  # the quarantine object keeps the full detail
            sequence_number=q.item.sequence_number,
            shard_id=q.shard_id,
        )
    logger.set_correlation_id(None)
    if outcome.quarantine_error:
        logger.error("quarantine write failed: the records go back to Kinesis", error=outcome.quarantine_error)
    if outcome.publish_errors:
        logger.error("messages not sent: their records go back to Kinesis", errors=dict(outcome.publish_errors))
    logger.info(
        "batch parsed",
        records=outcome.received,
        events_published=outcome.published_events,
        messages=outcome.messages,
        quarantined=len(outcome.quarantined),
        quarantine_key=outcome.quarantine_key,
        failed_records=len(outcome.failed),
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    environment = os.environ.get(ENVIRONMENT, "local")
    telemetry.set_environment_dimension(metrics, environment)
    outcome = process_batch(event.get("Records", []), dependencies())
    _log(outcome)
    _emit(telemetry.RECORDS_RECEIVED, outcome.received)
    _emit(telemetry.EVENTS_PARSED, outcome.published_events)
    _emit(telemetry.EVENTS_QUARANTINED, len(outcome.quarantined))
    _emit_by_reason(outcome, environment)
    emit_failures("parse", environment, _failure_causes(outcome))
    return outcome.response()
