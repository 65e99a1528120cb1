"""Outcomes: which label an event gets, and precision and recall per week, model version and band."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from risk.score.model import RISK_BANDS
from risk.warehouse.connection import Warehouse
from risk.warehouse.labels import Label, load_labels
from tests.warehouse.rows import event_row, insert_events

MONDAY = datetime(2026, 11, 2)
REPORTED = datetime(2026, 11, 20, tzinfo=UTC)


def _at(hour: int) -> datetime:
    return MONDAY.replace(hour=hour)


@pytest.fixture
def labelled(warehouse: Warehouse) -> Warehouse:
    insert_events(
        warehouse,
        [
            event_row("h1", "u1", _at(1), 0.9, "high"),  # fraud
            event_row("h2", "u2", _at(2), 0.8, "high"),  # legit: a false positive
            event_row("m1", "u3", _at(3), 0.5, "medium"),  # fraud, through its user's label
            event_row("m2", "u4", _at(4), 0.4, "medium"),  # unlabelled: outcome unknown
            event_row("l1", "u5", _at(5), 0.1, "low"),  # fraud the model missed
            event_row("l2", "u6", _at(6), 0.1, "low"),  # legit
            event_row("x1", "u7", _at(7), 0.9, "high", model_version="lr-2"),  # another model's week
        ],
    )
    load_labels(
        warehouse,
        [
            Label("h1", None, "fraud", "chargeback", REPORTED),
            Label("h2", None, "legit", "analyst", REPORTED),
            Label(None, "u3", "fraud", "analyst", REPORTED),
            Label("l1", None, "fraud", "chargeback", REPORTED),
            Label("l2", None, "legit", "analyst", REPORTED),
            Label("x1", None, "legit", "analyst", REPORTED),
        ],
    )
    return warehouse


def test_bands_rank_low_medium_high_as_the_scorers_name_them(warehouse: Warehouse) -> None:
    with warehouse.transaction():
        rows = warehouse.fetchall("SELECT risk_band FROM risk_bands ORDER BY band_rank")
    assert tuple(r[0] for r in rows) == RISK_BANDS


def test_outcomes_take_the_event_label_else_the_user_label_and_skip_unlabelled_events(labelled: Warehouse) -> None:
    with labelled.transaction():
        rows = labelled.fetchall("SELECT event_id, label, is_fraud FROM v_event_outcomes ORDER BY event_id")
    assert [tuple(r) for r in rows] == [
        ("h1", "fraud", 1), ("h2", "legit", 0), ("l1", "fraud", 1), ("l2", "legit", 0), ("m1", "fraud", 1),
        ("x1", "legit", 0),
    ]  # fmt: skip


def test_a_user_label_does_not_taint_the_users_later_events(warehouse: Warehouse) -> None:
    insert_events(
        warehouse, [event_row("before", "u1", _at(1), 0.5, "medium"), event_row("after", "u1", _at(9), 0.5, "medium")]
    )
    load_labels(warehouse, [Label(None, "u1", "fraud", "analyst", MONDAY.replace(hour=5, tzinfo=UTC))])
    with warehouse.transaction():
        rows = warehouse.fetchall("SELECT event_id FROM v_event_outcomes")
    assert [r[0] for r in rows] == ["before"]


def test_precision_and_recall_per_band_and_at_or_above_it(labelled: Warehouse) -> None:
    with labelled.transaction():
        rows = labelled.fetchall(
            "SELECT risk_band, labelled_events, fraud_events, band_precision, precision_at_or_above, "
            "recall_at_or_above "
            "FROM v_precision_recall_weekly WHERE week = %s AND model_version = 'lr-1' ORDER BY band_rank DESC",
            (MONDAY,),
        )
    assert [tuple(r[:3]) for r in rows] == [("high", 2, 1), ("medium", 1, 1), ("low", 2, 1)]
    # high: 1 fraud of 2 labelled; medium and above: 2 of 3, 2 of the 3 frauds; every band: 3 of 5, all.
    assert [tuple(r[3:]) for r in rows] == [
        pytest.approx((0.5, 0.5, 1 / 3)),
        pytest.approx((1.0, 2 / 3, 2 / 3)),
        pytest.approx((0.5, 3 / 5, 1.0)),
    ]


def test_a_week_without_fraud_has_no_recall_rather_than_a_division_error(labelled: Warehouse) -> None:
    with labelled.transaction():
        row = labelled.fetchone(
            "SELECT band_precision, recall_at_or_above FROM v_precision_recall_weekly WHERE model_version = 'lr-2'"
        )
    assert row == (0.0, None)
