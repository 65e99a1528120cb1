"""docs/analyst-guide.md: every query in it runs on the stand-in and gives the answer its question expects."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from risk.warehouse.connection import Warehouse
from risk.warehouse.fx import FxRate, load_rates
from risk.warehouse.labels import Label, load_labels
from stacks.config import REPO_ROOT
from tests.warehouse.rows import event_row, insert_events

GUIDE = REPO_ROOT / "docs" / "analyst-guide.md"
_SECTION = re.compile(r"^## (.+?)\n(.*?)(?=^## |\Z)", re.S | re.M)
_SQL = re.compile(r"```sql\n(.*?)```", re.S)


def guide_queries() -> list[tuple[str, str]]:
    """(section title, query) for every ```sql block, numbered within its section when it has several."""
    found = []
    for title, body in _SECTION.findall(GUIDE.read_text()):
        blocks = _SQL.findall(body)
        for n, sql in enumerate(blocks, start=1):
            found.append((title if len(blocks) == 1 else f"{title} ({n})", sql.strip().rstrip(";")))
    return found


def _at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour)


REPORTED = datetime(2026, 11, 28, tzinfo=UTC)
EVENTS = [
    event_row("e-high-1", "u-1001", _at(23, 9), 0.95, "high", merchant_id="m-77", country="DE", channel="web",
              amount=120, currency="USD", reason_codes=["IMPOSSIBLE_TRAVEL", "AMOUNT_RATIO"],
              reason_contributions=[1.1, 2.4],
              kinesis_shard_id="shardId-000000000001", kinesis_sequence_number="4960",
              enriched_key="enriched/event_date=2026-11-23/abc.jsonl",
              shadow_scores=[{"model_version": "xgb-v1", "score": 0.6, "risk_band": "medium"}]),
    event_row("e-high-2", "u-2002", _at(23, 10), 0.9, "high", merchant_id="m-77", country="FR", channel="app",
              amount=50, currency="EUR", reason_codes=["CARD_TESTING", "COUNT_1H", "MISSING_GEO"]),
    event_row("e-med-1", "u-1001", _at(23, 11), 0.5, "medium", merchant_id="m-12", country="DE", channel="web",
              reason_codes=["MISSING_AMOUNT", "VELOCITY_1M"]),
    event_row("e-low-1", "u-3003", _at(23, 12), 0.1, "low", country="DE", channel="api", amount=10,
              currency="GBP", reason_codes=["MISSING_GEO"],
              shadow_scores=[{"model_version": "xgb-v1", "score": 0.05, "risk_band": "low"}]),
    event_row("e-low-2", "u-1001", _at(24, 8), 0.05, "low", merchant_id="m-77", channel="web", amount=20,
              currency="USD", reason_codes=[]),
    event_row("e-old", "u-1001", _at(2, 8), 0.2, "low", merchant_id="m-77", amount=5, currency="EUR"),
]  # fmt: skip


@pytest.fixture
def guide_warehouse(warehouse: Warehouse) -> Warehouse:
    insert_events(warehouse, EVENTS)
    load_labels(
        warehouse,
        [
            Label("e-high-1", None, "fraud", "chargeback", REPORTED),
            Label("e-high-2", None, "legit", "analyst", REPORTED),
            Label("e-low-1", None, "legit", "analyst", REPORTED),
        ],
    )
    load_rates(
        warehouse,
        [
            FxRate(date(2026, 11, 20), "USD", "EUR", Decimal("0.9")),
            FxRate(date(2026, 11, 20), "EUR", "EUR", Decimal("1")),
        ],
    )
    return warehouse


def _plain(value: Any) -> Any:
    """Numbers as floats rounded to 6 places (engines differ in NUMERIC scale, not in value)."""
    if isinstance(value, Decimal | float):
        return round(float(value), 6)
    return value


D23, D24 = date(2026, 11, 23), date(2026, 11, 24)
# The answer each question's query gives on the fixture above (worked out by hand, not copied).
EXPECTED: dict[str, list[tuple[Any, ...]]] = {
    "One user's history": [
        (_at(2, 8), "e-old", "payment", 5.0, "EUR", None, "m-77", 0.2, "low", "lr-1", '["reason_e-old"]'),
        (_at(23, 9), "e-high-1", "payment", 120.0, "USD", "DE", "m-77", 0.95, "high", "lr-1",
         '["IMPOSSIBLE_TRAVEL", "AMOUNT_RATIO"]'),
        (_at(23, 11), "e-med-1", "payment", None, None, "DE", "m-12", 0.5, "medium", "lr-1",
         '["MISSING_AMOUNT", "VELOCITY_1M"]'),
        (_at(24, 8), "e-low-2", "payment", 20.0, "USD", None, "m-77", 0.05, "low", "lr-1", "[]"),
    ],
    # e-med-1's first code is a missing input: its top reason is the next one.
    "Yesterday's flagged events by top reason": [
        ("CARD_TESTING", 1, 1), ("IMPOSSIBLE_TRAVEL", 1, 1), ("VELOCITY_1M", 1, 0),
    ],
    "Every reason behind yesterday's high-band events": [
        ("AMOUNT_RATIO", "model_feature", 1, 2.0), ("CARD_TESTING", "rule", 1, 1.0),
        ("COUNT_1H", "model_feature", 1, 2.0), ("IMPOSSIBLE_TRAVEL", "rule", 1, 1.0),
    ],
    # e-high-1's model term of AMOUNT_RATIO (2.4) outweighs the rule ranked first; e-high-2 has no contributions.
    "What drives this alert: reasons by contribution (1)": [
        ("AMOUNT_RATIO", "model_feature", 2, 2.4), ("IMPOSSIBLE_TRAVEL", "rule", 1, 1.1),
    ],
    "What drives this alert: reasons by contribution (2)": [
        ("AMOUNT_RATIO", 1, 1, 2.4), ("IMPOSSIBLE_TRAVEL", 1, 1, 1.1), ("CARD_TESTING", 1, 0, None),
        ("COUNT_1H", 1, 0, None),
    ],
    "A merchant's risk over a month": [
        (date(2026, 11, 2), 1, 0, 0, 0.2, 0.2), (D23, 2, 0, 2, 0.925, 0.95), (D24, 1, 0, 0, 0.05, 0.05),
    ],
    # Labelled: e-high-1 fraud, e-high-2 legit (high); e-low-1 legit (low). No labelled medium event.
    "Precision and recall of alerts, per week": [
        (_at(23, 0), "lr-1", "high", 2, 1, 0.5, 1.0), (_at(23, 0), "lr-1", "low", 1, 0, round(1 / 3, 6), 1.0),
    ],
    "False positives to review": [("e-high-2", _at(23, 10), 0.9, "analyst", "CARD_TESTING")],
    "From an alert to its raw and enriched records": [
        ("e-high-1", _at(23, 9), "shardId-000000000001", "4960", "enriched/event_date=2026-11-23/abc.jsonl"),
    ],
    "Missing inputs per day": [(D23, "MISSING_AMOUNT", 1), (D23, "MISSING_GEO", 2)],
    # 120 USD at 0.9 + 50 EUR; GBP has no rate; e-med-1 has no amount.
    "Amounts in the reporting currency": [
        (D23, "high", "EUR", 158.0, 0), (D23, "low", None, None, 1), (D23, "medium", None, None, 1),
        (D24, "low", "EUR", 18.0, 0),
    ],
    "Did the score distribution shift?": [("lr-1", 1, 1), ("lr-1", 5, 1), ("lr-1", 9, 2)],
    # Nov 24 (e-low-2: 20, score 0.05) against Nov 23 (amounts 120, 50, none, 10; scores in 0.9+, 0.9+, 0.5, 0.1),
    # empty bins at 0.0001: score 0.9999 ln 10^4 + 2 (0.2499 ln 2500) + 0.4999 ln 5000 = 17.378;
    # amount 0.75 ln 4 + 3 (0.2499 ln 2500) = 6.905; every other feature is the same on both days.
    # e-high-1 (high; the shadow says medium: down, out of high) and e-low-1 (both low); no other event has a shadow.
    "Would the shadow model have decided differently?": [("lr-1", "xgb-v1", 2, 50.0, 0, 1, 0, 1, 50.0, 0.0)],
    "Which features drifted?": [("score", 1, 4, 17.378, "major"), ("amount", 1, 4, 6.905, "major")],
    "Country and channel risk yesterday (1)": [("DE", 3, 1, round(1.55 / 3, 6)), ("FR", 1, 1, 0.9)],
    "Country and channel risk yesterday (2)": [("api", 1, 0, 0), ("app", 1, 0, 1), ("web", 2, 1, 1)],
    "A sample of your own, in the sandbox": [("e-high-1",), ("e-high-2",)],
    # event_row's defaults: counts 1, sums 0, optional features NULL, flags false, hour of occurred_at.
    "Labels for training": [
        ("u-1001", "e-high-1", _at(23, 9), 120.0, None, 1, 1, 1, 0.0, 0.0, 0.0, None, None, None, None, None,
         False, False, 9, False, False, False, False, None, None, None, None, None, None, 1),
        ("u-2002", "e-high-2", _at(23, 10), 50.0, None, 1, 1, 1, 0.0, 0.0, 0.0, None, None, None, None, None,
         False, False, 10, False, False, False, False, None, None, None, None, None, None, 0),
        ("u-3003", "e-low-1", _at(23, 12), 10.0, None, 1, 1, 1, 0.0, 0.0, 0.0, None, None, None, None, None,
         False, False, 12, False, False, False, False, None, None, None, None, None, None, 0),
    ],
}  # fmt: skip


def test_the_guide_has_a_query_for_each_expected_answer() -> None:
    assert [title for title, _ in guide_queries()] == list(EXPECTED)


@pytest.mark.parametrize(("title", "sql"), guide_queries(), ids=[title for title, _ in guide_queries()])
def test_every_guide_query_runs_and_answers_its_question(guide_warehouse: Warehouse, title: str, sql: str) -> None:
    with guide_warehouse.transaction():
        if sql.startswith("CREATE TABLE"):
            guide_warehouse.execute(sql)
            rows = guide_warehouse.fetchall("SELECT event_id FROM analyst_sandbox.high_band_sample ORDER BY event_id")
        else:
            rows = guide_warehouse.fetchall(sql)
    assert [tuple(_plain(v) for v in r) for r in rows] == EXPECTED[title]
