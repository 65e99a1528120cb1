"""Lambda entry point of the score stage (SQS "parsed" -> per-user state -> SQS "scored").

Thin on purpose: the work is :func:`risk.score.service.score_events`. Per invocation:
unpack every message (a malformed one fails alone, through the partial batch
response, and reaches the DLQ after ``maxReceiveCount``), read all users' states in one
BatchGetItem set, apply and score the whole batch, write each changed user once
(conditional on its version), then send the scored events packed into envelopes with
SendMessageBatch. A body that cannot be sent fails its source message only: SQS
redelivers it, the state recognises its events as duplicates and recomputes the same
features and score, and the loader's MERGE keeps one row per event.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from functools import cache
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from risk.common import settings, telemetry
from risk.common.envelope import pack, unpack
from risk.common.failures import emit_failures
from risk.common.publish import send_owned
from risk.events.model import RiskEvent
from risk.score.scorers import Scorer, load_scorer
from risk.score.service import score_events
from risk.score.store import DynamoStateStore, StateStore

logger = Logger(service=telemetry.SERVICE)
metrics = Metrics(namespace=telemetry.NAMESPACE, service=telemetry.SERVICE)
tracer = Tracer(service=telemetry.SERVICE, patch_modules=telemetry.TRACED_MODULES)


@dataclass(frozen=True)
class ScoreDependencies:
    sqs: Any
    store: StateStore
    scorer: Scorer
    scored_queue_url: str
    environment: str


@cache
def dependencies() -> ScoreDependencies:
    """Clients, the state store and the scorer (model loaded): once per container."""
    return ScoreDependencies(
        sqs=boto3.client("sqs"),
        store=DynamoStateStore(
            boto3.client("dynamodb"),
            settings.env(settings.STATE_TABLE),
            int(settings.env(settings.STATE_TTL_DAYS, "30")),
        ),
        scorer=load_scorer(),
        scored_queue_url=settings.env(settings.SCORED_QUEUE_URL),
        environment=os.environ.get(settings.ENVIRONMENT, "local"),
    )


def decode(record: SQSRecord) -> list[RiskEvent]:
    """A message's events; any malformed envelope or event fails the whole message."""
    return [RiskEvent.from_dict(item) for item in unpack(record.body)]


def _emit(spec: telemetry.MetricSpec, value: float) -> None:
    metrics.add_metric(name=spec.name, unit=spec.unit, value=value)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = dependencies()
    telemetry.set_environment_dimension(metrics, deps.environment)
    records: list[dict[str, Any]] = event.get("Records", [])

    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    with processor(records=records, handler=decode, lambda_context=context):
        processed = processor.process()
    failures = [str(item["itemIdentifier"]) for item in processor.response()["batchItemFailures"]]
    if failures:
        logger.error("malformed messages fail alone (DLQ after maxReceiveCount)", message_ids=failures)
        emit_failures("score", deps.environment, {telemetry.Cause.POISON: len(failures)})
    good: list[tuple[str, list[RiskEvent]]] = [
        (raw["messageId"], result) for status, result, raw in processed if status == "success"
    ]
    owners = [mid for mid, events in good for _ in events]
    events = [e for _, events in good for e in events]
    if not events:
        _emit(telemetry.EVENTS_SCORED, 0)  # a zero, not a gap, on the dashboard
        return _response(failures)

    try:
        batch = score_events(deps.store, deps.scorer, events)
    except Exception:
        logger.exception("state or scoring failed: every message of the batch goes back to the queue")
        emit_failures("score", deps.environment, {telemetry.Cause.STATE_STORE: len(good)})
        _emit(telemetry.EVENTS_SCORED, 0)  # a zero, not a gap (and no empty-metrics warning)
        return _response(failures + [mid for mid, _ in good])

    per_message: dict[str, list[dict[str, Any]]] = {}
    for mid, scored in zip(owners, batch.scored, strict=True):
        per_message.setdefault(mid, []).append(scored.to_dict())
    bodies = [(mid, body) for mid, items in per_message.items() for body in pack(items)]
    unsent = send_owned(deps.sqs, deps.scored_queue_url, bodies)
    if unsent:
        logger.error("scored events not sent: their messages will be redelivered", message_ids=sorted(unsent))
        emit_failures("score", deps.environment, {telemetry.Cause.PUBLISH: len(unsent)})

    sent = [s for mid, s in zip(owners, batch.scored, strict=True) if mid not in unsent]
    bands = Counter((s.score.risk_band, s.score.model_version) for s in sent)
    _emit(telemetry.EVENTS_SCORED, len(sent))
    _emit(telemetry.EVENTS_FLAGGED, sum(n for (band, _), n in bands.items() if band != "low"))
    _emit(telemetry.DUPLICATE_EVENTS_SKIPPED, batch.duplicates)
    for (band, version), n in sorted(bands.items()):
        spec = telemetry.SCORED_BY_BAND
        with single_metric(
            name=spec.name,
            unit=MetricUnit(spec.unit),
            value=n,
            namespace=telemetry.NAMESPACE,
            default_dimensions={"service": telemetry.SERVICE, "environment": deps.environment},
        ) as metric:
            metric.add_dimension(name="risk_band", value=band)
            metric.add_dimension(name="model_version", value=version)
    for s in sent:
        if s.score.risk_band == "high":  # one line per high-risk event, correlated by its event_id
            logger.set_correlation_id(s.event.event_id)
            logger.info("high risk", score=s.score.score, reasons=list(s.score.reasons))
    logger.set_correlation_id(None)
    logger.info(
        "batch scored",
        messages=len(records),
        events=len(events),
        duplicates=batch.duplicates,
        state_writes=batch.writes,
        state_conflicts=batch.conflicts,
        unsent_messages=len(unsent),
    )
    return _response(failures + sorted(unsent))


def _response(failed_message_ids: list[str]) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid in dict.fromkeys(failed_message_ids)]}
