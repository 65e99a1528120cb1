"""Extreme but valid events give finite features and scores that fit their columns (no NaN, no overflow)."""

from __future__ import annotations

import math
from dataclasses import fields

from risk.events.limits import MAX_AMOUNT, MAX_AMOUNT_SUM
from risk.score.model import Features
from risk.score.scorers import load_scorer
from risk.score.service import check_finite, score_events
from risk.score.state import MAX_HISTORY
from risk.score.store import InMemoryStateStore
from tests.score.conftest import event

DAY = 86_400.0


def test_extreme_amounts_places_and_times_give_finite_features_and_scores() -> None:
    extremes = [
        event(0, event_id="max-1", amount=MAX_AMOUNT, geo=(90.0, 180.0)),
        event(0, event_id="max-2", amount=MAX_AMOUNT, geo=(-90.0, -180.0)),  # same instant, far away
        event(1, event_id="tiny", amount=1e-300, geo=(0.0, 179.9999)),
        event(2, event_id="zero", amount=0.0, geo=(0.0, -179.9999)),
        event(3, event_id="none", amount=None, geo=None),
        event(-56 * 365 * DAY, event_id="epoch", amount=MAX_AMOUNT),  # 1970, after the rest in arrival order
        event(-25 * 365 * DAY, event_id="backfill", amount=0.01),
        event(4, event_id="max-3", amount=MAX_AMOUNT),
    ]
    extremes += [event(5 + k / 1000, event_id=f"flood-{k}", amount=MAX_AMOUNT) for k in range(200)]
    batch = score_events(InMemoryStateStore(), load_scorer({}), extremes)
    for scored in batch.scored:
        check_finite(scored.to_dict())  # raises on NaN or infinity
        features = scored.features
        for f in fields(Features):
            value = getattr(features, f.name)
            assert not isinstance(value, float) or math.isfinite(value), (scored.event.event_id, f.name, value)
        assert features.amount_sum_24h <= MAX_AMOUNT_SUM < 1e16  # DECIMAL(20, 4)
        assert 0.0 <= scored.score.score <= 1.0


def test_the_24h_sum_stays_within_its_column_under_a_flood_of_maximum_amounts() -> None:
    """More than 10^4 maximum amounts in 24 h. The state's history bound (MAX_HISTORY) already keeps the
    window sum near 10^15; ``fx.amount_sum`` saturates at MAX_AMOUNT_SUM whatever the state does."""
    flood = [event(k, event_id=f"e{k}", amount=MAX_AMOUNT) for k in range(10_050)]
    features = [s.features for s in score_events(InMemoryStateStore(), load_scorer({}), flood).scored]
    assert all(f.amount_sum_24h <= MAX_AMOUNT_SUM for f in features)
    assert features[99].amount_sum_24h == 100 * MAX_AMOUNT  # exact below the cap
    assert max(f.amount_sum_24h for f in features) <= (MAX_HISTORY + 1) * MAX_AMOUNT
