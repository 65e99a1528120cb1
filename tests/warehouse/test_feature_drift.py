"""v_feature_drift_daily (V023): the population stability index of each feature per day against the
previous 7 days, checked against PSI values computed by hand on the stand-in."""

from __future__ import annotations

import math
from datetime import datetime

from risk.warehouse.connection import Warehouse
from tests.warehouse.rows import event_row, insert_events

FLOOR = 0.0001  # the share an empty bin counts as (V023)


def _at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 11, day, hour)


def _psi(actual: list[float], expected: list[float]) -> float:
    """PSI by hand, bin by bin, with the view's floor for empty bins."""
    total = 0.0
    for share, reference in zip(actual, expected, strict=True):
        a, e = max(share, FLOOR), max(reference, FLOOR)
        total += (a - e) * math.log(a / e)
    return total


def _drift(warehouse: Warehouse, feature: str) -> dict[str, tuple[int, int, float, str]]:
    rows = warehouse.fetchall(
        "SELECT day, events, reference_events, psi, drift FROM v_feature_drift_daily WHERE feature = %s ORDER BY day",
        [feature],
    )
    return {str(day): (int(n), int(ref), float(psi), drift) for day, n, ref, psi, drift in rows}


def _events(day: int, prefix: str, devices: list[bool], **extra: object) -> list[dict[str, object]]:
    return [
        event_row(f"{prefix}-{i}", f"u-{i}", _at(day, i), 0.1, "low", new_device=d, **extra)
        for i, d in enumerate(devices)
    ]


def test_psi_of_a_shifted_binary_feature_equals_the_hand_computed_value(warehouse: Warehouse) -> None:
    # reference (Nov 10): half new devices; Nov 11: three quarters -> (0.25 ln 1.5) + (0.25 ln 2) = 0.2747
    insert_events(warehouse, _events(10, "r", [True, True, False, False]) + _events(11, "d", [True, True, True, False]))
    drift = _drift(warehouse, "new_device")
    assert list(drift) == ["2026-11-11"]  # Nov 10 has no reference window: no row
    events, reference, psi, label = drift["2026-11-11"]
    assert (events, reference) == (4, 4)
    assert math.isclose(psi, 0.25 * math.log(1.5) + 0.25 * math.log(2), rel_tol=1e-9)
    assert math.isclose(psi, _psi([0.75, 0.25], [0.5, 0.5]), rel_tol=1e-9)
    assert label == "major"


def test_an_unchanged_distribution_has_zero_psi_and_is_stable(warehouse: Warehouse) -> None:
    insert_events(warehouse, _events(10, "r", [True, False]) + _events(11, "d", [True, False]))
    _, _, psi, label = _drift(warehouse, "new_device")["2026-11-11"]
    assert abs(psi) < 1e-12
    assert label == "stable"


def test_a_bin_seen_on_one_side_only_counts_with_the_floor_share(warehouse: Warehouse) -> None:
    # amounts: reference all in [10, 50); the day has one NULL amount (a missing input) of four
    rows = [event_row(f"r-{i}", "u", _at(10, i), 0.1, "low", amount=20) for i in range(4)]
    rows += [event_row(f"d-{i}", "u", _at(11, i), 0.1, "low", amount=20) for i in range(3)]
    rows.append(event_row("d-null", "u", _at(11, 5), 0.1, "low", amount=None))
    insert_events(warehouse, rows)
    _, _, psi, label = _drift(warehouse, "amount")["2026-11-11"]
    # bins (null, [10, 50)): day (0.25, 0.75), reference (0, 1)
    assert math.isclose(psi, _psi([0.25, 0.75], [0.0, 1.0]), rel_tol=1e-9)
    assert label == "major"


def test_the_reference_window_is_the_previous_7_days_only(warehouse: Warehouse) -> None:
    # Nov 1 (10 days before) is outside Nov 11's window; Nov 4 and Nov 10 are inside, the day itself is not
    rows = _events(1, "old", [True] * 6) + _events(4, "w1", [True, False]) + _events(10, "w2", [False, False])
    rows += _events(11, "d", [True, True, False, False])
    insert_events(warehouse, rows)
    events, reference, psi, _ = _drift(warehouse, "new_device")["2026-11-11"]
    assert (events, reference) == (4, 4)
    # reference (Nov 4 + Nov 10): 1 new of 4 -> (0.25, 0.75); the day: (0.5, 0.5)
    assert math.isclose(psi, _psi([0.5, 0.5], [0.25, 0.75]), rel_tol=1e-9)


def test_every_feature_has_a_row_per_day_with_a_reference(warehouse: Warehouse) -> None:
    insert_events(warehouse, _events(10, "r", [True]) + _events(11, "d", [False]))
    features = [f for (f,) in warehouse.fetchall("SELECT DISTINCT feature FROM v_feature_drift_daily ORDER BY 1")]
    assert features == sorted(
        [
            "amount", "amount_ratio", "amount_zscore", "count_1h", "count_24h", "speed_kmh", "seconds_since_last",
            "velocity_ratio_1h", "spend_ratio_1h", "new_device", "new_country", "score",
        ]
    )  # fmt: skip
