"""V024: each reason's contribution beside its rank in v_event_reasons; rows without contributions show NULL."""

from __future__ import annotations

from datetime import datetime

from sqlglot import exp

from risk.warehouse.connection import Warehouse
from risk.warehouse.dialect import parse_redshift, split_statements
from tests.conftest import SCHEMA_DIR
from tests.warehouse.rows import event_row, insert_events

T0 = datetime(2026, 11, 2, 10, 0)
V024 = "V024__reason_contributions.sql"


def test_the_redshift_view_unnests_codes_and_contributions_side_by_side_with_partiql_at() -> None:
    view = next(s for s in split_statements((SCHEMA_DIR / V024).read_text()) if s.startswith("CREATE VIEW"))
    tree = parse_redshift(view)
    assert tree is not None
    unnest = [join.this for join in tree.find_all(exp.Join) if isinstance(join.this, exp.AtIndex)]
    assert [(u.this.this.sql(), u.this.alias, u.expression.name) for u in unnest] == [
        ("e.reason_codes", "r", "i"),
        ("e.reason_contributions", "c", "j"),
        ("e.reason_codes", "r", "i"),
    ]
    assert "WHERE i = j" in view and "WHERE e.reason_contributions IS NULL" in view


def _reasons(warehouse: Warehouse) -> list[tuple[object, ...]]:
    with warehouse.transaction():
        rows = warehouse.fetchall(
            "SELECT event_id, reason_rank, reason_code, reason_kind, reason_contribution "
            "FROM v_event_reasons ORDER BY event_id, reason_rank"
        )
    return [tuple(r) for r in rows]


def test_each_risk_reason_has_its_rank_and_the_contribution_at_its_position(warehouse: Warehouse) -> None:
    insert_events(
        warehouse,
        [
            # xgboost-like: a rule (sum of its features' terms), a missing input (null, not ranked), a feature
            event_row(
                "e1", "u1", T0, 0.9, "high",
                reason_codes=["IMPOSSIBLE_TRAVEL", "MISSING_AMOUNT", "COUNT_1H"],
                reason_contributions=[1.25, None, 0.5],
            ),
            # rules-v1: shares of the score (they add up to it)
            event_row(
                "e2", "u2", T0, 0.8, "high",
                reason_codes=["CARD_TESTING", "VELOCITY_1M"], reason_contributions=[0.45, 0.35],
            ),
            event_row("e3", "u3", T0, 0.1, "low", reason_codes=["MISSING_GEO"], reason_contributions=[None]),
        ],
    )  # fmt: skip
    # e1: MISSING_AMOUNT is not ranked, so COUNT_1H is rank 2 with the contribution at position 2, not 1.
    assert _reasons(warehouse) == [
        ("e1", 1, "IMPOSSIBLE_TRAVEL", "rule", 1.25),
        ("e1", 2, "COUNT_1H", "model_feature", 0.5),
        ("e2", 1, "CARD_TESTING", "rule", 0.45),
        ("e2", 2, "VELOCITY_1M", "rule", 0.35),
    ]


def test_a_row_without_contributions_keeps_its_ranked_reasons_with_null_contributions(warehouse: Warehouse) -> None:
    # Loaded before V024, by a SageMaker champion, or sent by an older producer: the loader writes SQL NULL.
    insert_events(
        warehouse,
        [
            event_row("old", "u1", T0, 0.7, "high", reason_codes=["VELOCITY_1H", "MISSING_GEO", "AMOUNT"],
                      reason_contributions=None),
        ],
    )  # fmt: skip
    assert _reasons(warehouse) == [
        ("old", 1, "VELOCITY_1H", "rule", None),
        ("old", 2, "AMOUNT", "model_feature", None),
    ]
