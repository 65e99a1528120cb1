"""Worked numbers for every feature primitive."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from risk.events.limits import MAX_AMOUNT, MAX_AMOUNT_SUM
from risk.score import features as fx
from tests.score.conftest import LONDON, PARIS


def test_haversine_matches_a_published_reference_pair() -> None:
    # Nashville BNA -> Los Angeles LAX: 2887.2599506071106 km with R = 6372.8 km (Rosetta Code's
    # haversine task); the distance scales linearly with R.
    expected = 2887.2599506071106 / 6372.8 * fx.EARTH_RADIUS_KM
    assert fx.haversine_km(36.12, -86.67, 33.94, -118.40) == pytest.approx(expected, rel=1e-12)


def test_paris_to_london_against_an_independent_formula() -> None:
    # Spherical law of cosines: a different formula for the same great-circle distance.
    p1, l1, p2, l2 = map(math.radians, (*PARIS, *LONDON))
    expected = fx.EARTH_RADIUS_KM * math.acos(
        math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(l2 - l1)
    )
    d = fx.haversine_km(*PARIS, *LONDON)
    assert d == pytest.approx(expected, rel=1e-9)
    assert d == pytest.approx(343.56, abs=0.05)
    assert fx.haversine_km(*LONDON, *PARIS) == pytest.approx(d, rel=1e-15)
    assert fx.haversine_km(*PARIS, *PARIS) == 0.0


def test_antipodes_are_half_the_circumference() -> None:
    assert fx.haversine_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(math.pi * fx.EARTH_RADIUS_KM, rel=1e-12)


def test_speed() -> None:
    assert fx.speed_kmh(343.56, 1_800.0) == pytest.approx(687.12)
    assert fx.speed_kmh(10.0, 0.0) == fx.SPEED_CAP_KMH  # same instant, two places: impossible, finite
    assert fx.speed_kmh(10.0, -5.0) == fx.SPEED_CAP_KMH
    assert fx.speed_kmh(0.0, 0.0) == 0.0
    assert fx.speed_kmh(20_000.0, 1.0) == fx.SPEED_CAP_KMH


def test_hour_of_day_is_utc() -> None:
    assert fx.hour_of_day(0.0) == 0
    assert fx.hour_of_day(datetime(2026, 3, 1, 13, 59, 59, tzinfo=UTC).timestamp()) == 13
    assert fx.hour_of_day(datetime(2026, 3, 1, 23, 0, tzinfo=UTC).timestamp()) == 23


def test_moments_and_zscore() -> None:
    # Prior amounts 10, 20, 30: mean 20, sample std 10 -> 50 is three deviations above.
    units = [fx.amount_units(a) for a in (10.0, 20.0, 30.0)]
    mean, m2 = fx.moments(3, sum(units), sum(u * u for u in units))
    assert (mean, m2) == (20.0, 200.0)
    assert fx.amount_zscore(50.0, 3, mean, m2) == pytest.approx(3.0)
    assert fx.amount_ratio(50.0, 3, mean) == 2.5
    assert fx.amount_zscore(50.0, 1, mean, m2) is None  # needs two priors
    assert fx.amount_ratio(50.0, 0, 0.0) is None


def test_zscore_has_a_floor_and_a_cap() -> None:
    # A user who always pays 100: the std floor is 5 % of the mean, so 110 is 2 deviations.
    assert fx.amount_zscore(110.0, 5, 100.0, 0.0) == pytest.approx(2.0)
    assert fx.amount_zscore(1e9, 5, 100.0, 0.0) == fx.ZSCORE_CAP


def test_flags() -> None:
    assert fx.is_geo_flag(343.56, 1_000.0)
    assert not fx.is_geo_flag(343.56, 899.0)
    assert not fx.is_geo_flag(5.0, fx.SPEED_CAP_KMH)  # a short jump is noise, whatever the speed
    assert not fx.is_geo_flag(None, None)
    assert fx.is_velocity_flag(5, 5) and fx.is_velocity_flag(1, 30)
    assert not fx.is_velocity_flag(4, 29)
    assert fx.is_high_amount(1_000.0, None)
    assert fx.is_high_amount(150.0, 5.0) and not fx.is_high_amount(50.0, 10.0)
    assert not fx.is_high_amount(None, None)
    assert fx.is_new_device_flag(True, 80.0, 3, 40.0)  # twice the usual
    assert not fx.is_new_device_flag(True, 79.0, 3, 40.0)
    assert not fx.is_new_device_flag(False, 800.0, 3, 40.0)
    assert fx.is_new_device_flag(True, 100.0, 0, 0.0) and not fx.is_new_device_flag(True, 99.0, 0, 0.0)
    assert not fx.is_new_device_flag(True, None, 3, 40.0)


def test_window_sums_saturate_below_the_decimal_20_4_limit() -> None:
    """10^4 events of the maximum amount in 24 h: the sum stays a number the column takes."""
    units = fx.amount_units(MAX_AMOUNT) * 20_000
    assert fx.amount_sum(units) == MAX_AMOUNT_SUM < 1e16
    assert fx.amount_sum(fx.amount_units(129.95)) == 129.95
