"""The views and the grants, on rows inserted into a migrated database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redshift_connector

from risk.warehouse.connection import Warehouse
from tests.warehouse.rows import event_row, insert_events

NOW = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
HOUR = NOW.replace(minute=0, second=0) - timedelta(hours=3)


@pytest.fixture
def events(warehouse: Warehouse) -> Warehouse:
    insert_events(
        warehouse,
        [
            event_row("e1", "u1", NOW - timedelta(hours=1), 0.9, "high", amount=250, currency="EUR"),
            event_row("e2", "u1", NOW - timedelta(hours=2), 0.5, "medium"),
            event_row("e3", "u1", NOW - timedelta(hours=30), 0.95, "high"),  # flagged, but too old
            event_row("e4", "u2", NOW - timedelta(minutes=5), 0.1, "low"),  # recent, not flagged
            event_row("h1", "u3", HOUR + timedelta(minutes=1), 0.2, "low", model_version="lr-2"),
            event_row("h2", "u3", HOUR + timedelta(minutes=2), 0.8, "high", model_version="lr-2"),
        ],
    )
    return warehouse


def test_flagged_last_24h_lists_recent_medium_and_high_events_with_reasons(events: Warehouse) -> None:
    rows = events.fetchall("SELECT event_id, risk_band, reason_codes FROM v_flagged_last_24h ORDER BY event_id")
    assert [(event_id, band, json.loads(reasons)) for event_id, band, reasons in rows] == [
        ("e1", "high", ["reason_e1"]),
        ("e2", "medium", ["reason_e2"]),
        ("h2", "high", ["reason_h2"]),
    ]


def test_score_distribution_counts_bands_per_hour_and_model_version(events: Warehouse) -> None:
    row = events.fetchone(
        "SELECT events, low_events, medium_events, high_events, mean_score, min_score, max_score "
        "FROM v_score_distribution_hourly WHERE hour = %s AND model_version = %s",
        (HOUR, "lr-2"),
    )
    assert row is not None
    assert row[:4] == (2, 1, 0, 1)
    assert row[4:] == pytest.approx((0.5, 0.2, 0.8))


def test_user_risk_history_keeps_running_figures_in_time_order(events: Warehouse) -> None:
    rows = events.fetchall(
        "SELECT event_id, event_seq, max_score_to_date, high_events_to_date FROM v_user_risk_history "
        "WHERE user_id = %s ORDER BY event_seq",
        ("u1",),
    )
    assert rows == [("e3", 1, 0.95, 1), ("e2", 2, 0.95, 1), ("e1", 3, 0.95, 2)]


def _as_role(warehouse: Warehouse, role: str, sql: str) -> None:
    warehouse.execute(f"SET ROLE {role}")  # for this transaction only: the rollback below resets it
    try:
        warehouse.execute(sql)
    finally:
        warehouse.rollback()


@pytest.mark.parametrize(
    ("role", "sql", "allowed"),
    [
        ("risk_bi", "SELECT COUNT(*) FROM v_flagged_last_24h", True),
        ("risk_bi", "SELECT COUNT(*) FROM risk_events", False),
        ("risk_analyst", "SELECT COUNT(*) FROM risk_events", True),
        ("risk_analyst", "SELECT COUNT(*) FROM v_user_risk_history", True),
        ("risk_analyst", "DELETE FROM risk_events", False),
        ("risk_loader", "INSERT INTO risk_events SELECT * FROM risk_events WHERE 1 = 0", True),
        ("risk_loader", "LOCK risk_events_load_lock", True),
        ("risk_loader", "UPDATE risk_events SET score = score", False),
        ("risk_loader", "DELETE FROM risk_events", False),
        ("risk_loader", "SELECT COUNT(*) FROM v_flagged_last_24h", False),
        ("risk_loader", "SELECT COUNT(*) FROM schema_migrations", False),
    ],
)
def test_roles_reach_only_what_they_are_granted(events: Warehouse, role: str, sql: str, allowed: bool) -> None:
    if allowed:
        _as_role(events, role, sql)
    else:
        with pytest.raises(redshift_connector.ProgrammingError, match="permission denied"):
            _as_role(events, role, sql)
