"""risk_labels: parsing a label, and loading labels idempotently (newer reports replace older ones)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from risk.warehouse.connection import Warehouse
from risk.warehouse.labels import Label, LabelError, load_labels, parse_label
from tests.warehouse.rows import event_row, insert_events

T0 = datetime(2026, 11, 2, 10, 0)


def _label(event_id: str | None, user_id: str | None, label: str, day: int, source: str = "chargeback") -> Label:
    return Label(event_id, user_id, label, source, datetime(2026, 11, day, 12, 0, tzinfo=UTC))


def _labels(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    with warehouse.transaction():
        return warehouse.fetchall(
            "SELECT subject, event_id, user_id, label, source, reported_at FROM risk_labels "
            "ORDER BY subject, event_id, user_id"
        )


@pytest.fixture
def events(warehouse: Warehouse) -> Warehouse:
    insert_events(warehouse, [event_row("e1", "u1", T0, 0.9, "high"), event_row("e2", "u2", T0, 0.1, "low")])
    return warehouse


def test_a_label_on_an_event_finds_its_user_and_loading_it_again_changes_nothing(events: Warehouse) -> None:
    labels = [_label("e1", None, "fraud", 5), _label(None, "u2", "legit", 6, source="analyst")]
    first = load_labels(events, labels)
    rows = _labels(events)
    assert (first.inserted, first.replaced, first.unchanged) == (2, 0, 0)
    assert rows == [
        ("event", "e1", "u1", "fraud", "chargeback", datetime(2026, 11, 5, 12, 0)),
        ("user", None, "u2", "legit", "analyst", datetime(2026, 11, 6, 12, 0)),
    ]
    again = load_labels(events, labels)
    assert (again.inserted, again.replaced, again.unchanged) == (0, 0, 2)
    assert _labels(events) == rows


def test_a_newer_report_from_the_same_source_replaces_the_older_and_an_older_one_is_ignored(events: Warehouse) -> None:
    load_labels(events, [_label("e1", "u1", "fraud", 5)])
    newer = load_labels(events, [_label("e1", "u1", "legit", 9)])
    assert (newer.inserted, newer.replaced) == (1, 1)
    older = load_labels(events, [_label("e1", "u1", "fraud", 3)])
    assert (older.inserted, older.replaced, older.unchanged) == (0, 0, 1)
    another_source = load_labels(events, [_label("e1", "u1", "fraud", 4, source="analyst")])
    assert another_source.inserted == 1
    assert sorted((r[3], r[4]) for r in _labels(events)) == [("fraud", "analyst"), ("legit", "chargeback")]


def test_within_one_input_the_newest_report_of_a_key_wins(events: Warehouse) -> None:
    result = load_labels(events, [_label("e1", None, "legit", 8), _label("e1", None, "fraud", 7)])
    assert (result.given, result.inserted) == (2, 1)
    assert [r[3] for r in _labels(events)] == ["legit"]


def test_a_label_on_an_unknown_event_without_its_user_loads_nothing(events: Warehouse) -> None:
    with pytest.raises(LabelError, match="event nope not in risk_events: give the user_id"):
        load_labels(events, [_label("e1", None, "fraud", 5), _label("nope", None, "fraud", 5)])
    assert _labels(events) == []


def test_labelers_may_replace_labels_but_not_touch_events(events: Warehouse) -> None:
    load_labels(events, [_label("e1", None, "fraud", 5)])
    events.execute("SET ROLE risk_labeler")
    try:
        events.execute("DELETE FROM risk_labels WHERE 1 = 0")
        with pytest.raises(Exception, match="permission denied"):
            events.execute("DELETE FROM risk_events")
    finally:
        events.rollback()


def test_analysts_read_labels_and_write_only_in_their_sandbox(events: Warehouse) -> None:
    events.execute("SET ROLE risk_analyst")
    try:
        events.execute("CREATE TABLE analyst_sandbox.my_sample AS SELECT event_id FROM risk_labels")
        with pytest.raises(Exception, match="permission denied"):
            events.execute("CREATE TABLE public.my_sample (a INTEGER)")
    finally:
        events.rollback()
    events.execute("SET ROLE risk_analyst")
    try:
        with pytest.raises(Exception, match="permission denied"):
            events.execute("DELETE FROM risk_labels")
    finally:
        events.rollback()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"label": "fraud", "source": "chargeback", "reported_at": "2026-11-05T10:00Z"}, "give an event_id"),
        ({"event_id": "e1", "label": "frod", "source": "x", "reported_at": "2026-11-05T10:00Z"}, "label 'frod' is not"),
        (
            {"event_id": "e1", "label": "fraud", "source": "Charge Back", "reported_at": "2026-11-05T10:00Z"},
            "lower_snake",
        ),
        ({"event_id": "e1", "label": "fraud", "source": "chargeback", "reported_at": "2026-11-05"}, "has no offset"),
        ({"event_id": "e1", "label": "fraud", "source": "chargeback", "reported_at": "yesterday"}, "not an ISO time"),
        ({"event_id": "e1", "label": "fraud", "source": "chargeback"}, "reported_at is missing"),
        ({"event_id": 7, "label": "fraud", "source": "chargeback", "reported_at": "2026-11-05T10:00Z"}, "must be text"),
        ({"event_id": "e" * 65, "label": "fraud", "source": "a", "reported_at": "2026-11-05T10:00Z"}, "longer than 64"),
        ({"event_id": "e1", "labels": "fraud"}, "unknown field 'labels'"),
    ],
)
def test_a_bad_label_is_refused_with_where_and_what_to_fix(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(LabelError, match=f"^f.csv line 3: .*{message}"):
        parse_label(doc, "f.csv line 3")
