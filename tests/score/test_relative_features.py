"""Features relative to the user's own behaviour (issue 15), with worked numbers."""

from __future__ import annotations

import pytest

from risk.score import features as fx
from risk.score.state import replay
from tests.score.conftest import event


def test_high_value_count_and_spend_ratio_count_the_hours_large_amounts_for_this_user() -> None:
    # Ten ordinary 20s over ten hours, then three orders of 100, 150 and 200 within 20 minutes.
    ordinary = [event(3_600.0 * k, amount=20.0) for k in range(10)]
    ramp = [event(36_000.0 + 600.0 * k, amount=a) for k, a in enumerate((100.0, 150.0, 200.0))]
    feats, _ = replay([*ordinary, *ramp])
    assert [f.high_value_count_1h for f in feats[:10]] == [0] * 10  # 20 < 100 (no history) then < 60
    first, second, third = feats[10:]
    # High-value from 3x the prior mean: 20 -> 60 (100 counts); 27.27 -> 81.8 (100, 150); then 37.5 -> 112.5
    # (150, 200: the first order is no longer high against a mean it raised).
    assert (first.high_value_count_1h, second.high_value_count_1h, third.high_value_count_1h) == (1, 2, 2)
    assert first.spend_ratio_1h == pytest.approx((20.0 + 100.0) / 20.0)  # the 20 of exactly an hour before counts
    assert third.spend_ratio_1h == pytest.approx(450.0 / 37.5)


def test_a_steady_high_volume_account_is_at_its_usual_rate_and_a_burst_is_not() -> None:
    steady = [event(7.0 * k, user="api", amount=30.0, geo=None) for k in range(1_200)]  # every 7 s, 2 h 20 min
    feats, _ = replay(steady)
    last = feats[-1]
    # The history keeps 1,000 entries, all before this one, over the 7,007 s since the last folded
    # event: 513.8 an hour; 515 in the hour.
    assert last.count_1h == 515
    assert last.velocity_ratio_1h == pytest.approx(515 / (1_000 * 3_600.0 / 7_007.0), rel=1e-9)
    assert last.velocity_ratio_1h < 1.1 and last.velocity_ratio_1m < 1.1

    quiet = [event(7_200.0 * k, user="quiet") for k in range(10)]  # one event every 2 h, 18 h
    burst = [event(72_000.0 + 10.0 * k, user="quiet") for k in range(6)]
    feats, _ = replay([*quiet, *burst])
    # Usual rate: the floor, 1 an hour (14 prior events over 20 h); 6 in the minute is 360 times that.
    assert feats[-1].count_1m == 6
    assert feats[-1].velocity_ratio_1m == pytest.approx(360.0)
    assert feats[-1].velocity_ratio_1h == pytest.approx(6.0)


def test_usual_rate_has_a_floor_span_and_a_floor_rate() -> None:
    assert fx.usual_rate_per_h(0, 0.0) == fx.RATE_FLOOR_PER_H
    assert fx.usual_rate_per_h(10, 60.0) == pytest.approx(10 * 3_600.0 / fx.RATE_MIN_SPAN_S)
    assert fx.usual_rate_per_h(48, fx.WINDOW_24H) == pytest.approx(2.0)


def test_device_and_country_age_count_arrivals_since_first_seen() -> None:
    events = [
        event(0, device="d1", country="FR"),
        event(60, device="d1", country="FR"),
        event(120, device="d2", country="FR"),
        event(180, device="d2", country="DE"),
        event(240, device=None, country=None),
        event(300, device="d1", country="FR"),
    ]
    feats, _ = replay(events)
    assert [f.device_age for f in feats] == [0, 1, 0, 1, None, 5]
    assert [f.country_age for f in feats] == [0, 1, 2, 0, None, 5]
    assert feats[2].new_device and feats[3].new_country
