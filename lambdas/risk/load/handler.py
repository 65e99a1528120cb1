"""Lambda entry point of the load stage (SQS "scored" queue -> S3 enriched/ + Redshift).

Thin on purpose: decoding, archiving and loading live in :mod:`risk.load.service`. The event source
mapping reports batch item failures. A malformed message fails alone (``risk.common.batch``
does the per-message bookkeeping); so does a message whose data the warehouse refuses (the service
splits the load to find it). Any other load failure reports every message of the batch failed: it
comes back from SQS (then the DLQ after ``max_receive_count``). Nothing is acknowledged before the
warehouse has committed. ``ProcessingFailures`` counts the messages this invocation handed back to SQS,
by cause (poison, archive, warehouse); ``ArrivalToLoadLag`` and ``EventTimeToLoadLag`` get one value
per loaded event.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from botocore.exceptions import ClientError

from risk.common import telemetry
from risk.common.batch import decode_each
from risk.common.failures import emit_failures
from risk.common.redact import log_safe
from risk.common.settings import ENVIRONMENT
from risk.load.pseudonymise import Pseudonymiser
from risk.load.rows import Record
from risk.load.service import LoadDependencies, archive_and_load, batch_id, decode_message, load_time

logger = Logger(service=telemetry.SERVICE)
metrics = Metrics(namespace=telemetry.NAMESPACE, service=telemetry.SERVICE)
tracer = Tracer(service=telemetry.SERVICE, patch_modules=telemetry.TRACED_MODULES)

_dependencies: LoadDependencies | None = None  # clients, key and connection: once per container


def dependencies() -> LoadDependencies:
    global _dependencies  # noqa: PLW0603 - the container-wide cache is the point
    if _dependencies is None:
        _dependencies = LoadDependencies.from_environment()
    return _dependencies


def _emit(spec: telemetry.MetricSpec, value: float) -> None:
    metrics.add_metric(name=spec.name, unit=spec.unit, value=value)


def _decoder(keys: Pseudonymiser, loaded_at: datetime) -> Any:
    def decode(body: str) -> list[Record]:
        return decode_message(body, keys, loaded_at)

    return decode


def _cause(exc: Exception) -> str:
    """The enriched/ S3 put refused is the archive; anything else (the IAM sign-in included) is the warehouse."""
    archive = isinstance(exc, ClientError) and exc.operation_name == "PutObject"
    return telemetry.Cause.ARCHIVE if archive else telemetry.Cause.WAREHOUSE


def _all_failed(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records]}


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    environment = os.environ.get(ENVIRONMENT, "local")
    telemetry.set_environment_dimension(metrics, environment)
    records: list[dict[str, Any]] = event.get("Records", [])
    deps = dependencies()
    loaded_at = load_time()

    decoded = decode_each(records, _decoder(deps.keys, loaded_at))
    messages: list[tuple[str, list[Record]]] = [(mid, result) for mid, result in decoded.ok if result]
    failures = [{"itemIdentifier": mid} for mid in decoded.failed]
    if decoded.failed:
        emit_failures("load", environment, {telemetry.Cause.POISON: len(decoded.failed)})
    if not messages:
        _emit(telemetry.EVENTS_LOADED, 0)  # a zero, not a gap (and no empty-metrics warning)
        return {"batchItemFailures": failures}

    logger.set_correlation_id(batch_id(m for m, _ in messages))  # the S3 object name: logs and archive line up
    try:
        outcome = archive_and_load(messages, deps)
    except Exception as exc:
        logger.exception("load failed: every message of the batch goes back to the queue", messages=len(records))
        emit_failures("load", environment, {_cause(exc): len(records) - len(decoded.failed)})
        _emit(telemetry.EVENTS_LOADED, 0)
        return _all_failed(records)

    for message_id, reason in outcome.refused.items():
        logger.error(
            "the warehouse refused this message's data: it alone goes back",
            message_id=message_id,
            reason=log_safe(reason),  # the error's class only: a database error may quote the value it refused
        )
        failures.append({"itemIdentifier": message_id})
    if outcome.refused:
        emit_failures("load", environment, {telemetry.Cause.POISON: len(outcome.refused)})
    result = outcome.result
    logger.info(
        "batch loaded",
        messages=len(messages) - len(outcome.refused),
        rows=result.rows_in,
        inserted=result.inserted,
        duplicates=result.duplicates,
        objects=outcome.objects,
        attempts=outcome.attempts,
    )
    _emit(telemetry.EVENTS_LOADED, result.rows_in)
    _emit(telemetry.ROWS_MERGED, result.inserted)
    _emit(telemetry.DUPLICATES_SUPPRESSED, result.duplicates)
    _emit(telemetry.LOAD_BATCH_SIZE, result.rows_in)
    for arrival_ms, event_time_ms in outcome.lags_ms:  # one value per event: percentiles over events
        _emit(telemetry.ARRIVAL_TO_LOAD_LAG, arrival_ms)
        _emit(telemetry.EVENT_TIME_TO_LOAD_LAG, event_time_ms)
    return {"batchItemFailures": failures}
