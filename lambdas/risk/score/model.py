"""What scoring adds to an event: features, the score and its reasons.

A scored event travels from score to load as ``{"event": ..., "features": ...,
"score": ...}`` (the dicts below), packed by ``risk.common.envelope``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

from risk.events.model import RiskEvent

IMPOSSIBLE_TRAVEL_KMH = 900.0
RISK_BANDS = ("low", "medium", "high")


@dataclass(frozen=True, slots=True)
class Features:
    """Derived from the user's state *before* this event (the event itself counted in)."""

    count_1m: int
    count_1h: int
    count_24h: int
    amount_sum_1m: float
    amount_sum_1h: float
    amount_sum_24h: float
    amount_zscore: float | None  # None: no amount, or fewer than two prior amounts
    amount_ratio: float | None  # amount / mean of prior amounts
    distance_km: float | None  # None: no geo now or no previous location
    speed_kmh: float | None
    seconds_since_last: float | None
    new_device: bool
    new_country: bool
    hour_of_day: int  # 0-23, UTC
    geo_flag: bool  # implied speed above IMPOSSIBLE_TRAVEL_KMH
    velocity_flag: bool
    new_device_flag: bool  # new device together with a high amount
    high_amount_flag: bool
    # Relative to the user's own behaviour (issue 15). Defaults: a scored message sent before these
    # existed still decodes (the loader stores NULL for what it did not carry).
    high_value_count_1h: int | None = None  # events in the hour (this one included) of a high value for the user
    spend_ratio_1h: float | None = None  # the hour's spend over the user's mean amount before this event
    velocity_ratio_1m: float | None = None  # events in the minute over the user's usual rate per minute
    velocity_ratio_1h: float | None = None  # events in the hour over the user's usual rate per hour
    device_age: int | None = None  # the user's arrivals since this device first came (0: new); None: no device
    country_age: int | None = None  # the same for the country

    def to_dict(self) -> dict[str, Any]:
        # Same output as dataclasses.asdict, ~10x cheaper: asdict deep-copies, and this runs per event.
        return dict(zip(_FEATURE_FIELDS, _feature_values(self), strict=True))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Features:
        return cls(**d)


_FEATURE_FIELDS = tuple(f.name for f in fields(Features))
_feature_values = attrgetter(*_FEATURE_FIELDS)


# The scored event's wire key of the per-reason contributions (and the risk_events column, V024):
# a list aligned with ``reasons``, one number or null per code. Absent in messages from producers
# older than it; those load with NULL contributions.
REASON_CONTRIBUTIONS = "reason_contributions"


class ScoreError(ValueError):
    """A score that breaks the scored-event contract (the event fails alone, never its batch)."""


@dataclass(frozen=True, slots=True)
class Score:
    score: float  # probability in [0, 1]
    risk_band: str  # low, medium or high
    model_version: str
    reasons: tuple[str, ...]  # reason codes, most important first
    # Per reason, what it added to the score (docs/scoring.md: log-odds for the bundled models, a share
    # of the score for the rules); None for a code without one (missing inputs, SCORER_FALLBACK).
    # None as a whole: the scorer has none (SageMaker) or the message predates them.
    contributions: tuple[float | None, ...] | None = None

    def __post_init__(self) -> None:
        # Checked here, so a scorer cannot emit and the load cannot accept a misaligned or non-finite list.
        c = self.contributions
        if c is None:
            return
        if len(c) != len(self.reasons):
            raise ScoreError(f"{len(c)} reason contributions for {len(self.reasons)} reason codes")
        for value in c:
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value)
            ):
                raise ScoreError(f"a reason contribution is not a finite number: {value!r:.40}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "risk_band": self.risk_band,
            "model_version": self.model_version,
            "reasons": list(self.reasons),
            REASON_CONTRIBUTIONS: None if self.contributions is None else list(self.contributions),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Score:
        contributions = d.get(REASON_CONTRIBUTIONS)
        return cls(
            float(d["score"]),
            d["risk_band"],
            d["model_version"],
            tuple(d["reasons"]),
            None if contributions is None else tuple(contributions),
        )


@dataclass(frozen=True, slots=True)
class ShadowScore:
    """A shadow model's opinion of the event: stored beside the champion's, never acted on."""

    model_version: str
    score: float
    risk_band: str

    def to_dict(self) -> dict[str, Any]:
        return {"model_version": self.model_version, "score": self.score, "risk_band": self.risk_band}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShadowScore:
        return cls(str(d["model_version"]), float(d["score"]), str(d["risk_band"]))


@dataclass(frozen=True, slots=True)
class ScoredEvent:
    event: RiskEvent
    features: Features
    score: Score  # the champion's: bands, alerts and reasons come from it
    shadows: tuple[ShadowScore, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "event": self.event.to_dict(),
            "features": self.features.to_dict(),
            "score": self.score.to_dict(),
            "shadows": [s.to_dict() for s in self.shadows],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ScoredEvent:
        return cls(
            RiskEvent.from_dict(d["event"]),
            Features.from_dict(d["features"]),
            Score.from_dict(d["score"]),
            tuple(ShadowScore.from_dict(s) for s in d.get("shadows") or ()),  # absent before issue 15
        )
