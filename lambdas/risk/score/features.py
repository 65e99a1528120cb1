"""Pure feature arithmetic: distances, speeds, amount statistics and the flags.

Everything here works on plain floats (epoch seconds, degrees, amounts) so the hot
path allocates little; ``risk.score.state`` decides *which* history an event is
compared with, this module only computes.
"""

from __future__ import annotations

import math

from risk.events.limits import MAX_AMOUNT_SUM
from risk.score.model import IMPOSSIBLE_TRAVEL_KMH

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius
# An implied speed is capped so it stays a finite JSON number: elapsed time 0 with a
# distance above 0 is "teleportation" and gets exactly this value.
SPEED_CAP_KMH = 100_000.0
# Below this distance a jump is GPS / IP-geolocation noise, whatever the speed.
MIN_TRAVEL_KM = 100.0

WINDOW_1M = 60.0
WINDOW_1H = 3_600.0
WINDOW_24H = 86_400.0

VELOCITY_COUNT_1M = 5
VELOCITY_COUNT_1H = 30
HIGH_AMOUNT = 1_000.0  # an amount this large is notable for anyone
HIGH_AMOUNT_RATIO = 5.0  # ... and this many times the user's mean, above NOTABLE_AMOUNT
NOTABLE_AMOUNT = 100.0
NEW_DEVICE_AMOUNT_RATIO = 2.0  # "above the user's typical amount" for the new-device flag
ZSCORE_CAP = 50.0
# Relative features (issue 15): what is high or fast *for this user*.
HIGH_VALUE_RATIO = 3.0  # an amount at least this many times the user's prior mean is high-value for them
HIGH_VALUE_FLOOR = 20.0  # ... and at least this much (a user paying 2 then 6 has not spent much)
HIGH_VALUE_SCAN = 64  # the hour's most recent entries looked at: bounded cost for a high-volume account
RATE_MIN_SPAN_S = 600.0  # a usual rate is measured over at least 10 minutes
RATE_FLOOR_PER_H = 1.0  # nobody's usual rate is taken as below one event an hour


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two points given in degrees."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2.0) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def speed_kmh(distance_km: float, elapsed_s: float) -> float:
    """Implied speed, capped at :data:`SPEED_CAP_KMH`.

    Zero (or negative, for same-instant events) elapsed time with any distance is
    impossible travel and returns the cap; no distance returns 0.
    """
    if distance_km <= 0.0:
        return 0.0
    if elapsed_s <= 0.0:
        return SPEED_CAP_KMH
    return min(distance_km * 3_600.0 / elapsed_s, SPEED_CAP_KMH)


def hour_of_day(ts: float) -> int:
    """UTC hour of an epoch timestamp, without building a datetime."""
    return int(ts // 3_600.0) % 24


AMOUNT_SCALE = 10_000  # amounts are summed as exact integers of 1/10,000: order-independent, no drift


def amount_units(amount: float) -> int:
    return round(amount * AMOUNT_SCALE)


def amount_sum(units: int) -> float:
    """A window's sum of amounts from exact units, saturating at ``MAX_AMOUNT_SUM``.

    The sums are ``DECIMAL(20, 4)`` columns; a user may send more than 10^4 events of the maximum
    amount in 24 h, and one row that overflows would fail its whole load batch. Saturated is honest:
    the sum is at least this much, and any such user is flagged by the amount alone.
    """
    return min(units / AMOUNT_SCALE, MAX_AMOUNT_SUM)


def moments(n: int, total: int, total_sq: int) -> tuple[float, float]:
    """Mean and M2 (sum of squared deviations) of ``n`` amounts from exact integer sums.

    Integer sums are associative, so the result does not depend on the order the amounts
    were added or removed in; that is what makes out-of-order delivery safe here.
    """
    if n == 0:
        return 0.0, 0.0
    return total / n / AMOUNT_SCALE, (n * total_sq - total * total) / n / (AMOUNT_SCALE * AMOUNT_SCALE)


def amount_zscore(amount: float, n: int, mean: float, m2: float) -> float | None:
    """z-score of ``amount`` against ``n`` prior amounts (sample std); None below two priors.

    The standard deviation has a floor (5 % of the mean, at least 1) so a user who always
    pays the same amount does not produce an infinite score; the result is clamped.
    """
    if n < 2:
        return None
    std = math.sqrt(m2 / (n - 1))
    std = max(std, abs(mean) * 0.05, 1.0)
    z = (amount - mean) / std
    return max(-ZSCORE_CAP, min(ZSCORE_CAP, z))


def amount_ratio(amount: float, n: int, mean: float) -> float | None:
    """``amount`` over the mean of prior amounts; None without priors or with a zero mean."""
    if n < 1 or mean <= 0.0:
        return None
    return amount / mean


def is_geo_flag(distance_km: float | None, speed: float | None) -> bool:
    return (
        speed is not None
        and distance_km is not None
        and distance_km >= MIN_TRAVEL_KM
        and (speed > IMPOSSIBLE_TRAVEL_KMH)
    )


def is_velocity_flag(count_1m: int, count_1h: int) -> bool:
    return count_1m >= VELOCITY_COUNT_1M or count_1h >= VELOCITY_COUNT_1H


def is_high_amount(amount: float | None, ratio: float | None) -> bool:
    if amount is None:
        return False
    if amount >= HIGH_AMOUNT:
        return True
    return ratio is not None and amount >= NOTABLE_AMOUNT and ratio >= HIGH_AMOUNT_RATIO


def is_new_device_flag(new_device: bool, amount: float | None, n_prior: int, mean_prior: float) -> bool:
    """A new device together with an amount above the user's typical (or notable, without history)."""
    if not new_device or amount is None:
        return False
    typical = mean_prior if n_prior > 0 else NOTABLE_AMOUNT / NEW_DEVICE_AMOUNT_RATIO
    return amount >= max(typical * NEW_DEVICE_AMOUNT_RATIO, 1.0)


def high_value_threshold(n_prior: int, mean_prior: float) -> float:
    """The amount from which an event is high-value for this user (absolute without history)."""
    if n_prior == 0:
        return NOTABLE_AMOUNT
    return max(HIGH_VALUE_RATIO * mean_prior, HIGH_VALUE_FLOOR)


def usual_rate_per_h(prior: int, span_s: float) -> float:
    """The user's usual events per hour: ``prior`` events over ``span_s`` seconds, with floors.

    A steady API client sending every 7 s has a usual rate of ~500/h, so 500 events in its hour
    are normal for it; a user of a few events a day is at the floor, so a burst stands out.
    """
    return max(prior * 3_600.0 / max(span_s, RATE_MIN_SPAN_S), RATE_FLOOR_PER_H)


def spend_ratio(sum_1h: float, n_prior: int, mean_prior: float) -> float | None:
    """The hour's spend over the user's mean amount; None without prior amounts."""
    if n_prior < 1 or mean_prior <= 0.0:
        return None
    return sum_1h / mean_prior
