"""Explicit rules with reason codes: the transparent baseline and the reasons of every scorer.

Contributions (docs/scoring.md): in ``rules-v1`` a fired rule's contribution is its share of the
score. Rules combine as a noisy OR, ``p = 1 - prod(1 - w)``, so ``-ln(1 - p)`` is the sum of the
rules' ``-ln(1 - w)``; each rule gets ``p`` in proportion to its term, and the shares add up to
``p``. In a model scorer a rule's code is beside the model's score, not a term of it: its
contribution is the model's log-odds contribution of the features the rule tests (``Rule.features``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from risk.events.model import RiskEvent
from risk.score import features as fx
from risk.score.model import Features, Score
from risk.score.scorers.base import Contribution, Thresholds, dedupe_reasons
from risk.score.vector import SMALL_AMOUNT, missing_reasons

CARD_TESTING_MIN_COUNT_1H = 8
AMOUNT_SPIKE_ZSCORE = 4.0


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    weight: float  # probability this rule alone implies; rules combine as a noisy OR
    fires: Callable[[RiskEvent, Features], bool]
    features: tuple[str, ...]  # the vector features (risk.score.vector) whose inputs the rule tests


def _card_testing(e: RiskEvent, f: Features) -> bool:
    return (
        e.amount is not None
        and e.amount < SMALL_AMOUNT
        and f.count_1h >= CARD_TESTING_MIN_COUNT_1H
        and f.amount_sum_1h < SMALL_AMOUNT * f.count_1h
    )


# Most severe first: this is also the order of the reason codes.
RULES: tuple[Rule, ...] = (
    Rule("IMPOSSIBLE_TRAVEL", 0.6, lambda e, f: f.geo_flag, ("geo_flag",)),
    Rule("CARD_TESTING", 0.6, _card_testing, ("small_amount", "log_count_1h", "log_amount_sum_1h")),
    Rule("NEW_DEVICE_HIGH_AMOUNT", 0.5, lambda e, f: f.new_device_flag, ("new_device_flag",)),
    Rule("VELOCITY_1M", 0.5, lambda e, f: f.count_1m >= fx.VELOCITY_COUNT_1M, ("log_count_1m",)),
    Rule("VELOCITY_1H", 0.4, lambda e, f: f.count_1h >= fx.VELOCITY_COUNT_1H, ("log_count_1h",)),
    Rule("HIGH_AMOUNT", 0.3, lambda e, f: f.high_amount_flag, ("high_amount_flag",)),
    Rule(
        "AMOUNT_SPIKE",
        0.3,
        lambda e, f: f.amount_zscore is not None and f.amount_zscore >= AMOUNT_SPIKE_ZSCORE,
        ("amount_zscore",),
    ),
    Rule("NEW_COUNTRY", 0.15, lambda e, f: f.new_country, ("new_country",)),
)


def fired_rules(event: RiskEvent, features: Features) -> list[Rule]:
    return [rule for rule in RULES if rule.fires(event, features)]


class RuleTerms:
    """A model scorer's contribution of each rule: the sum of its model's contributions of the rule's features."""

    def __init__(self, model_features: Sequence[str]) -> None:
        position = {name: k for k, name in enumerate(model_features)}
        self._indices = {r.code: tuple(position[n] for n in r.features if n in position) for r in RULES}

    def of(self, rule: Rule, contrib: Sequence[float]) -> Contribution:
        """None when the model has none of the rule's features (it cannot say what the rule added)."""
        indices = self._indices[rule.code]
        return sum(contrib[k] for k in indices) if indices else None


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
        terms = [-math.log1p(-rule.weight) for rule in fired]  # -ln(1 - w): additive under the noisy OR
        total = sum(terms)
        shares: list[Contribution] = [p * t / total for t in terms] if total > 0.0 else [0.0] * len(fired)
        missing = missing_reasons(event)
        codes, contributions = dedupe_reasons(
            zip([r.code for r in fired] + missing, shares + [None] * len(missing), strict=True)
        )
        return Score(p, self.thresholds.band(p), self.model_version, codes, contributions)

    def score_batch(self, events: Sequence[RiskEvent], features: Sequence[Features]) -> list[Score]:
        return [self.score(e, f) for e, f in zip(events, features, strict=True)]
