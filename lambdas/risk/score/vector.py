"""The numeric feature vector shared by the logistic model, SageMaker and the training script.

One function turns an event and its :class:`Features` into floats, with explicit
defaults for missing inputs, so training and serving cannot disagree on a transform.
"""

from __future__ import annotations

import math

from risk.events.model import RiskEvent
from risk.score.model import Features

FEATURE_NAMES: tuple[str, ...] = (
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
# Features that only carry a default when their input is missing: never named as a reason then.
AMOUNT_DERIVED = frozenset({"log_amount", "amount_zscore", "log_amount_ratio", "small_amount"})
GEO_DERIVED = frozenset({"log_speed_kmh", "log_distance_km", "geo_flag"})
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


def vectorize(event: RiskEvent, f: Features) -> list[float]:
    """Floats in :data:`FEATURE_NAMES` order. Defaults: no amount -> 0 and ratio 1; no geo -> 0 km."""
    amount = event.amount
    z = f.amount_zscore
    ratio = f.amount_ratio
    hour = f.hour_of_day * _TWO_PI_24
    return [
        0.0 if amount is None else _log1p(amount),
        0.0 if z is None else max(-ZSCORE_CLIP, min(ZSCORE_CLIP, z)),
        0.0 if ratio is None else math.log(max(1.0 / RATIO_CLIP, min(RATIO_CLIP, ratio))),
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
    ]
