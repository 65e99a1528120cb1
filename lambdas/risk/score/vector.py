"""The numeric feature vector shared by the logistic model, SageMaker and the training script.

One function turns an event and its :class:`Features` into floats, with explicit
defaults for missing inputs, so training and serving cannot disagree on a transform.
"""

from __future__ import annotations

import math

from risk.events.model import RiskEvent
from risk.score.model import Features

BASE_FEATURES: tuple[str, ...] = (  # lr-v1's inputs, in this order
    "log_amount",
    "amount_zscore",
    "log_amount_ratio",
    "small_amount",
    "log_count_1m",
    "log_count_1h",
    "log_count_24h",
    "log_amount_sum_1h",
    "log_speed_kmh",
    "log_distance_km",
    "new_device",
    "new_country",
    "hour_sin",
    "hour_cos",
    "geo_flag",
    "velocity_flag",
    "new_device_flag",
    "high_amount_flag",
    "missing_amount",
    "missing_geo",
)
RELATIVE_FEATURES: tuple[str, ...] = (  # issue 15: relative to the user's own behaviour
    "log_high_value_count_1h",
    "log_spend_ratio_1h",
    "log_velocity_ratio_1m",
    "log_velocity_ratio_1h",
    "log_device_age",
    "log_country_age",
)
# xgb-v2: the gap since the user's previous event (already a Features field): the second payment of a
# burst or the second order of a ramp-up comes seconds or minutes after the first.
TIMING_FEATURES: tuple[str, ...] = ("log_seconds_since_last",)
# What vectorize returns. A model file names the features it uses, a subset of these, in this order.
FEATURE_NAMES: tuple[str, ...] = BASE_FEATURES + RELATIVE_FEATURES + TIMING_FEATURES
# Features that only carry a default when their input is missing: never named as a reason then.
AMOUNT_DERIVED = frozenset({"log_amount", "amount_zscore", "log_amount_ratio", "small_amount"})
GEO_DERIVED = frozenset({"log_speed_kmh", "log_distance_km", "geo_flag"})
# A relative feature whose Features value is None carries a default: never a reason then.
FROM_OPTIONAL: dict[str, str] = {
    "log_high_value_count_1h": "high_value_count_1h",
    "log_spend_ratio_1h": "spend_ratio_1h",
    "log_velocity_ratio_1m": "velocity_ratio_1m",
    "log_velocity_ratio_1h": "velocity_ratio_1h",
    "log_device_age": "device_age",
    "log_country_age": "country_age",
    "log_seconds_since_last": "seconds_since_last",  # None: the user's first event
}
# Indicators (0 or 1): named as a reason only when set, never for being absent.
BINARY = frozenset(
    {
        "small_amount",
        "new_device",
        "new_country",
        "geo_flag",
        "velocity_flag",
        "new_device_flag",
        "high_amount_flag",
        "missing_amount",
        "missing_geo",
    }
)


def reason_code(name: str) -> str:
    """The reason code a feature contributes under: ``log_count_1m`` -> ``COUNT_1M``."""
    if name.startswith("hour_"):
        return "HOUR_OF_DAY"
    return name.removeprefix("log_").upper()


SMALL_AMOUNT = 5.0  # card testing uses tiny payments
ZSCORE_CLIP = 10.0
RATIO_CLIP = 1_000.0
MISSING_AMOUNT = "MISSING_AMOUNT"
MISSING_GEO = "MISSING_GEO"
UNKNOWN_AGE = -1.0  # no device (or country) on the event: below any real log1p(age) >= 0
NO_PREVIOUS = -1.0  # the user's first event: below any real log1p(seconds) >= 0
_TWO_PI_24 = 2.0 * math.pi / 24.0
_log1p = math.log1p


def missing_reasons(event: RiskEvent) -> list[str]:
    """Inputs that were absent and scored with defaults: said in every score's reasons."""
    out = []
    if event.amount is None:
        out.append(MISSING_AMOUNT)
    if event.geo is None:
        out.append(MISSING_GEO)
    return out


def _log_ratio(ratio: float | None) -> float:
    return 0.0 if ratio is None else math.log(max(1.0 / RATIO_CLIP, min(RATIO_CLIP, ratio)))


def _log_age(age: int | None) -> float:
    return UNKNOWN_AGE if age is None else _log1p(age)


def vectorize(event: RiskEvent, f: Features) -> list[float]:
    """Floats in :data:`FEATURE_NAMES` order. Defaults: no amount -> 0 and ratio 1; no geo -> 0 km;
    a relative feature a message from before it did not carry -> its neutral value; no previous event ->
    ``NO_PREVIOUS``."""
    amount = event.amount
    z = f.amount_zscore
    ratio = f.amount_ratio
    hour = f.hour_of_day * _TWO_PI_24
    return [
        0.0 if amount is None else _log1p(amount),
        0.0 if z is None else max(-ZSCORE_CLIP, min(ZSCORE_CLIP, z)),
        _log_ratio(ratio),
        1.0 if amount is not None and amount < SMALL_AMOUNT else 0.0,
        _log1p(f.count_1m),
        _log1p(f.count_1h),
        _log1p(f.count_24h),
        _log1p(f.amount_sum_1h),
        0.0 if f.speed_kmh is None else _log1p(f.speed_kmh),
        0.0 if f.distance_km is None else _log1p(f.distance_km),
        1.0 if f.new_device else 0.0,
        1.0 if f.new_country else 0.0,
        math.sin(hour),
        math.cos(hour),
        1.0 if f.geo_flag else 0.0,
        1.0 if f.velocity_flag else 0.0,
        1.0 if f.new_device_flag else 0.0,
        1.0 if f.high_amount_flag else 0.0,
        1.0 if amount is None else 0.0,
        1.0 if event.geo is None else 0.0,
        _log1p(f.high_value_count_1h or 0),
        _log_ratio(f.spend_ratio_1h),
        _log_ratio(f.velocity_ratio_1m),
        _log_ratio(f.velocity_ratio_1h),
        _log_age(f.device_age),
        _log_age(f.country_age),
        NO_PREVIOUS if f.seconds_since_last is None else _log1p(f.seconds_since_last),
    ]
