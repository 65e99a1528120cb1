"""A scored event as a ``risk_events`` row and as its enriched archive record.

One mapping (:func:`to_record`) produces the pseudonymised record, keyed by the column names of
``risk.warehouse.columns``; the warehouse row (:func:`to_row`) and the enriched JSON object
(:func:`to_enriched`) are two renderings of it, so S3 and Redshift cannot disagree. Raw email, ip
and device id are not in the record at all: nothing downstream of this module can leak them.
"""

from __future__ import annotations

import math
from dataclasses import fields
from datetime import UTC, date, datetime
from typing import Any

import orjson

from risk.events.model import format_ts
from risk.load.pseudonymise import Pseudonymiser
from risk.score.model import REASON_CONTRIBUTIONS, Features, ScoredEvent
from risk.warehouse.columns import COLUMN_NAMES, RISK_EVENTS_COLUMNS

Record = dict[str, Any]
_KINDS = dict(RISK_EVENTS_COLUMNS)


# Every feature is a column of the same name (``_check`` fails loudly if the two drift apart).
_FEATURE_COLUMNS = tuple(f.name for f in fields(Features))


class RowError(ValueError):
    """A scored event that cannot become a row (it fails its own message, not the batch)."""


def to_record(
    scored: ScoredEvent,
    keys: Pseudonymiser,
    loaded_at: datetime,
    source: dict[str, str] | None = None,
    thresholds: tuple[float | None, float | None] = (None, None),
) -> Record:
    """The pseudonymised record of one scored event, in column order.

    ``source`` is where the event entered (``risk.common.envelope.source_of``), ``thresholds`` the
    (medium, high) band thresholds it was scored with (``thresholds_of``); ``enriched_key`` is set
    by the load once it knows the object the record goes to (``risk.load.service``).
    """
    event, features, score = scored.event, scored.features, scored.score
    record: Record = {
        "event_id": event.event_id,
        "user_id": event.user_id,
        "event_type": event.event_type,
        "channel": event.channel,
        "schema_version": event.schema_version,
        "occurred_at": event.occurred_at,
        "ingested_at": event.ingested_at,
        "loaded_at": loaded_at,
        "amount": event.amount,
        "currency": event.currency,
        "country": event.country,
        "merchant_id": event.merchant_id,
        "ip_key": keys.ip_key(event.ip),
        "device_key": keys.device_key(event.device_id),
        "email_key": keys.email_key(event.email),
        "geo_lat": None if event.geo is None else event.geo.lat,
        "geo_lon": None if event.geo is None else event.geo.lon,
        **{name: getattr(features, name) for name in _FEATURE_COLUMNS},
        "score": score.score,
        "risk_band": score.risk_band,
        "model_version": score.model_version,
        "reason_codes": list(score.reasons),
        "metadata": event.metadata,
        "kinesis_shard_id": None if source is None else source.get("shard_id"),
        "kinesis_sequence_number": None if source is None else source.get("sequence_number"),
        "enriched_key": None,
        "band_medium_threshold": thresholds[0],
        "band_high_threshold": thresholds[1],
        "shadow_scores": [s.to_dict() for s in scored.shadows] or None,  # V021: the shadow models' scores
        # V024: aligned with reason_codes; NULL when the scorer (or an older producer) sent none
        REASON_CONTRIBUTIONS: None if score.contributions is None else list(score.contributions),
    }
    _check(record)
    return {name: record[name] for name in COLUMN_NAMES}


def _check(record: Record) -> None:
    """Types per column kind, so a bad value fails its message here rather than the whole batch in SQL."""
    missing, extra = set(COLUMN_NAMES) - record.keys(), record.keys() - set(COLUMN_NAMES)
    if missing or extra:
        raise RowError(f"record and risk_events disagree: missing {sorted(missing)}, no column for {sorted(extra)}")
    for name, kind in RISK_EVENTS_COLUMNS:
        value = record[name]
        if value is None:
            continue
        ok = {
            "text": isinstance(value, str),
            "timestamp": isinstance(value, datetime) and value.tzinfo is not None,
            "int": isinstance(value, int) and not isinstance(value, bool),
            "bool": isinstance(value, bool),
            "double": _is_finite_number(value),
            "decimal": _is_finite_number(value),
            "super": isinstance(value, dict | list),
        }[kind]
        if not ok:
            raise RowError(f"column {name} ({kind}) cannot hold {type(value).__name__} {value!r:.80}")


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def to_row(record: Record) -> tuple[Any, ...]:
    """Values in ``COLUMN_NAMES`` order as the loader binds them.

    Timestamps become naive UTC datetimes (``TIMESTAMP`` columns hold UTC); SUPER values become
    compact JSON text with sorted keys (parsed in SQL by ``JSON_PARSE``).
    """
    return tuple(_db_value(_KINDS[name], record[name]) for name in COLUMN_NAMES)


def _db_value(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == "timestamp":
        return value.astimezone(UTC).replace(tzinfo=None)
    if kind == "super":
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return value


def to_enriched(record: Record) -> dict[str, Any]:
    """The archive's JSON object: the same columns, timestamps as RFC 3339 UTC strings."""
    return {name: format_ts(value) if isinstance(value, datetime) else value for name, value in record.items()}


def event_date(record: Record) -> date:
    """The partition of the enriched archive: the UTC date the event occurred."""
    occurred: datetime = record["occurred_at"]
    return occurred.astimezone(UTC).date()
