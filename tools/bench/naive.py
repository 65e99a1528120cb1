"""Baseline (a) of the scoring hot path: the straightforward implementation, kept here only to be measured.

What a first version would do: decode each record (orjson, as the candidate does), validate it with
the Powertools Parser and a pydantic model of the event contract, then read the user's state, apply
the event and write the state back, once per event (a per-event DynamoDB GetItem/PutItem: the state
is deserialised and serialised every time), then score the event alone. The feature and scoring
functions are the real ones, so the difference measured is the validation and the state round trips,
not the arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from aws_lambda_powertools.utilities.parser import parse
from pydantic import BaseModel, ConfigDict, Field, IPvAnyAddress, StringConstraints

from risk.events.model import Geo, RiskEvent
from risk.score.model import Score
from risk.score.scorers.base import Scorer
from risk.score.state import UserState

Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=128)]


class GeoModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90.0, le=90.0)
    lon: float = Field(ge=-180.0, le=180.0)


class EventModel(BaseModel):
    """The producer contract (issue 4) as a pydantic model; unknown fields are kept (extra="allow")."""

    model_config = ConfigDict(extra="allow")
    event_id: Id
    user_id: Id
    event_type: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1, max_length=32)]
    occurred_at: datetime
    schema_version: Literal[1] = 1
    amount: float | None = Field(default=None, ge=0.0, le=1e12, allow_inf_nan=False)
    currency: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z]{3}$")] | None = (
        None
    )
    ip: IPvAnyAddress | None = None
    geo: GeoModel | None = None
    country: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Z]{2}$")] | None = (
        None
    )
    device_id: Text | None = None
    merchant_id: Text | None = None
    channel: Literal["web", "app", "api"] | None = None
    email: Email | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)


def to_risk_event(model: EventModel, arrival: datetime) -> RiskEvent:
    extra = dict(model.model_extra or {})
    metadata = dict(model.metadata)
    if extra:
        metadata["_extra"] = extra
    return RiskEvent(
        event_id=model.event_id,
        user_id=model.user_id,
        event_type=model.event_type,
        occurred_at=model.occurred_at.astimezone(UTC),
        ingested_at=arrival,
        schema_version=model.schema_version,
        amount=model.amount,
        currency=model.currency,
        ip=None if model.ip is None else model.ip.compressed,
        geo=None if model.geo is None else Geo(model.geo.lat, model.geo.lon),
        country=model.country,
        device_id=model.device_id,
        merchant_id=model.merchant_id,
        channel=model.channel,
        email=model.email,
        metadata=metadata,
    )


def score_records(records: list[bytes], table: dict[str, tuple[int, bytes]], scorer: Scorer, arrival: datetime) -> int:
    """Validate, read state, apply, write state, score: one record at a time. Returns the events scored."""
    scored: list[Score] = []
    for data in records:
        event = to_risk_event(parse(event=orjson.loads(data), model=EventModel), arrival)
        item = table.get(event.user_id)
        state = UserState(event.user_id) if item is None else UserState.from_bytes(event.user_id, item[1], item[0])
        features, _ = state.apply(event)
        table[event.user_id] = (state.version + 1, state.to_bytes())
        scored.append(scorer.score(event, features))
    return len(scored)
