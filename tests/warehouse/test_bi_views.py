"""The BI layer's materialized views (plain views on the stand-in): per-day risk, histogram, flagged."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from risk.warehouse.connection import Warehouse
from risk.warehouse.fx import FxRate, load_rates
from tests.warehouse.rows import event_row, insert_events

DAY = datetime(2026, 11, 3)


def _at(hour: int, minute: int = 0) -> datetime:
    return DAY.replace(hour=hour, minute=minute)


@pytest.fixture
def events(warehouse: Warehouse) -> Warehouse:
    insert_events(
        warehouse,
        [
            event_row("e1", "u1", _at(1), 0.95, "high", merchant_id="m1", country="DE", channel="web",
                      reason_codes=["MISSING_GEO", "IMPOSSIBLE_TRAVEL"]),
            event_row("e2", "u2", _at(1, 30), 0.5, "medium", merchant_id="m1", country="DE", channel="app",
                      reason_codes=["VELOCITY_1M", "COUNT_1M"]),
            event_row("e3", "u3", _at(2), 0.1, "low", merchant_id="m2", country="FR", channel="web"),
            event_row("e4", "u4", _at(2), 1.0, "high", model_version="lr-2", reason_codes=["MISSING_AMOUNT"]),
        ],
    )  # fmt: skip
    return warehouse


def _rows(warehouse: Warehouse, sql: str) -> list[tuple[Any, ...]]:
    with warehouse.transaction():
        return [tuple(r) for r in warehouse.fetchall(sql)]


def test_merchant_risk_per_day_groups_by_the_merchants_hash(events: Warehouse) -> None:
    rows = _rows(
        events,
        "SELECT day, merchant_sha256, events, medium_events, high_events, max_score FROM mv_merchant_risk_daily "
        "ORDER BY events DESC",
    )
    m1, m2 = (hashlib.sha256(m.encode()).hexdigest() for m in ("m1", "m2"))
    assert rows == [(date(2026, 11, 3), m1, 2, 1, 1, 0.95), (date(2026, 11, 3), m2, 1, 0, 0, 0.1)]


def test_country_and_channel_risk_per_day_count_every_event(events: Warehouse) -> None:
    countries = _rows(events, "SELECT country, events, high_events FROM mv_country_risk_daily ORDER BY country")
    channels = _rows(events, "SELECT channel, events, medium_events FROM mv_channel_risk_daily ORDER BY channel")
    assert countries == [("??", 1, 1), ("DE", 2, 1), ("FR", 1, 0)]
    assert channels == [("app", 1, 1), ("unknown", 1, 0), ("web", 2, 0)]


def test_score_histogram_counts_tenth_buckets_per_hour_and_model(events: Warehouse) -> None:
    rows = _rows(events, "SELECT hour, model_version, bucket, events FROM mv_score_histogram_hourly ORDER BY 1, 2, 3")
    assert rows == [
        (_at(1), "lr-1", 5, 1),
        (_at(1), "lr-1", 9, 1),
        (_at(2), "lr-1", 1, 1),
        (_at(2), "lr-2", 9, 1),  # a score of exactly 1.0 is in the top bucket
    ]


def test_flagged_events_per_day_carry_band_rank_and_top_risk_reason_skipping_missing_inputs(events: Warehouse) -> None:
    rows = _rows(
        events, "SELECT day, event_id, risk_band, band_rank, top_reason FROM mv_flagged_events_daily ORDER BY event_id"
    )
    assert rows == [
        (date(2026, 11, 3), "e1", "high", 3, "IMPOSSIBLE_TRAVEL"),
        (date(2026, 11, 3), "e2", "medium", 2, "VELOCITY_1M"),
        (date(2026, 11, 3), "e4", "high", 3, None),  # only a missing input: no risk reason
    ]


@pytest.mark.parametrize(
    "relation",
    ["mv_merchant_risk_daily", "mv_country_risk_daily", "mv_channel_risk_daily", "mv_score_histogram_hourly",
     "mv_flagged_events_daily", "v_precision_recall_weekly", "v_event_reasons", "reason_codes", "fx_rates",
     "v_amounts_daily"],
)  # fmt: skip
def test_bi_reads_the_bi_layer(events: Warehouse, relation: str) -> None:
    events.execute("SET ROLE risk_bi")
    try:
        ((role, count),) = events.fetchall(f"SELECT current_user, COUNT(*) FROM {relation}")
        assert role == "risk_bi" and count >= 0  # read as risk_bi, not refused
    finally:
        events.rollback()


def test_bi_cannot_read_the_labels_behind_the_layer(events: Warehouse) -> None:
    events.execute("SET ROLE risk_bi")
    try:
        with pytest.raises(Exception, match="permission denied"):
            events.execute("SELECT COUNT(*) FROM risk_labels")
    finally:
        events.rollback()


def test_amounts_per_day_and_band_are_in_the_reporting_currency_and_count_what_cannot_convert(
    warehouse: Warehouse,
) -> None:
    insert_events(
        warehouse,
        [
            event_row("a1", "u1", _at(1), 0.9, "high", amount=100, currency="USD"),
            event_row("a2", "u2", _at(2), 0.8, "high", amount=10, currency="EUR"),
            event_row("a3", "u3", _at(3), 0.8, "high", amount=10, currency="JPY"),  # no rate: not summed
            event_row("a4", "u4", _at(4), 0.1, "low"),  # no amount: nothing to convert
        ],
    )
    load_rates(warehouse, [FxRate(date(2026, 11, 1), "USD", "EUR", Decimal("0.9"))])
    rows = _rows(
        warehouse,
        "SELECT day, risk_band, band_rank, reporting_currency, events, amount_reporting, unconverted_events "
        "FROM v_amounts_daily ORDER BY band_rank DESC",
    )
    assert [(*r[:5], float(r[5]) if r[5] is not None else None, r[6]) for r in rows] == [
        (date(2026, 11, 3), "high", 3, "EUR", 3, 100.0, 1),
        (date(2026, 11, 3), "low", 1, None, 1, None, 0),
    ]
