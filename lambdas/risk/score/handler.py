"""Lambda entry point of the score stage (SQS "parsed" -> per-user state -> SQS "scored").

Thin on purpose: the work is :func:`risk.score.service.score_isolating`. Per invocation:
unpack every message (a malformed envelope fails alone, through the partial batch
response, and reaches the DLQ after ``maxReceiveCount``; an item that is not an event, or an
event that fails to score or to encode, is set aside alone to the archive's quarantine/ with
``stage: score`` and counted in ``ScoreEventsQuarantined``), read all users' states in one
BatchGetItem set, apply and score the whole batch, write each changed user once
(conditional on its version), then send the scored events packed into envelopes with
SendMessageBatch. A body that cannot be sent fails its source message only: SQS
redelivers it, the state recognises its events as duplicates and recomputes the same
features and score, and the loader's MERGE keeps one row per event.

The parsed queue is FIFO: when a message fails, every later message of its group in the batch
fails with it and none of their events is applied (``risk.common.fifo.with_rest_of_groups``),
so each user's events reach the state in stream order (docs/scoring.md).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from risk.common import aws, fifo, settings, telemetry
from risk.common.batch import decode_each
from risk.common.envelope import (
    EnvelopeError,
    encode_item,
    pack_encoded,
    source_of,
    unpack,
    with_source,
    with_thresholds,
)
from risk.common.failures import emit_failures
from risk.common.publish import send_owned
from risk.common.redact import log_safe
from risk.events.model import RiskEvent
from risk.events.reasons import Reason
from risk.score import comparison
from risk.score.model import ScoredEvent
from risk.score.scorers import Scorer, load_scorer
from risk.score.scorers.base import Thresholds
from risk.score.scorers.shadow import ShadowScorer, attach_shadows, load_shadows
from risk.score.service import check_finite, score_isolating
from risk.score.store import DEFAULT_HORIZON_DAYS, DynamoStateStore, StateStore

logger = Logger(service=telemetry.SERVICE)
metrics = Metrics(namespace=telemetry.NAMESPACE, service=telemetry.SERVICE)
tracer = Tracer(service=telemetry.SERVICE, patch_modules=telemetry.TRACED_MODULES)


@dataclass(frozen=True)
class ScoreDependencies:
    sqs: Any
    s3: Any
    bucket: str  # the archive: quarantine/ for an event that fails alone
    store: StateStore
    scorer: Scorer
    scored_queue_url: str
    environment: str
    shadows: tuple[ShadowScorer, ...] = ()  # scored beside the champion, stored, never acted on


@cache
def dependencies() -> ScoreDependencies:
    """Clients, the state store and the scorer (model loaded): once per container."""
    return ScoreDependencies(
        sqs=aws.client("sqs"),
        s3=aws.client("s3"),
        bucket=settings.env(settings.ARCHIVE_BUCKET),
        store=DynamoStateStore(
            aws.client("dynamodb"),
            settings.env(settings.STATE_TABLE),
            int(settings.env(settings.STATE_TTL_DAYS, "30")),
            horizon_days=int(settings.env(settings.STATE_DEDUPE_HORIZON_DAYS, str(DEFAULT_HORIZON_DAYS))),
        ),
        scorer=load_scorer(),
        scored_queue_url=settings.env(settings.SCORED_QUEUE_URL),
        environment=os.environ.get(settings.ENVIRONMENT, "local"),
        shadows=load_shadows(),
    )


def decode(body: str) -> list[dict[str, Any]]:
    """A message's items; a malformed envelope fails the whole message (its items are unknown)."""
    return unpack(body)


@dataclass(frozen=True)
class SetAside:
    """One event of a message that the stage could not handle; its neighbours go on without it."""

    message_id: str
    item: Any
    detail: str


def _emit(spec: telemetry.MetricSpec, value: float) -> None:
    metrics.add_metric(name=spec.name, unit=spec.unit, value=value)


def _emit_counts(
    spec: telemetry.MetricSpec, counts: Iterable[tuple[tuple[str, ...], int]], deps: ScoreDependencies
) -> None:
    """One value per combination of ``spec``'s extra dimensions (in their order) that occurred in the batch."""
    for values, n in sorted(counts):
        with single_metric(
            name=spec.name,
            unit=MetricUnit(spec.unit),
            value=n,
            namespace=telemetry.NAMESPACE,
            default_dimensions={"service": telemetry.SERVICE, "environment": deps.environment},
        ) as metric:
            for name, value in zip(spec.extra_dimensions, values, strict=True):
                metric.add_dimension(name=name, value=value)


def _quarantine(deps: ScoreDependencies, set_aside: list[SetAside]) -> set[str]:
    """Write the events set aside; return the messages to fail if that write fails (never silent loss)."""
    if not set_aside:
        return set()
    from risk.parse import quarantine  # noqa: PLC0415 - rare path: the parser and validator stay out of the cold start

    at = datetime.now(UTC)
    lines = [
        quarantine.event_line(
            stage="score",
            reason=Reason.SCORE_ERROR,
            detail=s.detail,
            item=s.item,
            message_id=s.message_id,
            quarantined_at=at,
        )
        for s in set_aside
    ]
    key = quarantine.stage_object_key("score", at, set_aside[0].message_id, len(set_aside))
    try:
        quarantine.write(deps.s3, deps.bucket, key, lines)
    except Exception:
        logger.exception("quarantine write failed: those messages go back to the queue")
        return {s.message_id for s in set_aside}
    for s in set_aside:
        logger.warning(
            "event quarantined at score",
            event_id=s.item.get("event_id") if isinstance(s.item, dict) else None,
            detail=log_safe(s.detail),
            quarantine_key=key,
        )
    return set()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    deps = dependencies()
    telemetry.set_environment_dimension(metrics, deps.environment)
    records: list[dict[str, Any]] = event.get("Records", [])

    decoded = decode_each(records, decode)
    malformed = decoded.failed
    if malformed:
        logger.error(
            "malformed messages fail, with the rest of their groups (DLQ after maxReceiveCount)", message_ids=malformed
        )
        emit_failures("score", deps.environment, {telemetry.Cause.POISON: len(malformed)})
    failures = fifo.with_rest_of_groups(records, malformed)
    held = set(failures)
    good = [(mid, items) for mid, items in decoded.ok if mid not in held]
    set_aside: list[SetAside] = []
    owners: list[str] = []
    events: list[RiskEvent] = []
    sources: list[dict[str, str] | None] = []  # drill-through: carried to the scored item unchanged
    for mid, items in good:
        for item in items:
            try:  # one item that is not an event fails alone, not its message
                events.append(RiskEvent.from_dict(item))
                owners.append(mid)
                sources.append(source_of(item))
            except Exception as exc:
                set_aside.append(SetAside(mid, item, f"not an event: {type(exc).__name__}: {exc}"))
    if not events and not set_aside:
        _emit(telemetry.EVENTS_SCORED, 0)  # a zero, not a gap, on the dashboard
        return _response(failures)

    try:
        batch = score_isolating(deps.store, deps.scorer, events)
    except Exception:
        logger.exception("state or scoring failed: every message of the batch goes back to the queue")
        emit_failures("score", deps.environment, {telemetry.Cause.STATE_STORE: len(good)})
        _emit(telemetry.EVENTS_SCORED, 0)  # a zero, not a gap (and no empty-metrics warning)
        return _response(failures + [mid for mid, _ in good])

    take_fallbacks = getattr(deps.scorer, "take_fallbacks", None)  # SageMaker: events its fallback scored
    if take_fallbacks is not None:
        _emit(telemetry.SCORER_FALLBACKS, take_fallbacks())
    per_message: dict[str, list[bytes]] = {}
    thresholds = getattr(deps.scorer, "thresholds", None)
    done: list[tuple[str, ScoredEvent]] = []
    attached, shadow_failures = attach_shadows(deps.shadows, batch.scored)
    if deps.shadows:  # a zero, not a gap, where shadows run
        _emit(telemetry.SHADOW_FAILURES, shadow_failures)
    for k, (mid, scored) in enumerate(zip(owners, attached, strict=True)):
        if scored is None:
            set_aside.append(SetAside(mid, events[k].to_dict(), f"failed to score: {batch.failures[k]}"))
            continue
        item = with_source(scored.to_dict(), sources[k])
        if isinstance(thresholds, Thresholds):  # every scorer has them; a test double may not
            item = with_thresholds(item, thresholds.medium, thresholds.high)
        try:  # each scored event encoded alone: one that cannot travel is set aside
            check_finite(item)
            encoded = encode_item(item)
        except (EnvelopeError, ValueError) as exc:
            set_aside.append(SetAside(mid, events[k].to_dict(), f"failed to encode: {exc}"))
            continue
        per_message.setdefault(mid, []).append(encoded)
        done.append((mid, scored))
    not_quarantined = _quarantine(deps, set_aside)
    bodies = [(mid, body) for mid, items in per_message.items() for body, _ in pack_encoded(items)]
    unpublished = send_owned(deps.sqs, deps.scored_queue_url, bodies)
    unsent = unpublished | not_quarantined
    if unsent:
        logger.error("scored events not sent: their messages will be redelivered", message_ids=sorted(unsent))
        emit_failures(
            "score",
            deps.environment,
            {telemetry.Cause.PUBLISH: len(unpublished), telemetry.Cause.ARCHIVE: len(not_quarantined - unpublished)},
        )

    sent = [s for mid, s in done if mid not in unsent]
    bands = Counter((s.score.risk_band, s.score.model_version) for s in sent)
    _emit(telemetry.EVENTS_SCORED, len(sent))
    _emit(telemetry.EVENTS_FLAGGED, sum(n for (band, _), n in bands.items() if band != "low"))
    _emit(telemetry.DUPLICATE_EVENTS_SKIPPED, batch.duplicates)
    _emit(telemetry.SCORE_EVENTS_QUARANTINED, 0 if not_quarantined else len(set_aside))
    _emit_counts(telemetry.SCORED_BY_BAND, bands.items(), deps)  # keys in the spec's order: (risk_band, model_version)
    _emit_counts(telemetry.SHADOW_BANDS, comparison.band_pairs(sent).items(), deps)
    _emit_counts(telemetry.SCORES_BY_BUCKET, comparison.score_buckets(sent).items(), deps)
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
        quarantined=len(set_aside),
        unsent_messages=len(unsent),
    )
    return _response(failures + fifo.with_rest_of_groups(records, unsent))


def _response(failed_message_ids: list[str]) -> dict[str, Any]:
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid in dict.fromkeys(failed_message_ids)]}
