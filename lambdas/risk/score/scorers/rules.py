"""Explicit rules with reason codes: the transparent baseline and the reasons of every scorer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from risk.events.model import RiskEvent
from risk.score import features as fx
from risk.score.model import Features, Score
from risk.score.scorers.base import Thresholds, dedupe
from risk.score.vector import SMALL_AMOUNT, missing_reasons

CARD_TESTING_MIN_COUNT_1H = 8
AMOUNT_SPIKE_ZSCORE = 4.0


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    weight: float  # probability this rule alone implies; rules combine as a noisy OR
    fires: Callable[[RiskEvent, Features], bool]


def _card_testing(e: RiskEvent, f: Features) -> bool:
    return (
        e.amount is not None
        and e.amount < SMALL_AMOUNT
        and f.count_1h >= CARD_TESTING_MIN_COUNT_1H
        and f.amount_sum_1h < SMALL_AMOUNT * f.count_1h
    )


# Most severe first: this is also the order of the reason codes.
RULES: tuple[Rule, ...] = (
    Rule("IMPOSSIBLE_TRAVEL", 0.6, lambda e, f: f.geo_flag),
    Rule("CARD_TESTING", 0.6, _card_testing),
    Rule("NEW_DEVICE_HIGH_AMOUNT", 0.5, lambda e, f: f.new_device_flag),
    Rule("VELOCITY_1M", 0.5, lambda e, f: f.count_1m >= fx.VELOCITY_COUNT_1M),
    Rule("VELOCITY_1H", 0.4, lambda e, f: f.count_1h >= fx.VELOCITY_COUNT_1H),
    Rule("HIGH_AMOUNT", 0.3, lambda e, f: f.high_amount_flag),
    Rule(
        "AMOUNT_SPIKE",
        0.3,
        lambda e, f: f.amount_zscore is not None and f.amount_zscore >= AMOUNT_SPIKE_ZSCORE,
    ),
    Rule("NEW_COUNTRY", 0.15, lambda e, f: f.new_country),
)


def fired_rules(event: RiskEvent, features: Features) -> list[Rule]:
    return [rule for rule in RULES if rule.fires(event, features)]


class RulesScorer:
    model_version = "rules-v1"

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self.thresholds = thresholds or Thresholds()

    def score(self, event: RiskEvent, features: Features) -> Score:
        fired = fired_rules(event, features)
        clean = 1.0
        for rule in fired:
            clean *= 1.0 - rule.weight
        p = 1.0 - clean
        codes = [r.code for r in fired] + missing_reasons(event)
        return Score(p, self.thresholds.band(p), self.model_version, dedupe(codes))

    def score_batch(self, events: Sequence[RiskEvent], features: Sequence[Features]) -> list[Score]:
        return [self.score(e, f) for e, f in zip(events, features, strict=True)]
